"""RunSink.panel_done: a panel goes to the premerge once every crawl is done with it, whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl.crawl import ledger
from etl.errors import StorageError
from etl.normalize import FetchContext
from etl.panels import PanelRequest
from etl.schemas import TABLES
from etl.staging import RunSink
from etl.store.writer import staged_files

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Recorder:
    """Stands in for the Premerge: what it was handed, and the staged files it could read."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.calls: list[tuple[str, list[PanelRequest], list[PanelRequest], int]] = []

    def panel(self, panel: str, ok: list[PanelRequest], attempted: list[PanelRequest]) -> None:
        folder = self.staging / "tables" / "split_metrics"
        rows = sum(pq.read_table(p).num_rows for p in staged_files(folder))  # whole by now
        self.calls.append((panel, list(ok), list(attempted), rows))


def _rows(request: PanelRequest) -> dict[str, pa.RecordBatch]:
    schema = TABLES["split_metrics"].schema
    row: dict[str, Any] = {f.name: None for f in schema}
    row.update(workspace="ws", eval_id=request.eval_id, run_id="r1", fetched_at=T0,
               split="test")
    return {"split_metrics": pa.RecordBatch.from_pylist([row], schema=schema)}


def test_a_panel_is_premerged_once_every_crawl_is_done_with_it(tmp_path: Path) -> None:
    sink = RunSink(tmp_path, crawls=2)
    spy = Recorder(tmp_path)
    sink.premerge = spy  # type: ignore[assignment]
    ok, failed = PanelRequest("e1", "map-results"), PanelRequest("e2", "map-results")
    sink.emit(FetchContext("ws", "r1", T0, ok), _rows(ok))
    sink.record(ledger.ok(ok, 1, 1))
    sink.record(ledger.Outcome(failed, "error", 500, "boom", "e2: boom", 1, 1))
    sink.panel_done("map-results")  # the first workspace's crawl
    sink.behind.drain()
    assert spy.calls == []
    sink.panel_done("map-results")  # the second's
    sink.panel_done("compare")
    sink.close()
    assert spy.calls == [("map-results", [ok], [ok, failed], 1)]


def test_a_sink_whose_disk_failed_premerges_nothing(tmp_path: Path) -> None:
    sink = RunSink(tmp_path)
    spy = Recorder(tmp_path)
    sink.premerge = spy  # type: ignore[assignment]
    sink.failed = StorageError.of(OSError(28, "No space left on device"), tmp_path, "staging")
    sink.panel_done("map-results")
    sink.close()
    assert spy.calls == []
