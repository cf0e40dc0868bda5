"""The exported tables against the simulator's ground truth, computed without the normalizers.

The expectation for every check below is read straight from the simulator's response bodies
(plain dict walking); the export went through HTTP, the crawler, the normalizers and publish.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from etl.schemas import TABLES
from etl.simulator import SimHandle
from tests.support.runs import dataset, export, simulator, table


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimHandle, Path]]:
    out = tmp_path_factory.mktemp("model") / "out"
    with simulator(seed=41, evals=10, semseg_rate=0.4, missing_panel_rate=0.0,
                   images=(30, 120)) as sim:
        export(sim, out, confidences=(None, 50))
        yield sim, out


def _done(sim: SimHandle) -> list:
    return [e for e in sim.workspace.evals if e.status == "done"]


def test_mixed_task_types_are_present(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    types = set(table(out, "split_metrics").column("task_type").to_pylist())
    assert types == {"object-detection-like", "semantic-segmentation"}
    ev = {r["eval_id"]: r["task_type"] for r in table(out, "evaluations").to_pylist()}
    for e in _done(sim):
        assert ev[e.eval_id] == e.task_type


def test_evaluation_summaries_equal_the_get_bodies(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    rows = {r["eval_id"]: r for r in table(out, "evaluations").to_pylist()}
    for e in sim.workspace.evals:
        body = sim.workspace.get_body(e)
        row = rows[e.eval_id]
        assert row["status"] == body["status"] and row["project"] == body["project"]
        assert row["version_id"] == body["versionId"] and row["model_id"] == body["modelId"]
        summary = body.get("summary", {})
        assert row["map"] == summary.get("mAP") and row["miou"] == summary.get("mIoU")
        assert row["precision"] == summary.get("precision")
        assert row["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z") == \
            body["createdAt"]


def test_class_metrics_equal_performance_by_class(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    rows = {(r["eval_id"], r["split"], r["class_name"]): r
            for r in table(out, "class_metrics").to_pylist()}
    expected = 0
    for e in _done(sim):
        for split in ("train", "valid", "test"):
            for c in sim.workspace.panel_body(e, "performance-by-class", split)["classes"]:
                row = rows[(e.eval_id, split, c["className"])]
                assert row["f1"] == c.get("f1") and row["optimal_threshold"] == c["optimalThreshold"]
                assert row["map50"] == c.get("map50") and row["iou"] == c.get("iou")
                expected += 1
    assert len(rows) == expected


def test_sweep_keys_become_fractions(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    sweep = table(out, "confidence_sweep")
    e = _done(sim)[0]
    body = sim.workspace.panel_body(e, "confidence-sweep")
    split, data = next(iter(body["splits"].items()))
    mine = {(r["threshold"]): r["f1"] for r in sweep.to_pylist()
            if r["eval_id"] == e.eval_id and r["split"] == split and r["class_name"] is None}
    assert {float(k): v["f1"] for k, v in data["perThreshold"].items()} == mine
    assert 0.37 in mine  # "0.37" -> 0.37 exactly


def test_confusion_cells_and_recommendation_percent(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    cm = table(out, "confusion_matrix").to_pylist()
    recs = {r["eval_id"]: r for r in table(out, "recommendation_summary").to_pylist()}
    for e in _done(sim):
        for confidence in (None, 50):
            body = sim.workspace.panel_body(e, "confusion-matrix", "test", confidence)
            cells = {(r["actual_idx"], r["predicted_idx"]): r["count"] for r in cm
                     if r["eval_id"] == e.eval_id and r["split"] == "test"
                     and r["confidence"] == confidence}
            assert cells == {(i, j): n for i, row in enumerate(body["matrix"])
                             for j, n in enumerate(row)}
        rec = sim.workspace.panel_body(e, "recommendations")
        if rec["generated"]:
            pct = rec["recommendations"]["summary"]["confidenceThreshold"]
            assert recs[e.eval_id]["confidence_pct"] == pct
            assert math.isclose(recs[e.eval_id]["confidence_threshold"], pct / 100)
        else:
            assert recs[e.eval_id]["generated"] is False


def test_every_image_of_every_variant_is_there_once(exported: tuple[SimHandle, Path]) -> None:
    sim, out = exported
    images = table(out, "image_predictions")
    counts = Counter(zip(images.column("eval_id").to_pylist(),
                         images.column("confidence").to_pylist()))
    assert counts == {(e.eval_id, c): e.n_images for e in _done(sim) for c in (None, 50)}
    e = _done(sim)[0]
    truth = {i["imageId"]: i for i in sim.workspace.iter_images(e, "all", 50)}
    mine = {r["image_id"]: r for r in images.to_pylist()
            if r["eval_id"] == e.eval_id and r["confidence"] == 50}
    assert mine.keys() == truth.keys()
    for image_id, image in list(truth.items())[:50]:
        row = mine[image_id]
        assert row["false_positives"] == image["stats"]["falsePositives"]
        assert row["cluster_id"] == image["cluster"]["id"]
        assert row["embedding_x"] == image["cluster"]["embedding2D"][0]


def test_every_view_has_a_unique_grain(exported: tuple[SimHandle, Path]) -> None:
    _, out = exported
    with duckdb.connect(str(out / "evals.duckdb"), read_only=True) as con:
        for name, t in TABLES.items():
            keys = ", ".join(f'"{c}"' for c in t.grain)
            dupes = con.execute(
                f'select count(*) from (select {keys} from "{name}" group by all '
                "having count(*) > 1)").fetchone()[0]  # type: ignore[index]
            assert dupes == 0, name


def test_a_refetch_with_fewer_classes_shows_only_the_new_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    drop: dict[str, str] = {}

    def fewer(kind: str, eval_id: str, body: dict) -> dict:
        if kind == "performance-by-class" and eval_id in drop:
            body = {**body, "classes": [c for c in body["classes"]
                                        if c["className"] != drop[eval_id]]}
        return body

    with simulator(seed=42, evals=3, running_rate=0, failed_rate=0, missing_panel_rate=0,
                   mutate=fewer) as sim:
        export(sim, out)
        e = sim.workspace.evals[0]
        drop[e.eval_id] = e.classes[0]
        export(sim, out, full_refresh=True)
    names = {r["class_name"] for r in table(out, "class_metrics").to_pylist()
             if r["eval_id"] == e.eval_id}
    assert e.classes[0] not in names and names == set(e.classes[1:])


def test_two_exports_of_one_workspace_are_identical(exported: tuple[SimHandle, Path],
                                                    tmp_path: Path) -> None:
    sim, out = exported
    again = tmp_path / "again"
    export(sim, again, confidences=(None, 50))
    assert dataset(again) == dataset(out)


@pytest.mark.parametrize("seed", [43, 44])
def test_row_counts_equal_the_simulators_ground_truth(tmp_path: Path, seed: int) -> None:
    """Counts per table against the simulator's own ground truth (default export plan)."""
    with simulator(seed=seed, evals=12, semseg_rate=0.3) as sim:
        export(sim, tmp_path / "out")
        truth = sim.workspace.ground_truth()
    got = {name: table(tmp_path / "out", name).num_rows for name in truth["rows"]}
    assert got == truth["rows"]
