"""is_latest_in_project / is_latest_in_version: the same two flags on every eval-level mart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def ev(eval_id: str, project: str | None, version: str, day: int, status: str = "done",
       listed: bool = True) -> dict:
    return {"eval_id": eval_id, "project": project, "version_id": version, "status": status,
            "listed": listed, "created_at": datetime(2026, 1, day, tzinfo=UTC), "map": 0.5}


EVALS = [
    ev("a1", "a", "1", day=1),
    ev("a2old", "a", "2", day=2),
    ev("a2", "a", "2", day=3),  # newest of version 2 and of the project
    ev("a1redo", "a", "1", day=4, status="running"),  # newer, but not done
    ev("a3gone", "a", "3", day=5, listed=False),  # newer, but deleted upstream
    ev("b1", "b", "1", day=1),
    ev("orphan", None, "1", day=9),  # its project was deleted: no version to be latest in
]
LATEST = {  # eval -> (is_latest_in_project, is_latest_in_version)
    "a1": (False, True), "a2old": (False, False), "a2": (True, True), "a1redo": (False, False),
    "a3gone": (False, False), "b1": (True, True), "orphan": (False, False),
}


@pytest.fixture
def db(given):
    one = {"split": "test", "class_name": "c"}
    return given({
        "evaluations": EVALS,
        "class_metrics": [{**one, "eval_id": e["eval_id"], "f1": 0.5} for e in EVALS],
        "optimal_thresholds": [{**one, "eval_id": e["eval_id"], "optimal_threshold": 0.4}
                               for e in EVALS],
        "image_predictions": [{"eval_id": e["eval_id"], "image_id": "i", "false_positives": 1}
                              for e in EVALS],
        "vector_clusters": [{"eval_id": e["eval_id"], "cluster_id": c, "num_images": 1,
                             "f1_mean": f} for e in EVALS for c, f in [(0, 0.1), (1, 0.9)]],
    })


@pytest.mark.parametrize("mart", ["eval_overview", "class_leaderboard", "operating_thresholds",
                                  "worst_images", "weak_clusters"])
def test_flags(db, mart: str) -> None:
    got = db.rows(f"select eval_id, is_latest_in_project, is_latest_in_version from {mart}")

    assert {r["eval_id"]: (r["is_latest_in_project"], r["is_latest_in_version"])
            for r in got} == LATEST


def test_latest_evals_and_trends_agree(db) -> None:
    latest = db.rows("select eval_id, is_latest_in_version from latest_evals")
    trends = db.rows("select eval_id, is_latest_in_project from version_trends")

    assert {r["eval_id"] for r in latest} == {"a1", "a2", "b1"}
    assert all(r["is_latest_in_version"] for r in latest)
    assert {r["eval_id"]: r["is_latest_in_project"] for r in trends} == {
        "a1": False, "a2": True, "b1": True}
