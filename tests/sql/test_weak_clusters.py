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

    # eval mean = (10 * 0.2 + 30 * 0.8 + 60 * 0.5) / 100 = 0.56, noise's images included;
    # the noise "cluster" (-1, the weakest) is no cluster: left out
    assert [(r["cluster_id"], r["is_noise"], r["rank"]) for r in got] == [(1, False, 1)]
    assert [r["eval_f1_mean"] for r in got] == pytest.approx([0.56])
    assert [r["gap"] for r in got] == pytest.approx([0.06])

    every = db.rows("select cluster_id, is_noise, gap from int_clusters_compared "
                    "order by cluster_id")
    assert [(r["cluster_id"], r["is_noise"]) for r in every] == [
        (-1, True), (0, False), (1, False), (2, False)]
    assert every[0]["gap"] == pytest.approx(0.36)


def test_default_variant(given) -> None:
    clusters = [{"cluster_id": 0, "num_images": 10, "f1_mean": 0.2},
                {"cluster_id": 1, "num_images": 10, "f1_mean": 0.8}]
    db = given({"vector_clusters": [
        *({**c, "eval_id": "e1", "confidence": conf} for c in clusters for conf in (None, 50)),
        *({**c, "eval_id": "e2", "confidence": conf} for c in clusters for conf in (30, 50)),
    ]})

    got = db.rows("select eval_id, confidence, is_default_variant from weak_clusters")

    # NULL (the server's default variant) when exported, else the lowest confidence asked
    assert [(r["eval_id"], r["confidence"], r["is_default_variant"]) for r in got] == [
        ("e1", None, True), ("e1", 50, False), ("e2", 30, True), ("e2", 50, False)]
