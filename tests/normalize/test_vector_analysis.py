"""vector-analysis → vector_analysis (one row) and vector_clusters."""

from __future__ import annotations

import json

import pytest

from etl.errors import ContractError
from normalize.support import payload, rows, run


def test_header_row() -> None:
    out = run("vector-analysis", payload("vector_analysis"), confidence=50)
    assert rows(out["vector_analysis"]) == [(
        50, "hdbscan", 54, 0.078125, 0.48925095796585083,
        ('{"cluster_selection_method":"eom","metric":"euclidean","min_cluster_size":2,'
         '"min_samples":1}'),
        8.360810041427612, "umap", 768, 10, 30, 0.05,
    )]


def test_clustering_parameters_are_sorted_json_that_round_trips() -> None:
    body = payload("vector_analysis")
    body["clustering"]["parameters"] = {"z": {"b": 1, "a": [2, {"d": 1, "c": None}]}, "a": 0.5}
    (text,) = rows(run("vector-analysis", body)["vector_analysis"], "clustering_parameters")[0]
    assert json.loads(text) == body["clustering"]["parameters"]
    assert text == '{"a":0.5,"z":{"a":[2,{"c":null,"d":1}],"b":1}}'


def test_clusters_with_omitted_splits_count_zero() -> None:
    out = run("vector-analysis", payload("vector_analysis"))
    got = rows(out["vector_clusters"])
    assert got[0][:7] == (None, -1, 15, 12, 2, 1, 0.46213333333333334)
    assert got[0][-1] == [
        "-3372F3CB-7432-4FE7-B9BB-DFB5D1FC3CD4-png_jpg.rf.161520bef3c23c613d2cb40845aadfc4.jpg",
        "13_jpeg_jpg.rf.03b2557177aea66e7c6dd0460ff2b4be.jpg",
    ]
    assert got[1] == (None, 0, 3, 2, 1, 0, 0.889, 0.1, 0.7, 1.0, 0.9, 0.88, ["a.jpg"])


def test_a_bare_payload_gives_a_header_of_nulls() -> None:
    out = run("vector-analysis", {"clusters": [{"id": 2}]})
    assert rows(out["vector_analysis"]) == [(None,) * 12]
    assert rows(out["vector_clusters"]) == [(None, 2, None, 0, 0, 0) + (None,) * 7]


def test_sample_images_keep_list_type_when_null() -> None:
    batch = run("vector-analysis", {"clusters": [{"id": 1}]})["vector_clusters"]
    assert str(batch.schema.field("sample_images").type) == "list<item: string>"


def test_duplicate_cluster_ids_are_refused() -> None:
    with pytest.raises(ContractError) as caught:
        run("vector-analysis", {"clusters": [{"id": -1}, {"id": 0}, {"id": -1}]})
    assert caught.value.field == "$.clusters[2].id"


def test_clusters_sorted_by_id() -> None:
    out = run("vector-analysis", {"clusters": [{"id": 3}, {"id": -1}, {"id": 0}]})
    assert rows(out["vector_clusters"], "cluster_id") == [(-1,), (0,), (3,)]
