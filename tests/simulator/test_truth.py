"""Ground truth: its shape, and its row counts against what the routes actually serve."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import fields
from typing import Any

import pytest

from etl.simulator import SimEval, SimHandle, SimOptions, generate
from etl.simulator.truth import DATA_OPTIONS, TABLE_PANELS

from .client import fetch

TOP_KEYS = {"workspace", "seed", "options", "plan", "projects", "status_counts", "rows",
            "evals", "comparisons"}
EVAL_EXTRAS = {"present_splits", "optimal_confidence", "confidences", "default_confidence",
               "rows"}
# Seed 23 holds done evals of both task types with fewer than three splits (2 and 3 images).
SMALL = {"evals": 14, "seed": 23, "images": (1, 40), "classes": (1, 4), "running_rate": 0.15,
         "failed_rate": 0.1, "missing_panel_rate": 0.3, "recs_not_generated_rate": 0.3,
         "semseg_rate": 0.5}


def test_shape_and_json_round_trip() -> None:
    ws = generate(SimOptions(**SMALL))  # type: ignore[arg-type]
    truth = ws.ground_truth()
    assert set(truth) == TOP_KEYS
    assert json.loads(json.dumps(truth)) == truth  # plain JSON: no tuples, no objects
    assert (truth["workspace"], truth["seed"]) == ("acme", 23)
    assert set(truth["options"]) == set(DATA_OPTIONS) and truth["options"]["images"] == [1, 40]
    assert [p["slug"] for p in truth["projects"]] == [p.slug for p in ws.all_projects]
    assert [p["listed"] for p in truth["projects"]] == [True] * 3 + [False]
    assert truth["status_counts"] == dict(Counter(ev.status for ev in ws.evals))
    assert [e["eval_id"] for e in truth["evals"]] == [ev.eval_id for ev in ws.evals]
    for record, ev in zip(truth["evals"], ws.evals, strict=True):
        assert set(record) == {f.name for f in fields(SimEval)} | EVAL_EXTRAS
        assert record["split_sizes"] == list(ev.split_sizes)
        assert record["default_confidence"] in record["confidences"]
        assert set(record["rows"]) == set(TABLE_PANELS) - {"image_confusion"}
        if ev.status != "done":
            assert sum(record["rows"].values()) == record["rows"]["evaluations"] == 1
    for table, total in truth["rows"].items():
        assert total == sum(e["rows"][table] for e in truth["evals"])
    assert truth["rows"]["evaluations"] == 14
    with_triples = ws.ground_truth(image_confusion=True)
    assert with_triples["rows"]["image_confusion"] > 0
    assert {k: v for k, v in with_triples["rows"].items() if k != "image_confusion"} == \
        truth["rows"]


def test_three_thousand_evals_are_generated_fast() -> None:
    started = time.perf_counter()
    ws = generate(SimOptions(evals=3000, seed=1))
    generated = time.perf_counter() - started
    truth = ws.ground_truth()
    described = time.perf_counter() - started - generated
    print(f"\n3,000 evals: generated in {generated:.2f} s, ground truth in {described:.2f} s")
    assert len(ws.evals) == len(truth["evals"]) == 3000
    assert truth["status_counts"] == {"done": 2550, "running": 300, "failed": 150}


# -- agreement with the routes -----------------------------------------------------------------


def get(sim: SimHandle, path: str, **params: Any) -> Any | None:
    """A panel's JSON body, or None when it answers 409 (the panel is not available)."""
    reply = fetch(sim, f"/acme/model-evals/{path}", params)
    if reply.status == 409:
        return None
    assert reply.status == 200, (path, params, reply.body)
    return reply.json()


def size_rows(entity: dict[str, Any]) -> int:
    """size_metrics rows of a split or class: ``all`` when it has figures, 3 buckets more."""
    sizes = entity.get("byObjectSize")
    has_figures = sizes is not None or any(
        entity.get(k) is not None for k in ("map50", "map50_95", "map75"))
    return int(has_figures) + (3 if sizes is not None else 0)


def served_rows(sim: SimHandle, eval_id: str) -> dict[str, int]:
    """Walk the default export plan's requests for one eval and count what they return."""
    rows = dict.fromkeys(TABLE_PANELS, 0)
    rows["evaluations"] = int(fetch(sim, f"/acme/model-evals/{eval_id}").status == 200)
    if (body := get(sim, f"{eval_id}/map-results")) is not None:
        rows["split_metrics"] = len(body["splits"])
        rows["size_metrics"] = sum(
            size_rows(split) + sum(size_rows(c) for c in split["perClass"].values())
            for split in body["splits"].values())
    if (body := get(sim, f"{eval_id}/confidence-sweep")) is not None:
        for split in body["splits"].values():
            sweeps = [split, *split["perClass"].values()]
            rows["confidence_sweep"] += sum(len(s["perThreshold"]) for s in sweeps)
            rows["optimal_thresholds"] += len(sweeps)
    for split in ("train", "valid", "test"):
        if (body := get(sim, f"{eval_id}/performance-by-class", split=split)) is not None:
            rows["class_metrics"] += len(body["classes"])
        if (body := get(sim, f"{eval_id}/confusion-matrix", split=split)) is not None:
            assert len(body["matrix"]) == len(body["classes"])
            rows["confusion_matrix"] += sum(len(row) for row in body["matrix"])
    if (body := get(sim, f"{eval_id}/vector-analysis")) is not None:
        rows["vector_analysis"], rows["vector_clusters"] = 1, len(body["clusters"])
    offset, total = 0, 1
    while offset < total:
        page = get(sim, f"{eval_id}/image-predictions", split="all", limit=1000, offset=offset)
        if page is None:
            break
        total = page["totalImages"]
        rows["image_predictions"] += len(page["images"])
        rows["image_confusion"] += sum(len(image["confusion"]) for image in page["images"])
        offset += 1000
    if (body := get(sim, f"{eval_id}/recommendations")) is not None:
        rows["recommendation_summary"] = 1
        if body["generated"]:
            rows["recommendations"] = len(body["recommendations"]["items"])
    return rows


@pytest.mark.parametrize("reading", [{}, {"default_confidence": "optimal",
                                          "confidences": (10, 90)}], ids=["default", "optimal"])
def test_counts_agree_with_what_the_routes_serve(make_sim: Any, reading: dict[str, Any]) -> None:
    sim = make_sim(**SMALL, **reading)
    truth = sim.workspace.ground_truth(image_confusion=True)
    assert {e["status"] for e in truth["evals"]} == {"done", "running", "failed"}
    assert any(e["missing_panel"] for e in truth["evals"])
    assert {e["task_type"] for e in truth["evals"]
            if e["status"] == "done" and len(e["present_splits"]) < 3} == {
        "object-detection-like", "semantic-segmentation"}
    assert {e["task_type"] for e in truth["evals"]} == {"object-detection-like",
                                                          "semantic-segmentation"}
    for record in truth["evals"]:
        assert served_rows(sim, record["eval_id"]) == record["rows"], record["eval_id"]
    listed = fetch(sim, "/acme/model-evals", {"limit": 200}).json()["evals"]
    assert len(listed) == truth["rows"]["evaluations"]


def test_confidence_variants_agree_with_the_routes(make_sim: Any) -> None:
    sim = make_sim(**{**SMALL, "missing_panel_rate": 0.0})
    truth = sim.workspace.ground_truth()
    for record in truth["evals"]:
        if record["status"] != "done":
            continue
        path = f"{record['eval_id']}/confusion-matrix"
        default = get(sim, path, split="test")
        assert default is not None
        assert default["confidenceThreshold"] == record["default_confidence"] / 100
        for pct in record["confidences"]:
            assert get(sim, path, split="test", confidence=pct) is not None
        unmade = next(p for p in range(101) if p not in record["confidences"])
        reply = fetch(sim, f"/acme/model-evals/{path}", {"split": "test", "confidence": unmade})
        assert (reply.status, reply.code) == (404, "report_not_found")


def test_ground_truth_route(make_sim: Any) -> None:
    sim = make_sim(**SMALL)
    served = fetch(sim, "/__sim__/ground-truth", key=None)
    assert served.status == 200 and served.json() == sim.workspace.ground_truth()
    full = fetch(sim, "/__sim__/ground-truth", {"image_confusion": "true"}, key=None).json()
    assert full == sim.workspace.ground_truth(image_confusion=True)
    bad = fetch(sim, "/__sim__/ground-truth", {"image_confusion": "maybe"}, key=None)
    assert (bad.status, bad.code) == (400, "invalid_request")
    assert sim.stats.snapshot().requests == 0  # the simulator's own routes are not counted
