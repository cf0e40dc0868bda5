"""worst_images: images with errors, ranked by lowest F1 and by most false positives."""

from __future__ import annotations


def image(image_id: str, f1: float, fp: int, fn: int, cluster: int,
          confidence: int | None = None) -> dict:
    return {"confidence": confidence, "image_id": image_id, "image_name": f"{image_id}.jpg",
            "split": "test", "f1": f1, "false_positives": fp, "false_negatives": fn,
            "true_positives": 1, "cluster_id": cluster}


def test_worst_images(given) -> None:
    db = given({
        "image_predictions": [
            image("i1", 0.2, 3, 1, 0),
            image("i2", 0.5, 5, 0, 1),
            image("i3", 1.0, 0, 0, 0),  # no error: not listed
            image("i4", 0.0, 0, 2, -1),
            image("i1", 0.3, 1, 0, 0, confidence=50),
        ],
        "vector_clusters": [
            {"confidence": None, "cluster_id": 0, "f1_mean": 0.6},
            {"confidence": None, "cluster_id": 1, "f1_mean": 0.7},
            {"confidence": None, "cluster_id": -1, "f1_mean": 0.1},
            {"confidence": 50, "cluster_id": 0, "f1_mean": 0.65},
        ],
    })

    got = db.rows(
        "select confidence, image_id, f1_rank, fp_rank, cluster_id, cluster_f1_mean "
        "from worst_images"
    )

    assert [tuple(r.values()) for r in got] == [
        (None, "i4", 1, 3, -1, 0.1),
        (None, "i1", 2, 2, 0, 0.6),
        (None, "i2", 3, 1, 1, 0.7),
        (50, "i1", 1, 1, 0, 0.65),  # the confidence-50 variant's cluster figures
    ]
