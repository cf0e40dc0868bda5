"""top_confusions: non-zero off-diagonal cells, ranked by count per eval, split and confidence."""

from __future__ import annotations

import pytest

CLASSES = ["cat", "dog", "background"]


def matrix(counts: list[list[int]], confidence: int | None, split: str = "test") -> list[dict]:
    return [
        {"split": split, "confidence": confidence, "confidence_threshold": 0.2,
         "actual_class": a, "predicted_class": p, "actual_idx": i, "predicted_idx": j,
         "count": counts[i][j]}
        for i, a in enumerate(CLASSES) for j, p in enumerate(CLASSES)
    ]


def test_top_confusions(given) -> None:
    db = given({"confusion_matrix": [
        *matrix([[5, 2, 1], [3, 4, 0], [6, 0, 9]], None),
        *matrix([[5, 1, 0], [0, 4, 0], [0, 0, 3]], 50),
    ]})

    got = db.rows(
        "select confidence, rank, actual_class, predicted_class, cell_kind, count, share_of_actual "
        "from top_confusions"
    )

    assert [{k: v for k, v in r.items() if k != "share_of_actual"} for r in got] == [
        {"confidence": None, "rank": 1, "actual_class": "background", "predicted_class": "cat",
         "cell_kind": "false_positive", "count": 6},
        {"confidence": None, "rank": 2, "actual_class": "dog", "predicted_class": "cat",
         "cell_kind": "misclassified", "count": 3},
        {"confidence": None, "rank": 3, "actual_class": "cat", "predicted_class": "dog",
         "cell_kind": "misclassified", "count": 2},
        {"confidence": None, "rank": 4, "actual_class": "cat", "predicted_class": "background",
         "cell_kind": "missed", "count": 1},
        {"confidence": 50, "rank": 1, "actual_class": "cat", "predicted_class": "dog",
         "cell_kind": "misclassified", "count": 1},
    ]
    # share of the actual class's row: 6/15, 3/7, 2/8, 1/8, 1/6
    assert [r["share_of_actual"] for r in got] == pytest.approx([0.4, 3 / 7, 0.25, 0.125, 1 / 6])


def test_count_unit_and_default_variant(given) -> None:
    db = given({
        "evaluations": [{"eval_id": "det", "task_type": "object-detection-like"},
                        {"eval_id": "seg", "task_type": "semantic-segmentation"}],
        "confusion_matrix": [
            *({**c, "eval_id": "det"} for c in matrix([[1, 2, 0], [0, 1, 0], [0, 0, 0]], 50)),
            *({**c, "eval_id": "det"} for c in matrix([[1, 3, 0], [0, 1, 0], [0, 0, 0]], 20)),
            *({**c, "eval_id": "seg"} for c in matrix([[90, 7, 0], [0, 80, 0], [0, 0, 0]], None)),
        ],
    })

    got = db.rows("select eval_id, confidence, count, count_unit, is_default_variant "
                  "from top_confusions")

    assert got == [
        {"eval_id": "det", "confidence": 20, "count": 3, "count_unit": "instances",
         "is_default_variant": True},  # no server-default variant: the lowest asked
        {"eval_id": "det", "confidence": 50, "count": 2, "count_unit": "instances",
         "is_default_variant": False},
        {"eval_id": "seg", "confidence": None, "count": 7, "count_unit": "pixels",
         "is_default_variant": True},
    ]


def test_image_confusion_named_unit(given) -> None:
    db = given({
        "evaluations": [{"eval_id": "seg", "task_type": "semantic-segmentation"}],
        "confusion_matrix": [{**c, "eval_id": "seg"} for c in matrix([[1, 1, 0]] * 3, None)],
        "image_confusion": [{"eval_id": "seg", "image_id": "i1", "actual_idx": 0,
                             "predicted_idx": 1, "count": 40}],
    })

    got = db.rows("select actual_class, predicted_class, count, count_unit, is_default_variant "
                  "from image_confusion_named")

    assert got == [{"actual_class": "cat", "predicted_class": "dog", "count": 40,
                    "count_unit": "pixels", "is_default_variant": True}]


def test_the_default_variant_is_decided_before_mistakes_are_picked(given) -> None:
    db = given({"confusion_matrix": [
        *matrix([[5, 0, 0], [0, 4, 0], [0, 0, 0]], None),  # the default variant: no mistakes
        *matrix([[5, 1, 0], [0, 4, 0], [0, 0, 0]], 50),
    ]})

    got = db.rows("select confidence, count, is_default_variant from top_confusions")

    assert got == [{"confidence": 50, "count": 1, "is_default_variant": False}]
