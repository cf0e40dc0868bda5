"""``evals-etl replay``: rebuild a run's rows from its raw archive, without calling the API.

When a normalizer is fixed, the units a run fetched can be normalized again from the bodies
it archived and published as a new snapshot, exactly as an export would publish them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from etl import views
from etl.crawl import ledger
from etl.errors import EtlError
from etl.normalize import FetchContext, normalize_body
from etl.panels import VERSION_PANELS, PanelRequest
from etl.progress import Reporter
from etl.schemas import TABLES
from etl.store import publish
from etl.store.archive import read_archive
from etl.store.writer import StagingWriter

Key = tuple[str, str, str]  # (eval_id, panel, params)


def _last_image_passes(archive: Path) -> dict[Key, int]:
    """Where each image-predictions unit's last pass starts (its last offset-0 page).

    A unit restarted because ``totalImages`` changed archived the pages of both passes; only
    the last pass is what the run published.
    """
    starts: dict[Key, int] = {}
    for i, rec in enumerate(read_archive(archive)):
        if rec.panel == "image-predictions" and "offset=0" in rec.query.split("&"):
            request = PanelRequest(rec.eval_id, rec.panel, rec.split, rec.confidence)
            starts[(request.eval_id, request.panel, request.params)] = i
    return starts


def _renormalize(archive: Path, run_id: str, owners: dict[str, str], wanted: set[Key],
                 writer: StagingWriter) -> tuple[dict[Key, PanelRequest], dict[Key, str]]:
    """Stage the rows of every ``wanted`` unit the archive holds; returns units and failures.

    ``owners``: eval id -> workspace, and ``""`` -> the run's first workspace. A version
    unit's workspace is not in the archived query: it is the one whose key the run recorded.
    """
    failed: dict[Key, str] = {}
    units: dict[Key, PanelRequest] = {}
    last_pass = _last_image_passes(archive)
    scopes = sorted(set(owners.values()))
    for i, rec in enumerate(read_archive(archive)):
        request = PanelRequest.from_query(rec.eval_id, rec.panel, rec.split, rec.confidence,
                                          rec.query)
        if request.panel in VERSION_PANELS:
            request = next((r for r in (replace(request, workspace=w) for w in scopes)
                            if (r.eval_id, r.panel, r.params) in wanted), request)
        workspace = request.workspace or owners.get(rec.eval_id, owners.get("", ""))
        key = (request.eval_id, request.panel, request.params)
        if key not in wanted or i < last_pass.get(key, 0):
            continue
        units[key] = request
        try:
            ctx = FetchContext(workspace, run_id, rec.fetched_at, request)
            batches = normalize_body(ctx, rec.body)
        except EtlError as exc:
            failed[key] = str(exc)
            continue
        for table, batch in batches.items():
            if batch.num_rows:
                writer.write(table, batch)
    return units, failed


def _owner(outcome: ledger.Outcome, owners: dict[str, str]) -> str:
    request = outcome.request
    return request.workspace or owners.get(request.eval_id, owners[""])


def replay(out: Path, run_id: str, workspace: str | None, reporter: Reporter,
           keep: int | None = None) -> int:
    """Re-normalize the units a run fetched, from its raw archive, without calling the API.

    Only units that are current and came from ``run_id`` are rebuilt; a unit whose payload no
    longer normalizes becomes ``error`` in ``panel_status``. Returns the number of units rebuilt.
    """
    archive = publish.run_archive(out, run_id)
    if archive is None:
        raise EtlError(f"no archive for run {run_id!r} in {out / 'runs'}")
    with publish.RunLock(out):
        status = publish.read_current(out, "panel_status")
        current = {
            (r["eval_id"], r["panel"], r["params"]): r
            for r in status if r["run_id"] == run_id and r["state"] == "ok"
        }
        ws = workspace or (status[0]["workspace"] if status else "")
        owners = {"": ws, **{r["eval_id"]: r["workspace"] for r in status
                             if r["run_id"] == run_id and r["eval_id"]}}
        staging = out / "staging" / f"replay-{run_id}"
        with StagingWriter(staging / "tables") as writer:
            units, failed = _renormalize(archive, run_id, owners, set(current), writer)
        now = datetime.now(UTC)
        failed_outcomes = [
            ledger.Outcome(units[k], "error", None, "contract_error", msg,
                           current[k]["attempts"], current[k]["requests"])
            for k, msg in failed.items()
        ]
        commit = publish.Commit(
            run_id=run_id, staging=staging,
            ok_units=tuple(u for k, u in units.items() if k not in failed),
            attempted_units=tuple(units[k] for k in failed),
            panel_status=pa.Table.from_batches([
                ledger.outcomes_batch([o for o in failed_outcomes if _owner(o, owners) == w],
                                      w, run_id, now)
                for w in sorted({_owner(o, owners) for o in failed_outcomes} or {ws})]),
            run_row=TABLES["runs"].schema.empty_table(),
            listing=None,
        )
        # A replay adds a snapshot; it must not prune the ones the user chose to keep.
        kept = 1 + sum(p.is_dir() for p in (out / "snapshots").iterdir())
        publish.publish(out, commit, keep=keep or kept, views=views)
        reporter.event("replayed", run_id=run_id, units=len(units), errors=len(failed))
        return len(units)


