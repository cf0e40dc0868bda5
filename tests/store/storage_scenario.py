"""Staged runs for the storage tests, built from etl.schemas alone (no simulator, no normalizers).

Every panel unit gets rows in each of its panel's tables: the unit columns come from the
request, the other grain columns vary by row, the lineage says which run wrote them. Also a
command line, so the crash matrix can run a publish in a subprocess:

    python storage_scenario.py OUT STEP     (STEP: run1 or run2)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl import views
from etl.normalize import listing_batch
from etl.panels import EvalListing, PanelRequest
from etl.schemas import TABLES, TABLES_BY_PANEL
from etl.store import publish
from etl.store.archive import ArchivedResponse, ArchiveWriter
from etl.store.writer import StagingWriter

WS = "ws"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS_PER_UNIT = 3


def units(eval_id: str, confidences: Sequence[int | None] = (None, 50)) -> list[PanelRequest]:
    """Every panel unit of one eval, as a planner would make them."""
    plain = ["get", "map-results", "confidence-sweep", "recommendations"]
    out = [PanelRequest(eval_id, p) for p in plain]  # type: ignore[arg-type]
    out += [PanelRequest(eval_id, "performance-by-class", split) for split in ("test", "valid")]
    for conf in confidences:
        out += [PanelRequest(eval_id, "confusion-matrix", "test", conf),
                PanelRequest(eval_id, "vector-analysis", None, conf),
                PanelRequest(eval_id, "image-predictions", "all", conf)]
    return out


def _value(field: pa.Field, i: int) -> Any:
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}"
    if pa.types.is_integer(t):
        return i
    if pa.types.is_floating(t):
        return i / 10
    if pa.types.is_boolean(t):
        return True
    if pa.types.is_timestamp(t):
        return T0 + timedelta(minutes=i)
    if pa.types.is_list(t):
        return [f"img-{i}.jpg", "b.jpg"]
    raise AssertionError(f"no test value for {field}")


def unit_rows(request: PanelRequest, run_id: str,
              **override: Any) -> dict[str, list[dict[str, Any]]]:
    """The rows a successful fetch of ``request`` stages, table by table."""
    out = {}
    for table in TABLES_BY_PANEL[request.panel]:
        n = 1 if set(table.grain) == set(table.unit) else ROWS_PER_UNIT
        rows = []
        for i in range(n):
            row = {f.name: _value(f, i) for f in table.schema}
            row.update(workspace=WS, eval_id=request.eval_id, run_id=run_id, fetched_at=T0)
            row.update({c: getattr(request, c) for c in table.unit
                        if c in ("split", "confidence", "project", "version_id")})
            row.update({k: v for k, v in override.items() if k in row})
            rows.append(row)
        out[table.name] = rows
    return out


def stage(staging: Path, run_id: str, ok: Iterable[PanelRequest],
          partial: Iterable[PanelRequest] = ()) -> None:
    """Stage rows for ``ok`` units, and a first page only for ``partial`` (failed) ones."""
    with StagingWriter(staging / "tables") as writer, \
            ArchiveWriter(staging / "archive") as archive:
        for request in ok:
            for table, rows in unit_rows(request, run_id).items():
                writer.write(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema))
            archive.append(ArchivedResponse(request.eval_id, request.panel, request.split,
                                            request.confidence, request.params, T0, b"{}"))
        for request in partial:
            for table, rows in unit_rows(request, run_id, count=999).items():
                writer.write(table, pa.Table.from_pylist(rows[:1], schema=TABLES[table].schema))


def status_table(ok: Iterable[PanelRequest], failed: Iterable[PanelRequest],
                 run_id: str) -> pa.Table:
    rows = [
        {"workspace": WS, "eval_id": r.eval_id, "run_id": run_id, "fetched_at": T0,
         "panel": r.panel, "params": r.params, "state": state, "http_status": code,
         "error_code": None if state == "ok" else "boom", "message": None,
         "attempts": 1, "requests": 1}
        for state, code, requests in (("ok", 200, ok), ("error", 500, failed))
        for r in requests
    ]
    return pa.Table.from_pylist(rows, schema=TABLES["panel_status"].schema)


def run_row(run_id: str) -> pa.Table:
    row = {"workspace": WS, "run_id": run_id, "fetched_at": T0, "started_at": T0,
           "finished_at": T0, "mode": "full", "status": "success", "evals_listed": 0,
           "evals_exported": 0, "requests": 0, "retries": 0, "errors": 0}
    return pa.Table.from_pylist([row], schema=TABLES["runs"].schema)


def publish_with(out: Path, *, run_id: str, staging: Path, ok_units: Sequence[PanelRequest],
                 attempted_units: Sequence[PanelRequest], panel_status: pa.Table,
                 run_row: pa.Table, listings: list[EvalListing] | None, keep: int) -> Path:
    """``publish.publish`` with a Commit built the way export.run_export builds it."""
    listing = None if listings is None else pa.Table.from_batches(
        [listing_batch(listings, WS, run_id, T0)])
    commit = publish.Commit(run_id, staging, tuple(ok_units), tuple(attempted_units),
                            panel_status, run_row, listing)
    return publish.publish(out, commit, keep=keep, views=views)


def publish_run(out: Path, run_id: str, ok: Sequence[PanelRequest],
                failed: Sequence[PanelRequest] = (), *,
                listings: list[EvalListing] | None = None, keep: int = 3) -> Path:
    """Stage and publish one run the way export.run_export does."""
    staging = out / "staging" / run_id
    stage(staging, run_id, ok, partial=failed)
    return publish_with(
        out, run_id=run_id, staging=staging, ok_units=ok, attempted_units=[*ok, *failed],
        panel_status=status_table(ok, failed, run_id), run_row=run_row(run_id),
        listings=listings, keep=keep)


def read_tables(out: Path) -> dict[str, list[dict[str, Any]]]:
    """The published dataset, as rows, read through the ``tables`` link."""
    return {name: pq.read_table(out / "tables" / name / "data.parquet").to_pylist()
            for name in TABLES}


# The crash matrix's two runs: run2 refetches e1 (default confidence only), fails one unit
# of e2 after staging a partial page, and adds e3.
RUN1 = [*units("e1"), *units("e2")]
RUN2_OK = [*units("e1", confidences=(None,)), *units("e3")]
RUN2_FAILED = [PanelRequest("e2", "image-predictions", "all", None)]
RUN2_LISTINGS = [EvalListing("e1", "done", "proj", "3", "m1", "2026-01-02T00:00:00.000Z"),
                 EvalListing("e3", "done", "proj", "4", None, None)]


def run_step(out: Path, step: str) -> None:
    with publish.RunLock(out):
        publish.recover(out, views)
        if step == "run1":
            publish_run(out, "r1", RUN1)
        else:
            publish_run(out, "r2", RUN2_OK, RUN2_FAILED, listings=RUN2_LISTINGS)


if __name__ == "__main__":
    run_step(Path(sys.argv[1]), sys.argv[2])
