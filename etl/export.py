"""One export run, end to end: lock, recover, crawl, stage, publish, views.

This is the orchestration ``evals-etl export`` calls (``evals-etl replay`` is its offline
twin, in :mod:`etl.replay`). It owns no policy of its own: retries live in ``crawl.http``,
planning in ``crawl.plan``, outcome mapping in ``crawl.ledger``, the merge and the atomic
switch in ``store.publish``.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from etl import views
from etl.config import Config
from etl.crawl import ledger
from etl.crawl.engine import CrawlResult, crawl
from etl.errors import EXIT_API_DOWN, EXIT_OK, EXIT_PARTIAL
from etl.normalize import FetchContext, listing_batch
from etl.panels import PanelRequest
from etl.progress import Reporter
from etl.schemas import TABLES
from etl.store import publish
from etl.store.archive import ArchivedResponse, ArchiveWriter
from etl.store.writer import StagingWriter, UnitFiles


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

    @property
    def exit_code(self) -> int:
        if self.status == "failed":
            return EXIT_API_DOWN
        return EXIT_PARTIAL if self.status == "partial" else EXIT_OK

    def line(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "nothing to do"
        return (
            f"{self.status}: {self.evals_exported} of {self.evals_listed} evals exported, "
            f"{self.requests} requests ({self.retries} retries), panels: {states}, "
            f"{self.seconds:.1f} s, run {self.run_id}"
        )


class RunSink:
    """Where the crawl delivers: normalized batches to the staging writer, bodies to the archive."""

    def __init__(self, staging: Path) -> None:
        self.writer = StagingWriter(staging / "tables")
        self.archive_writer = ArchiveWriter(staging / "archive.parquet")
        self.outcomes: list[ledger.Outcome] = []

    def emit(self, ctx: FetchContext, batches: dict[str, pa.RecordBatch]) -> None:
        for table, batch in batches.items():
            if batch.num_rows:
                self.writer.write(table, batch)

    def unit(self) -> UnitFiles:
        return self.writer.unit()

    def archive(
        self, request: PanelRequest, query: dict[str, str], fetched_at: datetime, body: bytes
    ) -> None:
        self.archive_writer.append(
            ArchivedResponse(
                eval_id=request.eval_id,
                panel=request.panel,
                split=request.split,
                confidence=request.confidence,
                query="&".join(f"{k}={v}" for k, v in sorted(query.items())),
                fetched_at=fetched_at,
                body=body,
            )
        )

    def record(self, outcome: ledger.Outcome) -> None:
        self.outcomes.append(outcome)

    def close(self) -> None:
        self.writer.close()
        self.archive_writer.close()


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique across hosts: ``20261124T153000Z-3f9a1c``."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


async def run_export(config: Config, reporter: Reporter) -> RunSummary:
    """Export the workspace into ``config.output.out`` and publish the result atomically."""
    out = config.output.out
    out.mkdir(parents=True, exist_ok=True)
    with publish.RunLock(out) as lock:
        if lock.note:
            reporter.event(lock.note, level="warning")
        for note in publish.recover(out, views):
            reporter.event(note, level="warning")
        previous = None if config.full_refresh else publish.read_previous_state(out)
        mode = "incremental" if previous is not None else "full"
        started = datetime.now(UTC)
        clock = time.monotonic()
        run_id = new_run_id(started)
        staging = out / "staging" / run_id
        sink = RunSink(staging)
        reporter.event("export started", workspace=config.workspace, run_id=run_id, mode=mode)
        try:
            result = await crawl(
                config, sink, run_id=run_id, previous=previous,
                progress=lambda e: reporter.progress(e.units_done, e.units_total, e.requests),
            )
        finally:
            reporter.close()
            sink.close()
        summary = _summarize(result, sink.outcomes, run_id, mode, time.monotonic() - clock)
        finished = datetime.now(UTC)
        commit = publish.Commit(
            run_id=run_id,
            staging=staging,
            ok_units=tuple(o.request for o in sink.outcomes if o.state == "ok"),
            attempted_units=tuple(o.request for o in sink.outcomes),
            panel_status=pa.Table.from_batches(
                [ledger.outcomes_batch(sink.outcomes, config.workspace, run_id, finished)]
            ),
            run_row=_run_row(config.workspace, summary, started, finished),
            listing=pa.Table.from_batches([listing_batch(
                result.listings, config.workspace, run_id, finished)])
            if result.listing_complete else None,
        )
        publish.publish(out, commit, keep=config.output.keep, views=views)
        for warning in summary.warnings:
            reporter.event(warning, level="warning")
        for problem in summary.problems[:20]:
            # "unavailable" and an incomplete listing are retried next run: warnings.
            reporter.event(problem, level="error" if problem.startswith("error") else "warning")
        return summary


def _summarize(
    result: CrawlResult, outcomes: list[ledger.Outcome], run_id: str, mode: str, seconds: float
) -> RunSummary:
    states = Counter(o.state for o in outcomes)
    problems = [
        f"{o.state}: {o.message}"
        for o in outcomes
        if o.state in ("error", "unavailable")
    ]
    if not result.listing_complete:
        # Evals the listing could not reach are missing from this run: say so in its status.
        problems = [f"listing incomplete: {w}" for w in result.warnings] + problems
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
    )


def _run_row(workspace: str, s: RunSummary, started: datetime, finished: datetime) -> pa.Table:
    row = {
        "workspace": workspace, "run_id": s.run_id, "fetched_at": finished,
        "started_at": started, "finished_at": finished, "mode": s.mode, "status": s.status,
        "evals_listed": s.evals_listed, "evals_exported": s.evals_exported,
        "requests": s.requests, "retries": s.retries,
        "errors": s.states.get("error", 0) + s.states.get("unavailable", 0),
    }
    return pa.Table.from_pylist([row], schema=TABLES["runs"].schema)
