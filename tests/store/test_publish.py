"""publish(): the per-unit merge, listings, exact types, the layout and pruning."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import views
from etl.errors import PublishError
from etl.panels import EvalListing, PanelRequest
from etl.schemas import TABLES
from etl.store import publish
from etl.store.writer import StagingWriter

from .storage_scenario import (
    RUN1,
    RUN2_FAILED,
    RUN2_LISTINGS,
    RUN2_OK,
    T0,
    WS,
    publish_run,
    publish_with,
    read_tables,
    run_row,
    stage,
    status_table,
    unit_rows,
    units,
)

State = dict[str, list[dict[str, Any]]]


def by_unit(rows: list[dict[str, Any]], *cols: str) -> dict[tuple[Any, ...], set[str]]:
    """unit key -> the run ids its rows came from."""
    out: dict[tuple[Any, ...], set[str]] = {}
    for row in rows:
        out.setdefault(tuple(row[c] for c in cols), set()).add(row["run_id"])
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, State]:
    """Run 1, then an incremental run 2 (read-only for the tests that use it)."""
    out = tmp_path_factory.mktemp("two_runs")
    publish_run(out, "r1", RUN1)
    publish_run(out, "r2", RUN2_OK, RUN2_FAILED, listings=RUN2_LISTINGS)
    return out, read_tables(out)


def test_first_run_publishes_every_table_even_empty_ones(tmp_path: Path) -> None:
    snapshot = publish_run(tmp_path, "r1", units("e1", confidences=(None,)))
    assert os.readlink(tmp_path / "tables") == f"snapshots/{snapshot.name}/tables"
    for name in TABLES:
        path = tmp_path / "tables" / name / "data.parquet"
        assert path.is_file(), name
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert manifest["run_id"] == "r1"
    assert manifest["rows"] == {n: len(rows) for n, rows in read_tables(tmp_path).items()}
    assert manifest["rows"]["image_predictions"] == 3 and manifest["rows"]["runs"] == 1
    assert manifest["schema_version"] == publish.schema_version()
    assert (tmp_path / "runs" / "r1" / "archive" / "part-00000.parquet").is_file()
    assert not (tmp_path / "staging" / "r1").exists()


def test_zero_row_tables_exist_when_nothing_was_staged(tmp_path: Path) -> None:
    staging = tmp_path / "staging" / "r1"
    publish_with(tmp_path, run_id="r1", staging=staging, ok_units=[], attempted_units=[],
                    panel_status=TABLES["panel_status"].schema.empty_table(),
                    run_row=run_row("r1"), listings=None, keep=3)
    tables = read_tables(tmp_path)
    assert {n: len(r) for n, r in tables.items()} == {n: int(n == "runs") for n in TABLES}
    assert views.query(tmp_path / "evals.duckdb", "select count(*) from eval_overview",
                       "csv") == "count_star()\n0"


def test_incremental_run_replaces_exactly_the_ok_units(two_runs: tuple[Path, State]) -> None:
    _, tables = two_runs
    # image_predictions unit = (eval_id, confidence): e1 NULL refetched, e1 50 not asked,
    # e2 NULL failed after staging a partial page (dropped), e3 new.
    assert by_unit(tables["image_predictions"], "eval_id", "confidence") == {
        ("e1", None): {"r2"}, ("e1", 50): {"r1"}, ("e2", None): {"r1"}, ("e2", 50): {"r1"},
        ("e3", None): {"r2"}, ("e3", 50): {"r2"},
    }
    assert all(r["count"] != 999 for r in tables["image_confusion"])
    assert by_unit(tables["class_metrics"], "eval_id", "split") == {
        ("e1", "test"): {"r2"}, ("e1", "valid"): {"r2"}, ("e2", "test"): {"r1"},
        ("e2", "valid"): {"r1"}, ("e3", "test"): {"r2"}, ("e3", "valid"): {"r2"},
    }
    assert by_unit(tables["split_metrics"], "eval_id") == {
        ("e1",): {"r2"}, ("e2",): {"r1"}, ("e3",): {"r2"}}
    assert Counter(len(v) for v in by_unit(tables["confusion_matrix"], "eval_id", "split",
                                           "confidence").values()) == {1: 6}
    assert len(tables["image_predictions"]) == 6 * 3


def test_panel_status_replaces_attempted_units_and_keeps_the_rest(
        two_runs: tuple[Path, State]) -> None:
    _, tables = two_runs
    status = {(r["eval_id"], r["panel"], r["params"]): (r["state"], r["run_id"])
              for r in tables["panel_status"]}
    assert len(status) == len(tables["panel_status"]) == len(units("e1")) * 3
    assert status[("e2", "image-predictions", "split=all")] == ("error", "r2")
    assert status[("e2", "image-predictions", "split=all&confidence=50")] == ("ok", "r1")
    assert status[("e1", "vector-analysis", "")] == ("ok", "r2")
    assert status[("e1", "vector-analysis", "confidence=50")] == ("ok", "r1")
    assert [r["run_id"] for r in tables["runs"]] == ["r1", "r2"]


def test_no_two_rows_share_a_grain(two_runs: tuple[Path, State]) -> None:
    _, tables = two_runs
    for name, rows in tables.items():
        grains = Counter(tuple(r[c] for c in TABLES[name].grain) for r in rows)
        assert max(grains.values(), default=1) == 1, name


def test_grain_always_contains_the_unit() -> None:
    # What makes "previous rows minus ok units, plus staged rows" duplicate-free.
    for table in TABLES.values():
        assert set(table.unit) <= set(table.grain), table.name


def test_types_are_exactly_the_schema_after_the_merge(two_runs: tuple[Path, State]) -> None:
    out, _ = two_runs
    for name, table in TABLES.items():
        got = pq.read_table(out / "tables" / name / "data.parquet")
        assert got.schema.equals(table.schema), name
        meta = pq.read_metadata(out / "tables" / name / "data.parquet")
        if meta.num_row_groups:  # model_comparison: the scenario has no compare unit
            assert meta.row_group(0).column(0).compression == "ZSTD"
    sample = pq.read_table(out / "tables" / "vector_clusters" / "data.parquet")
    assert sample.schema.field("fetched_at").type == pa.timestamp("ms", tz="UTC")
    assert sample.schema.field("sample_images").type == pa.list_(pa.string())
    assert sample.column("sample_images").to_pylist()[0] == ["img-0.jpg", "b.jpg"]
    assert sample.column("fetched_at").to_pylist()[0] == T0


def test_rows_are_sorted_by_eval_id_then_grain(two_runs: tuple[Path, State]) -> None:
    _, tables = two_runs
    rows = tables["image_predictions"]
    keys = [(r["eval_id"], r["confidence"] is None, r["confidence"] or 0, r["image_id"])
            for r in rows]
    assert keys == sorted(keys)


def test_the_last_staged_row_of_a_grain_wins(tmp_path: Path) -> None:
    request = PanelRequest("e1", "vector-analysis", None, None)
    staging = tmp_path / "staging" / "r1"
    stage(staging, "r1", [request])
    stage_again = tmp_path / "again"
    stage(stage_again, "r1", [request])
    # A second write of the same grains, later in write order, must win.
    rows = pq.read_table(stage_again / "tables" / "vector_analysis").to_pylist()
    (stage_again / "tables" / "vector_analysis" / "part-00000.parquet").rename(
        staging / "tables" / "vector_analysis" / "part-00001.parquet")
    changed = [{**r, "n_clusters": 42} for r in rows]
    pq.write_table(pa.Table.from_pylist(changed, schema=TABLES["vector_analysis"].schema),
                   staging / "tables" / "vector_analysis" / "part-00001.parquet")
    publish_with(tmp_path, run_id="r1", staging=staging, ok_units=[request],
                    attempted_units=[request], panel_status=status_table([request], [], "r1"),
                    run_row=run_row("r1"), listings=None, keep=3)
    assert [r["n_clusters"] for r in read_tables(tmp_path)["vector_analysis"]] == [42]


def test_staged_rows_of_no_recorded_unit_fail_loudly(tmp_path: Path) -> None:
    request = PanelRequest("e1", "confusion-matrix", "test", 50)
    staging = tmp_path / "staging" / "r1"
    stage(staging, "r1", [request])
    recorded = PanelRequest("e1", "confusion-matrix", "valid", 50)  # normalizer/plan mismatch
    with pytest.raises(PublishError, match="match no confusion-matrix unit"):
        publish_with(tmp_path, run_id="r1", staging=staging, ok_units=[recorded],
                        attempted_units=[recorded], panel_status=status_table([recorded], [], "r1"),
                        run_row=run_row("r1"), listings=None, keep=3)
    assert publish.current_snapshot(tmp_path) is None
    assert list((tmp_path / "snapshots").iterdir()) == []  # the half-built snapshot is gone


def test_listings_set_listed_and_overwrite_listing_fields(two_runs: tuple[Path, State]) -> None:
    _, tables = two_runs
    evals = {r["eval_id"]: r for r in tables["evaluations"]}
    assert {k: v["listed"] for k, v in evals.items()} == {"e1": True, "e2": False, "e3": True}
    assert (evals["e1"]["status"], evals["e1"]["project"], evals["e1"]["version_id"]) == (
        "done", "proj", "3")
    assert evals["e1"]["created_at"].isoformat() == "2026-01-02T00:00:00+00:00"
    assert evals["e1"]["map"] == 0.0 and evals["e1"]["run_id"] == "r2"  # the get fields stay
    assert evals["e3"]["model_id"] is None
    assert evals["e3"]["model_url"] == "model_url-0"  # the listing's NULL is not news
    assert evals["e2"]["status"] == "status-0" and evals["e2"]["run_id"] == "r1"


def test_a_listed_eval_without_a_row_gets_one_from_the_listing(tmp_path: Path) -> None:
    listings = [EvalListing("e9", "running", None, "2", "m9", "2026-02-03T04:05:06.789Z",
                            "p/2"),
                EvalListing("e8", "done", "proj", "7", None, None)]
    publish_run(tmp_path, "r1", units("e1", confidences=(None,)), listings=listings)
    evals = {r["eval_id"]: r for r in read_tables(tmp_path)["evaluations"]}
    assert evals["e1"]["listed"] is False
    e9 = evals["e9"]
    assert (e9["workspace"], e9["run_id"], e9["fetched_at"]) == (WS, "r1", T0)
    assert (e9["status"], e9["project"], e9["version_id"], e9["model_id"], e9["model_url"]) == (
        "running", None, "2", "m9", "p/2")
    assert e9["created_at"].isoformat() == "2026-02-03T04:05:06.789000+00:00"
    assert (e9["map"], e9["task_type"], e9["app_url"], e9["listed"]) == (None, None, None, True)
    assert evals["e8"]["app_url"] == "https://app.roboflow.com/ws/proj/evaluation/7"


def test_task_type_is_filled_from_split_metrics_when_null(tmp_path: Path) -> None:
    request = PanelRequest("e1", "get")
    staging = tmp_path / "staging" / "r1"
    stage(staging, "r1", [request, PanelRequest("e1", "map-results")])
    path = staging / "tables" / "evaluations" / "part-00000.parquet"
    rows = pq.read_table(path).to_pylist()
    pq.write_table(pa.Table.from_pylist([{**rows[0], "task_type": None}],
                                        schema=TABLES["evaluations"].schema), path)
    ok = [request, PanelRequest("e1", "map-results")]
    publish_with(tmp_path, run_id="r1", staging=staging, ok_units=ok, attempted_units=ok,
                    panel_status=status_table(ok, [], "r1"), run_row=run_row("r1"),
                    listings=None, keep=3)
    (row,) = read_tables(tmp_path)["evaluations"]
    assert row["task_type"] == "task_type-0"  # split_metrics rows all say task_type-0


def test_previous_state_reads_listing_fields_and_unit_states(two_runs: tuple[Path, State]) -> None:
    out, _ = two_runs
    state = publish.read_previous_state(out)
    assert state is not None
    assert state.evals["e1"] == EvalListing(
        "e1", "done", "proj", "3", "m1", "2026-01-02T00:00:00.000Z", "model_url-0")
    assert state.units[("e2", "image-predictions", "split=all")] == "error"
    assert len(state.units) == len(units("e1")) * 3
    assert publish.read_previous_state(out / "elsewhere") is None


def test_keep_prunes_old_snapshots_and_their_run_archives(tmp_path: Path) -> None:
    for i in range(1, 5):
        publish_run(tmp_path, f"r{i}", units("e1", confidences=(None,)), keep=2)
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        "000003-r3", "000004-r4"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r3", "r4"]
    assert publish.current_snapshot(tmp_path) == tmp_path / "snapshots" / "000004-r4"
    assert [r["run_id"] for r in read_tables(tmp_path)["runs"]] == ["r1", "r2", "r3", "r4"]


def test_views_show_the_new_snapshot(two_runs: tuple[Path, State]) -> None:
    out, _ = two_runs
    current = publish.current_snapshot(out)
    assert current is not None
    got = views.query(out / "evals.duckdb",
                      "select count(*) as n from image_predictions where run_id = 'r2'", "csv")
    assert got == "n\n9"
    assert not list(out.glob(".*"))  # no temp files left


def test_a_replay_rebuilds_units_without_touching_their_status(tmp_path: Path) -> None:
    # export.replay: ok_units = the rebuilt units, attempted_units = only those that failed.
    publish_run(tmp_path, "r1", units("e1", confidences=(None,)))
    rebuilt = PanelRequest("e1", "vector-analysis", None, None)
    broken = PanelRequest("e1", "recommendations")
    staging = tmp_path / "staging" / "replay-r1"
    stage(staging, "r1", [rebuilt])
    publish_with(tmp_path, run_id="r1", staging=staging, ok_units=[rebuilt],
                    attempted_units=[broken], panel_status=status_table([], [broken], "r1"),
                    run_row=TABLES["runs"].schema.empty_table(), listings=None, keep=3)
    tables = read_tables(tmp_path)
    status = {(r["panel"], r["params"]): r["state"] for r in tables["panel_status"]}
    assert status[("vector-analysis", "")] == "ok"
    assert status[("recommendations", "")] == "error"
    assert len(status) == len(units("e1", confidences=(None,)))
    assert len(tables["vector_clusters"]) == 3 and len(tables["runs"]) == 1
    assert len(tables["recommendations"]) == 3  # a failed replay keeps the rows it had
    assert publish.current_snapshot(tmp_path) == tmp_path / "snapshots" / "000002-r1"


def stage_unit(staging: Path, run_id: str, request: PanelRequest, **override: Any) -> None:
    with StagingWriter(staging / "tables") as writer:
        for table, rows in unit_rows(request, run_id, **override).items():
            writer.write(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema))


def publish_staged(out: Path, run_id: str, ok: list[PanelRequest]) -> None:
    publish_with(out, run_id=run_id, staging=out / "staging" / run_id, ok_units=ok,
                    attempted_units=ok, panel_status=status_table(ok, [], run_id),
                    run_row=run_row(run_id), listings=None, keep=3)


def test_fresh_map_results_set_task_type_over_the_previous_row(tmp_path: Path) -> None:
    get, map_results = PanelRequest("e1", "get"), PanelRequest("e1", "map-results")
    publish_run(tmp_path, "r1", [get, map_results])
    assert read_tables(tmp_path)["evaluations"][0]["task_type"] == "task_type-0"
    # r2 refetches map-results only: the evaluations row is r1's, its task_type is not.
    stage_unit(tmp_path / "staging" / "r2", "r2", map_results, task_type="semantic-segmentation")
    publish_staged(tmp_path, "r2", [map_results])
    (row,) = read_tables(tmp_path)["evaluations"]
    assert (row["task_type"], row["run_id"]) == ("semantic-segmentation", "r1")
    # r3 refetches get only (a get row carries no task type): split_metrics still says it.
    stage_unit(tmp_path / "staging" / "r3", "r3", get, task_type=None)
    publish_staged(tmp_path, "r3", [get])
    (row,) = read_tables(tmp_path)["evaluations"]
    assert (row["task_type"], row["run_id"]) == ("semantic-segmentation", "r3")


def test_without_a_listing_evals_keep_their_listed_flag(tmp_path: Path) -> None:
    # r1's listing no longer shows e1; r2's listing is incomplete (None), as in a replay.
    publish_run(tmp_path, "r1", [PanelRequest("e1", "get")],
                listings=[EvalListing("e2", "done", "proj", "2", "m2", None)])
    publish_run(tmp_path, "r2", [PanelRequest("e1", "get"), PanelRequest("e3", "get")])
    evals = {r["eval_id"]: (r["listed"], r["run_id"]) for r in read_tables(tmp_path)["evaluations"]}
    assert evals == {"e1": (False, "r2"), "e2": (True, "r1"), "e3": (True, "r2")}
    # A complete listing is news again, either way.
    publish_run(tmp_path, "r3", [], listings=[EvalListing("e1", "done", "proj", "1", "m1", None)])
    evals = {r["eval_id"]: (r["listed"], r["run_id"]) for r in read_tables(tmp_path)["evaluations"]}
    assert {k: v[0] for k, v in evals.items()} == {"e1": True, "e2": False, "e3": False}


def test_tables_a_run_did_not_touch_are_copied_whole_not_shared_nor_rewritten(
        tmp_path: Path) -> None:
    """A quiet nightly run must not rewrite the big tables it fetched nothing for, and the
    snapshots must not share their files (one write in place would reach them all)."""
    import json

    from etl.store import publish as publish_module
    from tests.support.runs import export, simulator

    out = tmp_path / "out"
    with simulator(seed=3, evals=4, running_rate=0, failed_rate=0, missing_panel_rate=0) as sim:
        export(sim, out)
        first = publish_module.current_snapshot(out)
        export(sim, out)
        second = publish_module.current_snapshot(out)
    assert first is not None and second is not None and first != second
    old = first / "tables" / "image_predictions" / "data.parquet"
    new = second / "tables" / "image_predictions" / "data.parquet"
    assert old.read_bytes() == new.read_bytes()  # carried over byte for byte
    assert old.stat().st_ino != new.stat().st_ino and new.stat().st_nlink == 1
    manifests = [json.loads((p / "manifest.json").read_text()) for p in (first, second)]
    assert manifests[0]["files"]["image_predictions"] == manifests[1]["files"][
        "image_predictions"]
    runs_old = first / "tables" / "runs" / "data.parquet"
    runs_new = second / "tables" / "runs" / "data.parquet"
    assert runs_old.read_bytes() != runs_new.read_bytes()  # the run log does change


def _stage_twice(staging: Path, run_id: str, request: PanelRequest, *, checkpoint: bool) -> None:
    """Stage ``request``'s rows, then the same grains again with other values."""
    with StagingWriter(staging / "tables") as writer:
        for attempt in (1, 2):
            for table, rows in unit_rows(request, run_id).items():
                if table == "image_predictions":
                    rows = [{**r, "augmentations": attempt} for r in rows]
                writer.write(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema))
            if checkpoint:
                writer.checkpoint()  # the second write lands in another part file


@pytest.mark.parametrize("checkpoint", [False, True], ids=["one part", "two parts"])
def test_a_grain_staged_twice_keeps_the_last_write(tmp_path: Path, checkpoint: bool) -> None:
    # The merge first sorts without its dedupe window; a grain staged twice (a unit taken over
    # from a killed run and fetched again) makes it write the table again, last write winning.
    request = units("e1", confidences=(None,))
    staging = tmp_path / "staging" / "r1"
    image_unit = next(r for r in request if r.panel == "image-predictions")
    _stage_twice(staging, "r1", image_unit, checkpoint=checkpoint)
    publish_with(tmp_path, run_id="r1", staging=staging, ok_units=[image_unit],
                 attempted_units=[image_unit], panel_status=status_table([image_unit], [], "r1"),
                 run_row=run_row("r1"), listings=None, keep=3)
    rows = read_tables(tmp_path)["image_predictions"]
    grains = Counter(tuple(r[c] for c in TABLES["image_predictions"].grain) for r in rows)
    assert rows and max(grains.values()) == 1
    assert {r["augmentations"] for r in rows} == {2}
