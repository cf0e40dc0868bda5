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
        ("test", "d", 4, None, 4),  # NULL metrics rank last, and have no mAP50 rank
        ("valid", "a", 1, 1, 1),
    ]
    assert {r["project"] for r in got} == {"p"}


ABSENT = {"map50": None, "map50_95": None, "map75": None, "precision": 0.0, "recall": 0.0,
          "f1": 0.0, "optimal_threshold": 0.5}  # what the API sends for a class not in a split


def test_absent_classes_rank_last(given) -> None:
    db = given({
        "evaluations": [{"eval_id": "e1", "task_type": "object-detection-like"}],
        "class_metrics": [
            {"split": "test", "class_name": "absent", **ABSENT},
            {"split": "test", "class_name": "weak", "f1": 0.1, "map50": 0.05, "precision": 0.1,
             "recall": 0.1},
            {"split": "test", "class_name": "strong", "f1": 0.9, "map50": 0.8},
            # the matrix says "none" although performance-by-class sent numbers: it counts
            {"split": "test", "class_name": "ghost", "f1": 0.2, "map50": 0.1},
        ],
        "confusion_matrix": [
            {"split": "test", "actual_class": a, "predicted_class": p, "actual_idx": i,
             "predicted_idx": j, "count": n}
            for (i, a) in enumerate(["strong", "weak", "ghost", "background"])
            for (j, p), n in zip(enumerate(["strong", "weak", "ghost", "background"]),
                                 [[5, 0, 0, 1], [0, 2, 0, 3], [0, 0, 0, 0], [1, 1, 0, 0]][i])
        ],
    })

    got = db.rows("select class_name, rank, map50_rank, has_instances, instance_count, "
                  "count_unit, classes_with_instances, classes_in_split "
                  "from class_leaderboard")

    assert [(r["class_name"], r["rank"], r["map50_rank"], r["has_instances"],
             r["instance_count"]) for r in got] == [
        ("strong", 1, 1, True, 6),
        ("weak", 2, 2, True, 5),
        ("ghost", 3, None, False, 0),  # its matrix row is all zeros: last, then by F1
        ("absent", 4, None, False, None),  # no matrix row: the API's signature decides
    ]
    assert {(r["count_unit"], r["classes_with_instances"], r["classes_in_split"])
            for r in got} == {("instances", 2, 4)}


def test_semantic_segmentation_ranks_by_iou(given) -> None:
    semseg = {"task_type": "semantic-segmentation", "map50": None, "map50_95": None}
    db = given({
        "evaluations": [{"eval_id": "e1", "task_type": "semantic-segmentation"}],
        "class_metrics": [
            {"split": "test", "class_name": "road", "iou": 0.8, "f1": 0.85, **semseg},
            {"split": "test", "class_name": "sky", "iou": 0.9, "f1": 0.8, **semseg},
            {"split": "test", "class_name": "rim", "iou": None, **semseg, **ABSENT},
        ],
    })

    got = db.rows("select class_name, rank, map50_rank, iou_rank, has_instances, count_unit "
                  "from class_leaderboard")

    assert got == [
        {"class_name": "road", "rank": 1, "map50_rank": None, "iou_rank": 2,
         "has_instances": True, "count_unit": "pixels"},
        {"class_name": "sky", "rank": 2, "map50_rank": None, "iou_rank": 1,
         "has_instances": True, "count_unit": "pixels"},
        {"class_name": "rim", "rank": 3, "map50_rank": None, "iou_rank": None,
         "has_instances": False, "count_unit": "pixels"},
    ]
