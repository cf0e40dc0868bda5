"""operating_thresholds: the sweep's F1-optimal point per class, else performance-by-class's."""

from __future__ import annotations


def test_operating_thresholds(given) -> None:
    db = given({
        "class_metrics": [
            {"split": "test", "class_name": "a", "optimal_threshold": 0.4, "precision": 0.8,
             "recall": 0.7, "f1": 0.75},
            {"split": "test", "class_name": "b", "optimal_threshold": 0.3, "precision": 0.6,
             "recall": 0.5, "f1": 0.55},
        ],
        "optimal_thresholds": [
            {"split": "test", "class_name": "a", "optimal_threshold": 0.45, "precision": 0.85,
             "recall": 0.72, "f1": 0.78},
            {"split": "test", "class_name": None, "optimal_threshold": 0.5, "precision": 0.7,
             "recall": 0.7, "f1": 0.7},  # the whole split: not a class
            {"split": "test", "class_name": "c", "optimal_threshold": 0.6, "precision": 0.9,
             "recall": 0.9, "f1": 0.9},
        ],
    })

    got = db.rows(
        "select class_name, threshold, precision, recall, f1, source from operating_thresholds"
    )

    assert got == [
        {"class_name": "a", "threshold": 0.45, "precision": 0.85, "recall": 0.72, "f1": 0.78,
         "source": "confidence-sweep"},
        {"class_name": "b", "threshold": 0.3, "precision": 0.6, "recall": 0.5, "f1": 0.55,
         "source": "performance-by-class"},
        {"class_name": "c", "threshold": 0.6, "precision": 0.9, "recall": 0.9, "f1": 0.9,
         "source": "confidence-sweep"},
    ]


def test_absent_classes_get_no_threshold(given) -> None:
    db = given({
        "class_metrics": [
            {"split": "test", "class_name": "a", "optimal_threshold": 0.4, "precision": 0.8,
             "recall": 0.7, "f1": 0.75, "map50": 0.7},
            {"split": "test", "class_name": "absent", "optimal_threshold": 0.5, "precision": 0.0,
             "recall": 0.0, "f1": 0.0, "map50": None, "map50_95": None},
        ],
        "optimal_thresholds": [  # a sweep row for the absent class changes nothing
            {"split": "test", "class_name": "absent", "optimal_threshold": 0.5, "precision": 0.0,
             "recall": 0.0, "f1": 0.0},
        ],
    })

    got = db.rows("select class_name, threshold, precision, f1, source, has_instances, "
                  "reported_threshold from operating_thresholds")

    assert got == [
        {"class_name": "a", "threshold": 0.4, "precision": 0.8, "f1": 0.75,
         "source": "performance-by-class", "has_instances": True, "reported_threshold": 0.4},
        {"class_name": "absent", "threshold": None, "precision": None, "f1": None,
         "source": "no-instances", "has_instances": False, "reported_threshold": 0.5},
    ]
