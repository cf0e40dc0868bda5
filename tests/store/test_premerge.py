"""Premerge: a panel's tables merged before the publish are used only when nothing changed since.

Each test publishes the same two runs into two folders, one with the publish merging every
table, one handing it what :class:`Premerge` merged; the datasets must be equal, and the
premerged file must be the very file published (same inode) or not used at all.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import views
from etl.errors import PublishError
from etl.normalize import listing_batch
from etl.panels import PanelRequest
from etl.schemas import TABLES
from etl.store import layout, publish
from etl.store.merge import Merge, Premerged
from etl.store.premerge import Premerge, panel_tables

from .storage_scenario import (
    RUN1,
    RUN2_FAILED,
    RUN2_LISTINGS,
    RUN2_OK,
    T0,
    WS,
    publish_run,
    read_tables,
    run_row,
    stage,
    status_table,
    unit_rows,
)

IMAGES = "image-predictions"


def _premerge(out: Path, staging: Path, panels: list[str], *, min_bytes: int = 0) -> Premerge:
    previous, published, skip = publish.merge_inputs(out)
    merge = Premerge(previous / publish.LINK if previous is not None else None, staging,
                     published=published, skip=skip, min_bytes=min_bytes)
    ok = [*RUN2_OK]
    attempted = [*RUN2_OK, *RUN2_FAILED]
    for panel in panels:
        merge.panel(panel, [u for u in ok if u.panel == panel],
                    [u for u in attempted if u.panel == panel])
    return merge


def _merged(out: Path, panels: list[str]) -> dict[str, Premerged]:
    """What a premerge of ``panels``, one after the other, hands the publish."""
    with _premerge(out, out / "staging" / "r2", panels) as merge:
        return merge.results(queued=True)


def _publish_run2(out: Path, premerged: dict | None = None) -> Path:
    staging = out / "staging" / "r2"
    listing = pa.Table.from_batches([listing_batch(RUN2_LISTINGS, WS, "r2", T0)])
    commit = publish.Commit("r2", staging, tuple(RUN2_OK), (*RUN2_OK, *RUN2_FAILED),
                            status_table(RUN2_OK, RUN2_FAILED, "r2"), run_row("r2"), listing)
    return publish.publish(out, commit, keep=3, views=views, premerged=premerged)


def _two_folders(tmp_path: Path) -> tuple[Path, Path]:
    plain, early = tmp_path / "plain", tmp_path / "early"
    for out in (plain, early):
        publish_run(out, "r1", RUN1)
        stage(out / "staging" / "r2", "r2", RUN2_OK, partial=RUN2_FAILED)
    return plain, early


def test_premerged_tables_are_published_as_they_were_merged(tmp_path: Path) -> None:
    plain, early = _two_folders(tmp_path)
    _publish_run2(plain)
    panels = [IMAGES, "confusion-matrix", "map-results"]
    ready = _merged(early, panels)
    tables = {t for p in panels for t in panel_tables(p)}
    assert set(ready) == tables
    inodes = {name: p.path.stat().st_ino for name, p in ready.items()}
    snapshot = _publish_run2(early, ready)
    for name in tables:  # moved into place, not merged again
        assert (snapshot / "tables" / name / "data.parquet").stat().st_ino == inodes[name]
    assert read_tables(early) == read_tables(plain)
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert manifest["premerged"] == sorted(tables)


def test_a_table_staged_again_after_its_premerge_is_merged_at_publish(tmp_path: Path) -> None:
    plain, early = _two_folders(tmp_path)
    late = PanelRequest("e3", IMAGES, "all", 90)
    ok = [*RUN2_OK, late]
    ready = _merged(early, [IMAGES])
    assert set(ready) == set(panel_tables(IMAGES))
    for out in (plain, early):  # a unit of the panel staged after the premerge
        for table, rows in unit_rows(late, "r2").items():
            pq.write_table(pa.Table.from_pylist(rows, schema=TABLES[table].schema),
                           out / "staging" / "r2" / "tables" / table / "part-99999.parquet")
    listing = pa.Table.from_batches([listing_batch(RUN2_LISTINGS, WS, "r2", T0)])
    results = {}
    for out, premerged in ((plain, None), (early, ready)):
        commit = publish.Commit("r2", out / "staging" / "r2", tuple(ok),
                                (*ok, *RUN2_FAILED), status_table(ok, RUN2_FAILED, "r2"),
                                run_row("r2"), listing)
        snapshot = publish.publish(out, commit, keep=3, views=views, premerged=premerged)
        results[out] = json.loads((snapshot / "manifest.json").read_text())
        assert any(r["confidence"] == 90 for r in read_tables(out)["image_predictions"])
    assert "premerged" not in results[early]  # the basis changed: merged again
    assert read_tables(early) == read_tables(plain)


def test_a_premerge_that_fails_leaves_the_table_and_its_error_to_the_publish(
        tmp_path: Path) -> None:
    plain, early = _two_folders(tmp_path)
    for out in (plain, early):
        part = out / "staging" / "r2" / "tables" / "image_predictions" / "part-00000.parquet"
        part.write_bytes(b"not parquet")
    assert _merged(early, [IMAGES]) == {}
    errors = []
    for out, premerged in ((plain, None), (early, {})):
        with pytest.raises(PublishError) as caught:
            _publish_run2(out, premerged)
        errors.append(str(caught.value).replace(str(out), "OUT"))
    assert errors[0] == errors[1]


def test_nothing_is_premerged_for_a_panel_without_an_ok_unit(tmp_path: Path) -> None:
    _, early = _two_folders(tmp_path)
    assert _merged(early, ["compare", "get"]) == {}  # compare: no unit ok; get: evaluations waits


@pytest.fixture
def slow_merges(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every merge waits 0.3 s before it starts; the event is set when the first one does."""
    started = threading.Event()
    real = Merge.run

    def slow(self: Merge, *args: object, **kwargs: object) -> dict[str, int]:
        started.set()
        time.sleep(0.3)  # the test acts while this merge is under way, the others queued
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Merge, "run", slow)
    return started


def test_stop_interrupts_the_merge_under_way_and_drops_the_queued_ones(
        tmp_path: Path, slow_merges: threading.Event) -> None:
    _, early = _two_folders(tmp_path)
    merge = _premerge(early, early / "staging" / "r2", [IMAGES, "confusion-matrix"])
    assert slow_merges.wait(5)
    merge.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("evals-etl-premerge")]
    merge.panel("map-results", [u for u in RUN2_OK if u.panel == "map-results"], [])
    assert merge.results() == {}  # the one under way was cancelled, the others never ran


def test_the_publish_waits_for_the_premerge_under_way_and_drops_the_queued_ones(
        tmp_path: Path, slow_merges: threading.Event) -> None:
    _, early = _two_folders(tmp_path)
    with _premerge(early, early / "staging" / "r2", [IMAGES, "confusion-matrix",
                                                      "map-results"]) as merge:
        assert slow_merges.wait(5)
        assert set(merge.results()) == set(panel_tables(IMAGES))


def test_the_orphan_check_runs_again_when_the_publish_records_fewer_units(
        tmp_path: Path) -> None:
    plain, early = _two_folders(tmp_path)
    ready = _merged(early, [IMAGES])  # it recorded the failed unit whose first page is staged
    listing = pa.Table.from_batches([listing_batch(RUN2_LISTINGS, WS, "r2", T0)])
    errors = []
    for out, premerged in ((plain, None), (early, ready)):
        commit = publish.Commit("r2", out / "staging" / "r2", tuple(RUN2_OK), tuple(RUN2_OK),
                                status_table(RUN2_OK, [], "r2"), run_row("r2"), listing)
        with pytest.raises(PublishError, match="match no image-predictions unit") as caught:
            publish.publish(out, commit, keep=3, views=views, premerged=premerged)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_a_staging_folder_with_premerged_files_is_still_evals_etls_own(tmp_path: Path) -> None:
    staging = tmp_path / "staging" / "r2"  # not a run id: judged by its shape alone
    for name in ("premerged/image_predictions/data.parquet", "premerge-tmp/duckdb_temp_1.tmp",
                 "tables/image_predictions/part-00000.parquet", "journal.jsonl"):
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(b"")
    assert layout.own_staging(staging)
    (staging / "premerged" / "image_predictions" / "notes.txt").write_text("mine")
    assert not layout.own_staging(staging)


def test_a_panel_staged_smaller_than_the_floor_is_left_to_the_publish(tmp_path: Path) -> None:
    _, early = _two_folders(tmp_path)
    staged = sum(p.stat().st_size for t in panel_tables(IMAGES)
                 for p in (early / "staging" / "r2" / "tables" / t).glob("*.parquet"))
    for floor, expected in ((staged + 1, set()), (staged, set(panel_tables(IMAGES)))):
        with _premerge(early, early / "staging" / "r2", [IMAGES], min_bytes=floor) as merge:
            assert set(merge.results(queued=True)) == expected
