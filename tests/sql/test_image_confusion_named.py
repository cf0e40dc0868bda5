"""int_image_confusion_named and image_confusion_named: image confusion triples with class names."""

from __future__ import annotations


def matrix(split: str, classes: list[str], confidence: int | None = None) -> list[dict]:
    return [
        {"split": split, "confidence": confidence, "actual_class": a, "predicted_class": p,
         "actual_idx": i, "predicted_idx": j, "count": 0}
        for i, a in enumerate(classes) for j, p in enumerate(classes)
    ]


GIVEN = {
    "confusion_matrix": [
        *matrix("all", ["cat", "dog", "background"]),
        # a split of the same variant; the `all` matrix wins if the two ever disagree
        *matrix("test", ["cat", "DOG?", "background"]),
        *matrix("test", ["cat", "dog", "background"], confidence=50),
    ],
    "image_confusion": [
        {"image_id": "i1", "actual_idx": 0, "predicted_idx": 0, "count": 2},
        {"image_id": "i1", "actual_idx": 0, "predicted_idx": 2, "count": 1},
        {"image_id": "i1", "actual_idx": 2, "predicted_idx": 1, "count": 3},
        {"image_id": "i1", "actual_idx": 0, "predicted_idx": 1, "count": 1},
        {"image_id": "i1", "confidence": 50, "actual_idx": 1, "predicted_idx": 0, "count": 4},
        {"image_id": "i2", "confidence": 70, "actual_idx": 1, "predicted_idx": 0, "count": 1},
    ],
    "image_predictions": [
        {"image_id": "i1", "image_name": "one.jpg", "split": "valid"},
        {"image_id": "i1", "confidence": 50, "image_name": "one.jpg", "split": "valid"},
    ],
}
COLUMNS = "confidence, image_id, actual_class, predicted_class, cell_kind, count"
EXPECTED = [
    (None, "i1", "cat", "cat", "correct", 2),
    (None, "i1", "cat", "dog", "misclassified", 1),
    (None, "i1", "cat", "background", "missed", 1),
    (None, "i1", "background", "dog", "false_positive", 3),
    (50, "i1", "dog", "cat", "misclassified", 4),
    (70, "i2", None, None, None, 1),  # no matrix for that variant: names unknown
]
ORDER = " order by confidence nulls first, image_id, actual_idx, predicted_idx"


def test_int_image_confusion_named(given) -> None:
    db = given(GIVEN)
    got = db.rows(f"select {COLUMNS} from int_image_confusion_named{ORDER}")
    assert [tuple(r.values()) for r in got] == EXPECTED


def test_image_confusion_named_adds_the_image(given) -> None:
    db = given(GIVEN)
    got = db.rows(f"select {COLUMNS}, image_name, split from image_confusion_named{ORDER}")
    assert [tuple(r.values())[:6] for r in got] == EXPECTED
    images = [(r["image_name"], r["split"]) for r in got]
    assert images == [("one.jpg", "valid")] * 5 + [(None, None)]
