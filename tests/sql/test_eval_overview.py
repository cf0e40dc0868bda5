"""eval_overview: one row per evaluation with headline metrics, sizes and panel health."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

T = datetime(2026, 3, 1, tzinfo=UTC)


def test_eval_overview(given) -> None:
    db = given({
        "evaluations": [
            {"eval_id": "e1", "status": "done", "project": "p", "version_id": "3",
             "created_at": T, "map": 0.8, "precision": 0.6, "recall": 0.4,
             "app_url": "https://app/e1", "listed": True},
            {"eval_id": "e2", "status": "running", "project": "p", "version_id": "4",
             "created_at": T, "listed": True},
            {"eval_id": "e3", "status": "done", "project": "q", "version_id": "1",
             "task_type": "semantic-segmentation", "miou": 0.7, "precision": 0.0,
             "recall": 0.0, "listed": False},
        ],
        "split_metrics": [
            {"eval_id": "e1", "split": "test", "task_type": "object-detection", "map50_95": 0.5},
            {"eval_id": "e1", "split": "valid", "task_type": "object-detection", "map50_95": 0.9},
        ],
        "class_metrics": [
            {"eval_id": "e1", "split": "test", "class_name": "a"},
            {"eval_id": "e1", "split": "test", "class_name": "b"},
            {"eval_id": "e1", "split": "valid", "class_name": "a"},
        ],
        "confusion_matrix": [  # e2 has no class_metrics: classes come from its matrix
            {"eval_id": "e2", "split": "test", "actual_class": a, "predicted_class": p,
             "actual_idx": i, "predicted_idx": j, "count": 0}
            for i, a in enumerate(["x", "background"]) for j, p in enumerate(["x", "background"])
        ],
        "image_predictions": [
            {"eval_id": "e1", "image_id": "i1"},
            {"eval_id": "e1", "image_id": "i2"},
            {"eval_id": "e1", "confidence": 50, "image_id": "i1"},
        ],
        "panel_status": [
            {"eval_id": "e1", "panel": "get", "params": "", "state": "ok"},
            {"eval_id": "e1", "panel": "map-results", "params": "", "state": "ok"},
            {"eval_id": "e1", "panel": "confusion-matrix", "params": "split=test", "state": "ok"},
            {"eval_id": "e1", "panel": "recommendations", "params": "", "state": "error"},
            {"eval_id": "e2", "panel": "get", "params": "", "state": "ok"},
            {"eval_id": "e2", "panel": "map-results", "params": "", "state": "not_done"},
        ],
    })
    got = {r["eval_id"]: r for r in db.rows("select * from eval_overview")}

    assert set(got) == {"e1", "e2", "e3"}
    e1, e2, e3 = got["e1"], got["e2"], got["e3"]
    assert e1["f1"] == pytest.approx(0.48)  # 2 * 0.6 * 0.4 / (0.6 + 0.4)
    assert e1["task_type"] == "object-detection"  # from the test split
    assert e1["map50_95"] == 0.5
    assert (e1["class_count"], e1["image_count"]) == (2, 2)
    panels = ("panels_total", "panels_ok", "panels_error", "panels_not_done")
    assert [e1[c] for c in panels] == [4, 3, 1, 0]
    assert e1["app_url"] == "https://app/e1"
    assert e1["version_number"] == 3

    assert e2["f1"] is None and e2["map"] is None
    assert (e2["class_count"], e2["image_count"]) == (1, None)
    assert (e2["panels_total"], e2["panels_ok"], e2["panels_not_done"]) == (2, 1, 1)

    assert e3["f1"] == 0.0  # precision = recall = 0
    assert e3["task_type"] == "semantic-segmentation" and e3["miou"] == 0.7
    assert e3["panels_total"] == 0 and e3["listed"] is False


def test_clearer_names(given) -> None:
    units = [("get", "", "ok"), ("confusion-matrix", "split=test", "ok"),
             ("confusion-matrix", "split=valid", "error"), ("map-results", "", "ok")]
    version = {"eval_id": "", "panel": "compare", "state": "ok"}  # a unit of the version
    db = given({
        "evaluations": [{"eval_id": "e1", "map": 0.61, "task_type": "semantic-segmentation",
                         "project": "p&q", "version_id": "3"}],
        "panel_status": [*({"panel": p, "params": q, "state": s} for p, q, s in units),
                         {**version, "params": "project=p&q&version=3"},
                         {**version, "params": "project=p&q&version=4", "state": "error"}],
    })

    (got,) = db.rows("select map, map50, panels_total, panel_units_total, panels_ok, "
                     "panel_units_ok, app_panels_total, app_panels_ok, count_unit "
                     "from eval_overview")

    assert got == {"map": 0.61, "map50": 0.61, "panels_total": 4, "panel_units_total": 4,
                   "panels_ok": 3, "panel_units_ok": 3,
                   # the version's compare counts; confusion-matrix is not complete
                   "app_panels_total": 4, "app_panels_ok": 3,
                   "count_unit": "pixels"}


def test_recommendation_items(given) -> None:
    db = given({
        "evaluations": [{"eval_id": "e1", "project": "p", "version_id": "1"}],
        "recommendations": [{"item_index": 0, "type": "t",
                             "details": '{"type": "t", "className": "car", "n": 3}'}],
        "recommendation_summary": [{"confidence_threshold": 0.37, "split": "test"}],
    })

    got = db.rows("select item_index, details->>'className' as class_name, "
                  "confidence_threshold, project from recommendation_items")

    assert got == [{"item_index": 0, "class_name": "car", "confidence_threshold": 0.37,
                    "project": "p"}]
