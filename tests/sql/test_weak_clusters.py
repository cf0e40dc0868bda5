"""weak_clusters: clusters below their evaluation's image-weighted mean F1, with the gap."""

from __future__ import annotations

import pytest


def test_weak_clusters(given) -> None:
    db = given({"vector_clusters": [
        {"cluster_id": -1, "num_images": 10, "f1_mean": 0.2},
        {"cluster_id": 0, "num_images": 30, "f1_mean": 0.8},
        {"cluster_id": 1, "num_images": 60, "f1_mean": 0.5},
        {"cluster_id": 2, "num_images": 5, "f1_mean": None},  # no F1: left out of the mean
    ]})

    got = db.rows("select cluster_id, is_noise, rank, eval_f1_mean, gap from weak_clusters")

    # eval mean = (10 * 0.2 + 30 * 0.8 + 60 * 0.5) / 100 = 0.56
    got_ids = [(r["cluster_id"], r["is_noise"], r["rank"]) for r in got]
    assert got_ids == [(-1, True, 1), (1, False, 2)]
    assert [r["eval_f1_mean"] for r in got] == pytest.approx([0.56, 0.56])
    assert [r["gap"] for r in got] == pytest.approx([0.36, 0.06])
