"""class_leaderboard: classes ranked by F1 (ties by mAP50) and by mAP50, per eval and split."""

from __future__ import annotations


def test_class_leaderboard(given) -> None:
    db = given({
        "evaluations": [{"eval_id": "e1", "project": "p", "version_id": "2", "status": "done"}],
        "class_metrics": [
            {"split": "test", "class_name": "a", "f1": 0.9, "map50": 0.7},
            {"split": "test", "class_name": "b", "f1": 0.5, "map50": 0.9},
            {"split": "test", "class_name": "c", "f1": 0.9, "map50": 0.8},
            {"split": "test", "class_name": "d", "f1": None, "map50": None},
            {"split": "valid", "class_name": "a", "f1": 0.1, "map50": 0.2},
        ],
    })

    got = db.rows(
        "select split, class_name, rank, map50_rank, classes_in_split, project "
        "from class_leaderboard"
    )

    assert [(r["split"], r["class_name"], r["rank"], r["map50_rank"], r["classes_in_split"])
            for r in got] == [
        ("test", "c", 1, 2, 4),  # F1 tie with a, higher mAP50
        ("test", "a", 2, 3, 4),
        ("test", "b", 3, 1, 4),
        ("test", "d", 4, 4, 4),  # NULL metrics rank last
        ("valid", "a", 1, 1, 1),
    ]
    assert {r["project"] for r in got} == {"p"}
