"""One export run, end to end: lock, recover, crawl, stage, publish, views.

This is the orchestration ``evals-etl export`` calls (``evals-etl replay`` is its offline
twin, in :mod:`etl.replay`). It owns no policy of its own: retries live in ``crawl.http``,
planning in ``crawl.plan``, outcome mapping in ``crawl.ledger``, the merge and the atomic
switch in ``store.publish``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl import interrupts, outcomes, views
from etl.config import Config
from etl.crawl import ledger
from etl.crawl.engine import CrawlResult
from etl.crawl.preview import Preview, preview
from etl.crawl.resume import Resumable
from etl.crawl.workspaces import WorkspaceRun, crawl_workspaces
from etl.errors import EXIT_API_DOWN, EXIT_OK, EXIT_PARTIAL, StorageError
from etl.panels import PanelRequest
from etl.progress import Reporter, aggregate
from etl.schemas import TABLES
from etl.staging import RunSink
from etl.store import journal, ownership, publish
from etl.store.merge import Premerged
from etl.store.premerge import Premerge


@dataclass(frozen=True)
class RunSummary:
    """What one run did; the last line a run prints and the ``runs`` row it publishes."""

    run_id: str
    mode: str
    status: str  # success, partial, failed
    evals_listed: int
    evals_exported: int
    requests: int
    retries: int
    states: dict[str, int]
    seconds: float
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    workspaces: tuple[dict[str, Any], ...] = ()  # how each ended (outcomes.endings)

    @property
    def exit_code(self) -> int:
        if self.status == "failed":
            return EXIT_API_DOWN
        return EXIT_PARTIAL if self.status == "partial" else EXIT_OK

    def line(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "nothing to do"
        each = "; ".join(f"{w['workspace']} {w['status']}" + (
            f" ({w['reason']})" if w["status"] in ("refused", "failed") else "")
            for w in self.workspaces) if len(self.workspaces) > 1 else ""
        return (
            f"{self.status}: {self.evals_exported} of {self.evals_listed} evals exported, "
            f"{self.requests} requests ({self.retries} retries), panels: {states}, "
            f"{self.seconds:.1f} s, run {self.run_id}" + (f"; workspaces: {each}" if each else "")
        )


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique across hosts: ``20261124T153000Z-3f9a1c``."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


async def run_export(config: Config, reporter: Reporter) -> RunSummary:
    """Export the workspace into ``config.output.out`` and publish the result atomically."""
    out = config.output.out
    # Whose folder is it: refused (exit 2) before anything is written or any request sent.
    for note in ownership.claim(out, [source.slug for source in config.sources()]):
        reporter.event(note, level="warning")
    with publish.RunLock(out) as lock:
        if lock.note:
            reporter.event(lock.note, level="warning")
        # The `tables` link and the current snapshot's files, before anything relies on them.
        for note in publish.prepare(out, full_refresh=config.full_refresh):
            reporter.event(note, level="warning")
        started = datetime.now(UTC)
        clock = time.monotonic()
        run_id = new_run_id(started)
        staging = out / "staging" / run_id
        resumable, sink = _take_over(out, staging, reporter, crawls=len(config.sources()))
        for note in publish.recover(out, views, keep_staging=run_id):
            reporter.event(note, level="warning")
        current = publish.read_previous_state(out)
        previous = None if config.full_refresh else current
        mode = "incremental" if previous is not None else "full"
        several: dict[str, Any] = {"workspaces": [s.slug for s in config.sources()]} \
            if len(config.sources()) > 1 else {}
        reporter.event("export started", workspace=config.workspace, run_id=run_id, mode=mode,
                       **several)
        # Tables merged while the crawl runs (not when it took over a killed run's rows).
        with _premerge(out, staging, config, enabled=resumable is None) as premerge:
            sink.premerge = premerge
            try:
                runs = await crawl_workspaces(
                    config, sink, run_id=run_id, previous=previous, resumable=resumable,
                    progress=lambda e: reporter.progress(e.units_done, e.units_total,
                                                         e.requests),
                )
            finally:
                reporter.close()
                sink.close()
            result = outcomes.combined(runs)
            owner = outcomes.Owners.of(runs, config.workspace)
            summary = _summarize(result, sink.outcomes, run_id, mode, time.monotonic() - clock,
                                 outcomes.endings(runs, sink.outcomes, owner))
            commit = _commit(run_id, staging, runs, result, owner, sink.outcomes, summary,
                             started, known=set(current.units) if current is not None else set())
            with interrupts.shielded():  # a signal now waits for the switch to finish
                snapshot = _publish(out, commit, config, reporter,
                                    premerge.results() if premerge is not None else {})
        if (stop := interrupts.pending()) is not None:
            # The work is published: the run ends with its own exit code, and says so.
            reporter.event(f"{stop.name} arrived while publishing: snapshot {snapshot.name} "
                           "was published whole, and the run stops here", level="warning",
                           signal=stop.name)
            return summary
        _report_problems(reporter, summary, sink.outcomes)
        return summary


# In JSON mode each panel not ok is its own record with fields a log query can filter on;
# past this many, one record counts the rest (a broken API must not flood the log).
MAX_PANEL_RECORDS = 200


def _report_problems(reporter: Reporter, summary: RunSummary,
                     outcomes: list[ledger.Outcome]) -> None:
    for warning in aggregate(summary.warnings):
        reporter.event(warning, level="warning", event="listing")
    if reporter.fmt != "json":
        for problem in aggregate(summary.problems):
            # "unavailable" and an incomplete listing are retried next run: warnings.
            reporter.event(problem, level="error" if problem.startswith("error") else "warning")
        return
    bad = [o for o in outcomes if o.attempted and o.state in ("error", "unavailable")]
    for o in bad[:MAX_PANEL_RECORDS]:
        reporter.event(o.message or o.state, level="error" if o.state == "error" else "warning",
                       event="panel_not_ok", eval_id=o.request.eval_id, panel=o.request.panel,
                       params=o.request.params, state=o.state, http_status=o.http_status,
                       error_code=o.error_code, attempts=o.attempts)
    if len(bad) > MAX_PANEL_RECORDS:
        reporter.event(f"{len(bad) - MAX_PANEL_RECORDS} more panels not ok (see panel_status)",
                       level="warning", event="panel_not_ok_more",
                       count=len(bad) - MAX_PANEL_RECORDS)
    others = [p for p in summary.problems if not p.startswith(("error: ", "unavailable: "))]
    for problem in aggregate(others):  # listing, not attempted: one line per kind
        reporter.event(problem, level="warning", event="run_problem")


async def dry_run(config: Config) -> Preview:
    """What ``run_export`` would fetch, from list requests alone; writes nothing anywhere."""
    out = config.output.out
    marker = ownership.read_marker(out) if out.is_dir() else None
    if marker is not None:  # refused as a run would refuse it, with the same message
        ownership.check_workspaces(out, marker.owners, [s.slug for s in config.sources()],
                                   "its marker says")
    previous = None if config.full_refresh or not out.is_dir() else \
        publish.read_previous_state(out)
    return await preview(config, previous)


def _premerge(out: Path, staging: Path, config: Config, *,
              enabled: bool) -> AbstractContextManager[Premerge | None]:
    """The run's :class:`Premerge`, merging from the snapshot the publish will merge from."""
    if not enabled:
        return nullcontext()
    previous, published, skip = publish.merge_inputs(out, full_refresh=config.full_refresh)
    return Premerge(previous / publish.LINK if previous is not None else None, staging,
                    published=published, skip=skip)


def _publish(out: Path, commit: publish.Commit, config: Config, reporter: Reporter,
             premerged: Mapping[str, Premerged]) -> Path:
    """Publish; a disk that refuses the new snapshot is a :class:`StorageError` (exit 7)."""
    try:
        return publish.publish(out, commit, keep=config.output.keep, views=views,
                               keep_days=config.output.keep_days,
                               full_refresh=config.full_refresh,
                               on_note=lambda note: reporter.event(note, level="warning"),
                               premerged=premerged)
    except StorageError:
        raise
    except Exception as exc:  # DuckDB's IOException, Arrow's errors, OSError: by their text
        error = StorageError.of(exc, out / "snapshots", "publishing the new snapshot")
        if error is None:
            raise
        raise error from exc


def _take_over(out: Path, staging: Path, reporter: Reporter,
               crawls: int) -> tuple[Resumable | None, RunSink]:
    """This run's sink, with the journaled work of a killed run taken over (if there is one)."""
    snapshot = publish.current_snapshot(out)
    published = publish.read_manifest(snapshot).get("staging") if snapshot else None
    adopted = journal.adopt(out, staging, published=published)
    if adopted is None:
        return None, RunSink(staging, crawls=crawls)
    resumable = Resumable.from_journal(adopted.run_id, adopted.records)
    reporter.event(f"taking over the work of interrupted run {adopted.run_id}: "
                   f"{len(adopted.records)} units staged", run_id=adopted.run_id,
                   units=len(adopted.records))
    return resumable, RunSink(staging, archive_parts=adopted.archive_parts, crawls=crawls)


def _commit(run_id: str, staging: Path, runs: list[WorkspaceRun], result: CrawlResult,
            owner: outcomes.Owners, done: list[ledger.Outcome], summary: RunSummary,
            started: datetime, known: set[tuple[str, str, str]]) -> publish.Commit:
    """What the run publishes. A unit it did not attempt keeps the state it had; only a unit
    with none yet is recorded (as unavailable, not attempted). Only the workspaces whose
    listing was complete say which of their evals are listed; the others keep theirs."""
    finished = datetime.now(UTC)
    recorded = [o for o in done if o.attempted or _key(o.request) not in known]
    listing, listed = outcomes.listing_table(runs, run_id, finished)
    return publish.Commit(
        run_id=run_id,
        staging=staging,
        ok_units=tuple(o.request for o in recorded if o.state == "ok"),
        resumed_units=tuple(o.request for o in recorded
                            if o.state == "ok" and _key(o.request) in result.reused),
        attempted_units=tuple(o.request for o in recorded),
        panel_status=outcomes.panel_status_table(recorded, owner, run_id, finished),
        run_row=_run_row(owner.fallback, summary, started, finished),
        listing=listing,
        listed_workspaces=listed,
    )


def _key(request: PanelRequest) -> tuple[str, str, str]:
    return request.eval_id, request.panel, request.params


def _summarize(
    result: CrawlResult, outcomes: list[ledger.Outcome], run_id: str, mode: str, seconds: float,
    workspaces: tuple[dict[str, Any], ...] = (),
) -> RunSummary:
    states = Counter(o.state if o.attempted else "not_attempted" for o in outcomes)
    problems = [
        f"{o.state}: {o.message}"
        for o in outcomes
        if o.attempted and o.state in ("error", "unavailable")
    ]
    skipped = [o for o in outcomes if not o.attempted]
    if skipped:
        # One line, not one per unit: they keep their previous state and are retried next run.
        problems.append(f"not attempted: {len(skipped)} units ({skipped[0].message}); they "
                        "keep their previous state and are fetched next run")
    if not result.listing_complete:
        # Evals the listing could not reach are missing from this run: say so in its status.
        problems = [f"listing incomplete: {w}" for w in result.warnings] + problems
    if len(workspaces) > 1:  # a workspace that failed alone makes the run partial, not failed
        problems += [f"workspace {w['workspace']!r} {w['status']}: {w['reason']}"
                     for w in workspaces if w["status"] in ("refused", "failed")]
    if result.aborted:
        status = "failed"
        problems.insert(0, f"run stopped early: {result.aborted}")
    else:
        status = "partial" if problems else "success"
    return RunSummary(
        run_id=run_id,
        mode=mode,
        status=status,
        evals_listed=len(result.listings),
        evals_exported=result.evals_exported,
        requests=result.http.requests,
        retries=result.http.retries,
        states={str(state): n for state, n in states.items()},
        seconds=seconds,
        warnings=list(result.warnings),
        problems=problems,
        workspaces=workspaces,
    )


def _run_row(workspace: str, s: RunSummary, started: datetime, finished: datetime) -> pa.Table:
    row = {
        "workspace": workspace, "run_id": s.run_id, "fetched_at": finished,
        "started_at": started, "finished_at": finished, "mode": s.mode, "status": s.status,
        "evals_listed": s.evals_listed, "evals_exported": s.evals_exported,
        "requests": s.requests, "retries": s.retries,
        "errors": s.states.get("error", 0) + s.states.get("unavailable", 0),
        "units_not_attempted": s.states.get("not_attempted", 0),
        "workspaces": [w["workspace"] for w in s.workspaces] or [workspace],
        "workspace_outcomes": json.dumps(list(s.workspaces), ensure_ascii=False),
    }
    return pa.Table.from_pylist([row], schema=TABLES["runs"].schema)
