"""The whole export against the simulator over real HTTP: completeness, incrementality, codes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pytest

from etl.config import CrawlConfig
from etl.crawl.plan import units_for
from etl.errors import AuthError, LockHeldError
from etl.simulator.truth import comparisons
from etl.store import premerge, publish
from tests.support.runs import content, dataset, export, simulator, table


def test_full_export_accounts_for_every_planned_unit(tmp_path: Path) -> None:
    with simulator(seed=3, evals=30) as sim:
        summary = export(sim, tmp_path / "out")
        evals = sim.workspace.evals
    out = tmp_path / "out"
    assert summary.status in ("success", "partial")
    assert summary.evals_listed == len(evals) == 30
    status = table(out, "panel_status").to_pylist()
    planned = {(u.eval_id, u.panel, u.params) for e in evals for u in units_for(e.eval_id, CrawlConfig())}
    planned |= {("", "compare", f"workspace=acme&project={c['project']}&version={c['version']}")
                for c in comparisons(sim.workspace)}  # one per project version with done evals
    assert {(r["eval_id"], r["panel"], r["params"]) for r in status} == planned
    states = Counter(r["state"] for r in status)
    assert states["ok"] > 0 and set(states) <= {"ok", "not_done", "unavailable", "not_materialized"}
    for e in evals:
        mine = {r["panel"]: r["state"] for r in status if r["eval_id"] == e.eval_id}
        if e.status != "done":
            assert mine["get"] == "ok" and mine["map-results"] == "not_done"
        elif e.missing_panel:
            assert mine[e.missing_panel] == "unavailable"


def test_tables_match_the_simulated_workspace(tmp_path: Path) -> None:
    with simulator(seed=5, evals=12, running_rate=0, failed_rate=0, missing_panel_rate=0) as sim:
        export(sim, tmp_path / "out")
        evals = {e.eval_id: e for e in sim.workspace.evals}
    out = tmp_path / "out"
    images = Counter(table(out, "image_predictions").column("eval_id").to_pylist())
    assert images == {e.eval_id: e.n_images for e in evals.values()}
    cells = Counter(table(out, "confusion_matrix").column("eval_id").to_pylist())
    for eval_id, n in cells.items():
        k = len(evals[eval_id].cm_classes)
        assert n == 3 * k * k  # three splits, every cell including zeros
    ev = table(out, "evaluations")
    assert sorted(ev.column("eval_id").to_pylist()) == sorted(evals)
    assert all(ev.column("listed").to_pylist())
    # Class names arrive byte-exact, odd characters included.
    names = set(table(out, "class_metrics").column("class_name").to_pylist())
    assert names == {c for e in evals.values() for c in e.classes}


def test_the_image_tables_are_merged_while_the_crawl_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(premerge, "MIN_BYTES", 0)  # this workspace's tables are a few kB
    out = tmp_path / "out"
    # Two requests in flight, 10 ms each: the image units go first and the ~170 units after
    # them take about a second, far longer than merging the image tables.
    with simulator(seed=5, evals=12, latency_ms=10) as sim:
        export(sim, out, concurrency=2)
        first = publish.read_manifest(publish.current_snapshot(out))
        full = dataset(out)
        export(sim, out)
        second = publish.read_manifest(publish.current_snapshot(out))
        export(sim, out / "again", concurrency=2, full_refresh=True)
    assert {"image_predictions", "image_confusion"} <= set(first["premerged"])
    assert "evaluations" not in first["premerged"]  # it waits for the merged split_metrics
    assert "premerged" not in second  # an incremental run that fetched none copies them
    assert content(out, "image_predictions") == content(out / "again", "image_predictions")
    assert dataset(out) == full


def test_second_run_is_incremental_and_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=4, evals=20) as sim:
        first = export(sim, out)
        before = dataset(out)
        requests_before = sim.stats.snapshot().requests
        second = export(sim, out)
        second_requests = sim.stats.snapshot().requests - requests_before
    assert second.mode == "incremental"
    # Only the listing and the units that were not ok (running evals' get, missing panels).
    not_ok = sum(v for k, v in first.states.items() if k != "ok")
    assert second_requests <= 1 + first.states.get("unavailable", 0) + not_ok
    assert dataset(out) == before
    runs = table(out, "runs").to_pylist()
    assert [r["mode"] for r in sorted(runs, key=lambda r: r["started_at"])] == ["full", "incremental"]


def test_full_refresh_refetches_and_gives_the_same_dataset(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=4, evals=10) as sim:
        export(sim, out)
        before = dataset(out)
        summary = export(sim, out, full_refresh=True)
    assert summary.mode == "full"
    assert dataset(out) == before
    # No duplicates in any table: the grain is unique.
    assert len(content(out, "image_predictions")) == len(set(content(out, "image_predictions")))


def test_listing_beyond_the_200_cap_is_complete(tmp_path: Path) -> None:
    # 450 evals: the unfiltered and "done" pages are full, so the listing partitions down
    # to project and version (every (version, status) bucket stays under the cap).
    # The one full export of a workspace past the cap (done evals, every panel): the other
    # listing cases below export running evals, whose only unit is their ``get``, because
    # what they check is the listing (tests/crawl/test_listing.py checks it without export).
    with simulator(seed=9, evals=450, projects=4, versions=3, images=(1, 2)) as sim:
        summary = export(sim, tmp_path / "out", splits=("test",), concurrency=16)
        expected = {e.eval_id for e in sim.workspace.evals}
    listed = set(table(tmp_path / "out", "evaluations").column("eval_id").to_pylist())
    assert summary.evals_listed == 450
    assert listed == expected
    assert not summary.warnings


def test_a_partition_full_at_the_finest_level_is_a_recorded_warning(tmp_path: Path) -> None:
    with simulator(seed=1, evals=260, projects=1, versions=1, images=(1, 2),
                   model_id_null_rate=1.0, running_rate=1.0, failed_rate=0) as sim:
        summary = export(sim, tmp_path / "out", splits=("test",), concurrency=16)
    assert 200 <= summary.evals_listed < 260
    assert any("cap" in w for w in summary.warnings)
    assert summary.status == "partial" and summary.exit_code == 3
    # An incomplete listing never marks the unseen evals as gone.
    assert all(table(tmp_path / "out", "evaluations").column("listed").to_pylist())


def test_refused_key_ends_the_run_and_publishes_nothing(tmp_path: Path) -> None:
    with simulator() as sim, pytest.raises(AuthError) as caught:
        export(sim, tmp_path / "out", key="wrong-key")
    assert caught.value.exit_code == 4
    assert "wrong-key" not in str(caught.value)
    assert publish.current_snapshot(tmp_path / "out") is None


def test_a_second_run_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(evals=3) as sim, publish.RunLock(out), pytest.raises(LockHeldError) as caught:
        export(sim, out)
    assert caught.value.exit_code == 5


def test_deadline_publishes_what_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=2, evals=20, latency_ms=30) as sim:
        summary = export(sim, out, deadline_seconds=0.3, concurrency=2)
        assert summary.status == "partial"
        status = table(out, "panel_status")
        stopped = pc.sum(pc.equal(status.column("error_code"), "not_attempted")).as_py()
        assert stopped > 0
        # The next run finishes the work.
        again = export(sim, out)
    assert again.status in ("success", "partial")
    assert "not_attempted" not in table(out, "panel_status").column("error_code").to_pylist()


def test_missing_panels_do_not_spend_the_retry_budget(tmp_path: Path) -> None:
    # Many done evals with a panel that always answers 409, and no budget for outages: a
    # healthy API must still give a partial run, not "the API is down".
    with simulator(seed=6, evals=12, missing_panel_rate=0.5, running_rate=0,
                   failed_rate=0) as sim:
        summary = export(sim, tmp_path / "out", retry_budget=0, not_done_attempts=3)
    assert summary.status == "partial"  # not "failed": no budget was needed
    status = table(tmp_path / "out", "panel_status").to_pylist()
    unavailable = {r["eval_id"] for r in status if r["state"] == "unavailable"}
    assert len(unavailable) == 6
    assert all(r["error_code"] == "model_eval_not_done" for r in status
               if r["state"] == "unavailable")


def test_image_pages_that_hold_fewer_images_than_promised_fail_the_unit(tmp_path: Path) -> None:
    def short_pages(kind: str, eval_id: str, body: dict) -> dict:
        if kind == "image-predictions" and body.get("offset", 0) > 0:
            body = {**body, "images": body["images"][: len(body["images"]) // 2]}
        return body

    with simulator(seed=7, evals=2, images=(50, 60), running_rate=0, failed_rate=0,
                   missing_panel_rate=0, mutate=short_pages) as sim:
        export(sim, tmp_path / "out", image_page_size=10)
    rows = [r for r in table(tmp_path / "out", "panel_status").to_pylist()
            if r["panel"] == "image-predictions"]
    assert rows and all(r["state"] == "error" for r in rows)
    assert all("totalImages" in r["message"] and "promised" in r["message"] for r in rows)
    assert table(tmp_path / "out", "image_predictions").num_rows == 0


def test_evals_without_a_model_id_past_the_cap_are_a_warning_not_a_silent_gap(
    tmp_path: Path,
) -> None:
    # 3 projects share 2 versions: each workspace-wide (version, status) bucket is full, and
    # evals without a modelId in it cannot be reached by any finer filter. All running: one
    # status, as before, and one request per eval instead of a dozen.
    with simulator(seed=12, evals=700, projects=3, versions=2, images=(1, 2), running_rate=1.0,
                   failed_rate=0, deleted_project_rate=0, model_id_null_rate=0.3) as sim:
        summary = export(sim, tmp_path / "out", splits=("test",), concurrency=16)
    assert summary.evals_listed < 700
    assert summary.status == "partial"
    assert any("without a modelId" in w for w in summary.warnings)


def test_work_not_attempted_before_the_deadline_keeps_its_previous_state_and_rows(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=2, evals=20, latency_ms=30) as sim:
        first = export(sim, out)
        before_rows, before_status = dataset(out), {
            (r["eval_id"], r["panel"], r["params"]): r for r in table(out, "panel_status").to_pylist()}
        refresh = export(sim, out, full_refresh=True, deadline_seconds=0.3, concurrency=2)
    assert refresh.states.get("not_attempted", 0) > 0
    assert any("not attempted" in p for p in refresh.problems)
    after = {(r["eval_id"], r["panel"], r["params"]): r
             for r in table(out, "panel_status").to_pylist()}
    assert set(after) == set(before_status)  # every unit still has exactly one row
    kept = [k for k, r in after.items() if r["run_id"] == first.run_id]
    assert len(kept) >= refresh.states["not_attempted"]
    assert all(after[k] == before_status[k] for k in kept)  # untouched, state and all
    assert "not_attempted" not in {r["error_code"] for r in after.values()}
    assert dataset(out) == before_rows  # the old rows of unattempted units are still there
    (run,) = [r for r in table(out, "runs").to_pylist() if r["run_id"] == refresh.run_id]
    assert run["units_not_attempted"] == refresh.states["not_attempted"]
