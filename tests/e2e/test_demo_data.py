"""The demo dataset answers the documented questions with realistic rows (issue 17).

Class-to-class confusions on images ("cars taken for trucks") and the compare panel's
leaderboard joined to the evals it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etl import views


def rows(out: Path, sql: str) -> list[dict[str, Any]]:
    text = views.query(out / "evals.duckdb", sql, "json")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_cars_are_taken_for_trucks_on_images(demo_dataset: Path) -> None:
    found = rows(demo_dataset, "select image_name, split, count from image_confusion_named "
                 "where actual_class = 'car' and predicted_class = 'truck'")
    assert found and all(r["count"] > 0 for r in found)
    pairs = rows(demo_dataset, "select count(*) as n from image_confusion_named "
                 "where actual_class <> predicted_class and 'background' not in "
                 "(actual_class, predicted_class)")
    assert pairs[0]["n"] > 50


def test_the_model_leaderboard_joins_the_comparison_to_its_evals(demo_dataset: Path) -> None:
    board = rows(demo_dataset, "select * from model_leaderboard")
    assert len(board) == len(rows(demo_dataset, "select * from model_comparison")) > 3
    assert all(r["eval_status"] == "done" and r["eval_created_at"] for r in board)
    for version in {(r["project"], r["version_id"]) for r in board}:
        mine = [r for r in board if (r["project"], r["version_id"]) == version]
        ranked = sorted(r["frontier_rank"] for r in mine if r["frontier_rank"] is not None)
        assert ranked[:1] in ([], [1])
        assert all(r["models_in_version"] == len(mine) for r in mine)
    assert any(r["on_frontier"] for r in board)
    assert any(r["exclusion_reason"] == "latency_unavailable" and not r["on_frontier"]
               for r in board)
