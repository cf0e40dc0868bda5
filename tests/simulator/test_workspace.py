"""The generated workspace and its bodies, without a network: determinism and consistency."""

from __future__ import annotations

import re
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from etl.simulator import SimEval, SimOptions, SimWorkspace, generate
from etl.simulator.common import PANEL_NAMES, SPLITS, THRESHOLD_KEYS
from etl.simulator.workspace import AWKWARD_CLASS

ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def ws() -> SimWorkspace:
    return generate(SimOptions(evals=60, seed=3))


def done(ws: SimWorkspace, task_type: str | None = None) -> list[SimEval]:
    return [ev for ev in ws.evals if ev.status == "done" and ev.missing_panel is None
            and (task_type is None or ev.task_type == task_type)]


def everything(ws: SimWorkspace, ev: SimEval) -> list[Any]:
    bodies: list[Any] = [ws.get_body(ev)]
    if ev.status == "done":
        bodies += [ws.panel_body(ev, p) for p in PANEL_NAMES]
        bodies.append(ws.image_page(ev, "test", 50, 3, 7))
    return bodies


def test_the_seed_decides_everything() -> None:
    a, b = generate(SimOptions(seed=11)), generate(SimOptions(seed=11))
    assert [everything(a, ev) for ev in a.evals] == [everything(b, ev) for ev in b.evals]
    assert a.workspace_body() == b.workspace_body()
    other = generate(SimOptions(seed=12))
    assert {ev.eval_id for ev in other.evals}.isdisjoint(ev.eval_id for ev in a.evals)


def test_rates_are_exact_shares() -> None:
    ws = generate(SimOptions(evals=100, seed=5))
    status = Counter(ev.status for ev in ws.evals)
    assert status == {"running": 10, "failed": 5, "done": 85}
    assert sum(ev.project is None for ev in ws.evals) == 5
    assert sum(ev.model_id is None for ev in ws.evals) == 30
    assert sum(ev.missing_panel is not None for ev in ws.evals) == 3  # round(0.03 * 85)
    assert sum(not ev.recs_generated for ev in ws.evals) == 17
    assert all(ev.status == "done" for ev in ws.evals if ev.missing_panel or not ev.recs_generated)


def test_ids_times_and_order(ws: SimWorkspace) -> None:
    ids = [ev.eval_id for ev in ws.evals]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9]{20}", i) for i in ids)
    created = [ev.created_at for ev in ws.evals]
    assert all(ISO_MS.fullmatch(c) for c in created)
    assert created == sorted(created, reverse=True) and len(set(created)) == len(created)
    assert all(ev.version_id.isdigit() and 1 <= int(ev.version_id) <= 4 for ev in ws.evals)


def test_projects_and_workspace_listing(ws: SimWorkspace) -> None:
    body = ws.workspace_body()["workspace"]
    assert body["url"] == "acme"
    slugs = [p["id"].split("/", 1)[1] for p in body["projects"]]
    assert slugs == [p.slug for p in ws.projects] and len(slugs) == 3
    assert all(p["id"].startswith("acme/") and p["versions"] == 4 for p in body["projects"])
    assert AWKWARD_CLASS in ws.projects[0].classes
    assert all(3 <= len(p.classes) <= 8 for p in ws.projects)
    deleted = [ev for ev in ws.evals if ev.project is None]
    assert deleted and all(ev.project_slug not in slugs for ev in deleted)
    assert all(ev.model_url is None for ev in deleted)


def test_both_task_shapes_by_default(ws: SimWorkspace) -> None:
    semseg, detection = done(ws, "semantic-segmentation"), done(ws, "object-detection-like")
    assert semseg and detection
    split = ws.panel_body(semseg[0], "map-results")["splits"]["test"]
    assert set(split) == {"mIoU", "precision", "recall", "f1", "perClass"}
    assert {"classID", "iou", "optimalThreshold"} <= set(next(iter(split["perClass"].values())))
    split = ws.panel_body(detection[0], "map-results")["splits"]["test"]
    assert set(split) == {"map50", "map50_95", "map75", "byObjectSize", "perClass"}
    assert set(split["byObjectSize"]) == {"small", "medium", "large"}


def test_get_body_and_summary(ws: SimWorkspace) -> None:
    for ev in ws.evals:
        body = ws.get_body(ev)
        assert list(body)[:6] == ["evalId", "status", "project", "versionId", "modelId",
                                  "createdAt"]
        if ev.status != "done":
            assert "summary" not in body
            continue
        summary = body["summary"]
        test = ws.panel_body(ev, "confidence-sweep")["splits"]["test"]
        assert (summary["precision"], summary["recall"]) == (
            test["optimalMetrics"]["precision"], test["optimalMetrics"]["recall"])
        split = ws.panel_body(ev, "map-results")["splits"]["test"]
        if ev.task_type == "semantic-segmentation":
            assert summary["mAP"] is None and summary["mIoU"] == split["mIoU"]
        else:
            assert summary["mIoU"] is None and summary["mAP"] == split["map50"]


@pytest.mark.parametrize("index", range(8))
def test_panels_agree_with_each_other(ws: SimWorkspace, index: int) -> None:
    ev = done(ws)[index]
    sweep = ws.panel_body(ev, "confidence-sweep")["splits"]
    maps = ws.panel_body(ev, "map-results")["splits"]
    assert list(sweep) == list(maps) == ["test", "valid", "train"]
    for split in SPLITS:
        assert list(sweep[split]["perThreshold"]) == list(THRESHOLD_KEYS)
        best = max(sweep[split]["perThreshold"].items(), key=lambda kv: kv[1]["f1"])
        assert sweep[split]["optimalMetrics"]["f1"] == best[1]["f1"]
        by_class = ws.panel_body(ev, "performance-by-class", split)
        assert by_class["split"] == split and by_class["taskType"] == ev.task_type
        assert [c["className"] for c in by_class["classes"]] == list(ev.classes)
        assert list(sweep[split]["perClass"]) == list(maps[split]["perClass"]) == list(ev.classes)
        for row in by_class["classes"]:
            cls = sweep[split]["perClass"][row["className"]]
            assert row["optimalThreshold"] == cls["optimalThreshold"]
            assert row["f1"] == cls["optimalMetrics"]["f1"]
            if ev.task_type == "object-detection-like":
                assert row["map50"] == maps[split]["perClass"][row["className"]]["map50"]
        matrix = ws.panel_body(ev, "confusion-matrix", split)
        assert matrix["classes"] == [*ev.classes, "background"]
        assert len(matrix["matrix"]) == len(ev.classes) + 1
        assert all(len(row) == len(ev.classes) + 1 for row in matrix["matrix"])
    recs = ws.panel_body(ev, "recommendations")
    if recs["generated"]:
        summary = recs["recommendations"]["summary"]
        assert summary["confidenceThreshold"] == round(sweep["test"]["optimalThreshold"] * 100)
        assert isinstance(summary["confidenceThreshold"], int)
        assert summary["count"] == len(recs["recommendations"]["items"])
    else:
        assert recs == {"generated": False}


def test_a_class_without_instances_looks_like_the_docs() -> None:
    ws = generate(SimOptions(evals=80, seed=1, semseg_rate=0.0))
    found = [(ev, row) for ev in done(ws) for split in ["test"]
             for row in ws.panel_body(ev, "performance-by-class", split)["classes"]
             if row["map50"] is None]
    assert found
    ev, row = found[0]
    assert row["precision"] == row["recall"] == row["f1"] == 0 and row["optimalThreshold"] == 0.5
    matrix = ws.panel_body(ev, "confusion-matrix", "test")
    assert not any(matrix["matrix"][ev.classes.index(row["className"])])


def test_confusion_matrix_all_sums_the_splits(ws: SimWorkspace) -> None:
    ev = done(ws)[0]
    parts = [ws.panel_body(ev, "confusion-matrix", s, 50)["matrix"] for s in SPLITS]
    total = ws.panel_body(ev, "confusion-matrix", "all", 50)
    assert total["split"] == "all" and total["confidenceThreshold"] == 0.5
    assert total["matrix"] == [[sum(p[r][c] for p in parts) for c in range(len(parts[0]))]
                               for r in range(len(parts[0]))]


def test_clusters_count_exactly_the_images_that_name_them(ws: SimWorkspace) -> None:
    ev = done(ws)[1]
    body = ws.panel_body(ev, "vector-analysis")
    images = list(ws.iter_images(ev, "all", 20))
    seen = Counter((im["cluster"]["id"], im["split"]) for im in images)
    clusters = body["clusters"]
    assert clusters[0]["id"] == -1 and [c["id"] for c in clusters[1:]] == list(
        range(body["clustering"]["nClusters"]))
    for cluster in clusters:
        expected = {s: seen[(cluster["id"], s)] for s in SPLITS if seen[(cluster["id"], s)]}
        assert cluster["splitDistribution"] == expected  # zero splits are omitted
        assert cluster["numImages"] == sum(expected.values()) > 0
        names = {im["imageName"] for im in images if im["cluster"]["id"] == cluster["id"]}
        assert cluster["sampleImages"] and set(cluster["sampleImages"]) <= names
    assert body["clustering"]["metrics"]["noiseRatio"] == clusters[0]["numImages"] / ev.n_images


def test_image_pages_tile_the_split(ws: SimWorkspace) -> None:
    ev = done(ws)[2]
    for split in ["all", "test"]:
        expected = list(ws.iter_images(ev, split, 20))
        pages, offset = [], 0
        while True:
            page = ws.image_page(ev, split, 20, offset, 17)
            assert page["totalImages"] == len(expected) and page["offset"] == offset
            if not page["images"]:
                break
            pages += page["images"]
            offset += len(page["images"])
        assert pages == expected and offset == len(expected)
        assert len({im["imageId"] for im in pages}) == len(pages)
        assert split == "all" or {im["split"] for im in pages} == {split}
    classes = len(ev.classes) + 1
    for im in expected:
        cells = im["confusion"]
        assert all(0 <= a < classes and 0 <= p < classes and n > 0 for a, p, n in cells)
        stats = im["stats"]
        # A wrong class counts twice, as in the matrix: an FP of the predicted class and an
        # FN of the actual one (the old expectation, background only, predates class pairs).
        bg = classes - 1
        assert stats["truePositives"] == sum(n for a, p, n in cells if a == p)
        assert stats["falsePositives"] == sum(n for a, p, n in cells if a != p and p != bg)
        assert stats["falseNegatives"] == sum(n for a, p, n in cells if a != p and a != bg)


def test_image_confusions_follow_the_matrices(ws: SimWorkspace) -> None:
    """Class-to-class pairs exist on images, and only where the split's matrix has them."""
    pairs = Counter[str]()
    for ev in done(ws, "object-detection-like")[:6]:
        background = len(ev.classes)
        for split in SPLITS:
            matrix = ws.panel_body(ev, "confusion-matrix", split, 20)["matrix"]
            for im in ws.iter_images(ev, split, 20):
                for a, p, n in im["confusion"]:
                    assert a == background or matrix[a][p] > 0, (ev.eval_id, split, a, p)
                    pairs["class" if background not in (a, p) and a != p else "other"] += n
    assert pairs["class"] > 0.02 * pairs["other"]


def test_the_first_detection_project_confuses_cars_and_trucks() -> None:
    ws = generate(SimOptions(seed=7))
    first = next(p for p in ws.projects if p.type != "semantic-segmentation")
    assert first.classes[:2] == ("car", "truck")
    seen = 0
    for ev in ws.select(project=first.slug, status="done"):
        for im in ws.iter_images(ev, "all", 20):
            seen += sum(n for a, p, n in im["confusion"] if (a, p) == (0, 1))
    assert seen > 0


def test_confidence_changes_numbers_not_structure(ws: SimWorkspace) -> None:
    ev = done(ws)[3]
    low, high = ws.panel_body(ev, "confusion-matrix", "all", 20), ws.panel_body(
        ev, "confusion-matrix", "all", 50)
    assert low["classes"] == high["classes"] and low["matrix"] != high["matrix"]
    low_page, high_page = ws.image_page(ev, "all", 20, 0, 100), ws.image_page(ev, "all", 50, 0, 100)
    identity = ("imageId", "imageName", "split", "augmentations", "cluster")
    assert [[im[k] for k in identity] for im in low_page["images"]] == [
        [im[k] for k in identity] for im in high_page["images"]]
    assert [im["stats"] for im in low_page["images"]] != [im["stats"] for im in high_page["images"]]
    low_va, high_va = ws.panel_body(ev, "vector-analysis", None, 20), ws.panel_body(
        ev, "vector-analysis", None, 50)
    assert low_va["clustering"] == high_va["clustering"]
    assert [(c["id"], c["numImages"]) for c in low_va["clusters"]] == [
        (c["id"], c["numImages"]) for c in high_va["clusters"]]
    assert [c["metrics"] for c in low_va["clusters"]] != [c["metrics"] for c in high_va["clusters"]]


def test_a_huge_eval_is_never_materialised() -> None:
    ws = generate(SimOptions(evals=1, images=(200_000, 200_000), running_rate=0, failed_rate=0))
    ev = ws.evals[0]
    tracemalloc.start()
    try:
        started = time.perf_counter()
        page = ws.image_page(ev, "all", 20, 199_500, 1000)
        clusters = ws.panel_body(ev, "vector-analysis")["clusters"]
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert page["totalImages"] == 200_000 and len(page["images"]) == 500
    assert sum(c["numImages"] for c in clusters) == 200_000
    assert elapsed < 1.0 and peak < 20_000_000


def test_confidence_variants() -> None:
    ws = generate(SimOptions(evals=5, running_rate=0, failed_rate=0))
    ev = ws.evals[0]
    optimal = ws.optimal_pct(ev)
    assert ws.materialized(ev) == {20, 50, optimal} and ws.default_confidence(ev) == 20
    custom = SimWorkspace(replace(ws.options, confidences=(30, 70)), ws.all_projects, ws.evals)
    assert custom.materialized(ev) == {20, 30, 70}  # the default variant always exists
    best = SimWorkspace(replace(ws.options, default_confidence="optimal"), ws.all_projects,
                        ws.evals)
    assert best.default_confidence(ev) == optimal
    assert best.panel_body(ev, "confusion-matrix")["confidenceThreshold"] == optimal / 100


def test_header_fields_lead_panel_bodies() -> None:
    ws = generate(SimOptions(evals=5, running_rate=0, failed_rate=0, header_fields=True))
    ev = ws.evals[0]
    for panel in PANEL_NAMES:
        body = ws.panel_body(ev, panel)
        assert list(body)[:4] == ["evalId", "project", "versionId", "modelId"]
        assert body["evalId"] == ev.eval_id
    assert "evalId" not in generate(SimOptions(evals=5)).panel_body(ev, "map-results")


@pytest.mark.parametrize("bad", [
    {"running_rate": 1.5}, {"running_rate": 0.7, "failed_rate": 0.5}, {"fault_kinds": ("418",)},
    {"list_order": "sideways"}, {"images": (5, 2)}, {"confidences": (101,)}, {"projects": 0}])
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimOptions(**bad)


def test_the_wrong_class_recommendation_is_the_test_matrixs_top_confusion(
        ws: SimWorkspace) -> None:
    seen = 0
    for ev in done(ws):
        body = ws.panel_body(ev, "recommendations")
        items = body.get("recommendations", {}).get("items", [])
        for item in (i for i in items if i["type"] == "wrong_class"):
            matrix = ws.panel_body(ev, "confusion-matrix", "test", ws.optimal_pct(ev))["matrix"]
            k = len(ev.classes)
            top = max(matrix[i][j] for i in range(k) for j in range(k) if i != j)
            if top:
                a, p = ev.classes.index(item["actualClass"]), ev.classes.index(item["predictedClass"])
                assert item["count"] == matrix[a][p] == top and a != p
                seen += 1
    assert seen > 0
