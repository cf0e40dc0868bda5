"""map-results → split_metrics and size_metrics, both task-type shapes."""

from __future__ import annotations

import pytest

from normalize.support import payload, rows, run

T = 0.9239650566041828
T95 = 0.7555258345429926


def test_object_detection_split_metrics() -> None:
    out = run("map-results", payload("map_results_od"))
    assert rows(out["split_metrics"]) == [
        ("test", "object-detection-like", T, T95, T, None, None, None, None),
        ("valid", "object-detection-like", 0.8, 0.6, 0.7, None, None, None, None),
    ]


def test_object_detection_size_metrics_overall_and_per_class() -> None:
    out = run("map-results", payload("map_results_od"))
    test_rows = [r for r in rows(out["size_metrics"]) if r[0] == "test"]
    assert test_rows == [
        ("test", None, "all", T, T95, T),
        ("test", None, "large", None, None, None),
        ("test", None, "medium", 0.9913366336633663, 0.8572608399609195, 0.9913366336633663),
        ("test", None, "small", 0.9038189533239035, 0.6478143732740621, 0.9038189533239035),
        ("test", "Car-rims", "all", T, T95, T),
        ("test", "Car-rims", "large", None, None, None),
        ("test", "Car-rims", "medium", 0.99, 0.85, 0.99),
        ("test", "Car-rims", "small", 0.9, 0.65, 0.85),
    ]
    assert out["size_metrics"].num_rows == 16


def test_semantic_segmentation_shape() -> None:
    out = run("map-results", payload("map_results_semseg"))
    assert rows(out["split_metrics"]) == [
        ("test", "semantic-segmentation", None, None, None, 0.712, 0.83, 0.79, 0.81)]
    assert out["size_metrics"].num_rows == 0


def test_lowercase_miou_is_read_too() -> None:
    body = {"taskType": "semantic-segmentation", "splits": {"test": {"miou": 0.5}}}
    assert rows(run("map-results", body)["split_metrics"], "miou") == [(0.5,)]


def test_missing_task_type_means_object_detection_like() -> None:
    body = payload("map_results_od")
    del body["taskType"]
    assert {r[0] for r in rows(run("map-results", body)["split_metrics"], "task_type")} == {
        "object-detection-like"}


def test_unknown_task_type_is_kept_and_common_fields_still_read() -> None:
    body = {"taskType": "keypoint-detection",
            "splits": {"test": {"map50": 0.5, "precision": 0.4, "oks": 0.3}}}
    out = run("map-results", body)
    assert rows(out["split_metrics"], "task_type", "map50", "precision") == [
        ("keypoint-detection", 0.5, 0.4)]
    assert rows(out["size_metrics"], "class_name", "object_size", "map50") == [(None, "all", 0.5)]


def test_a_null_class_entry_is_an_all_row_of_nulls() -> None:
    body = {"splits": {"test": {"map50": 0.5, "perClass": {"ghost": None}}}}
    assert rows(run("map-results", body)["size_metrics"], "class_name", "object_size", "map50") == [
        (None, "all", 0.5), ("ghost", "all", None)]


def test_a_missing_size_bucket_is_a_row_of_nulls_like_a_null_one() -> None:
    body = {"splits": {"test": {"map50": 0.5, "byObjectSize": {"small": {"map50": 0.1}}}}}
    got = rows(run("map-results", body)["size_metrics"], "object_size", "map50", "map75")
    assert got == [("all", 0.5, None), ("large", None, None), ("medium", None, None),
                   ("small", 0.1, None)]


def test_no_splits_gives_empty_tables() -> None:
    out = run("map-results", {"splits": {}})
    assert out["split_metrics"].num_rows == 0 and out["size_metrics"].num_rows == 0


@pytest.mark.parametrize("name", ["Car-rims", "vélo 🚲", 'a,b "quoted"', "tab\there", "ü"])
def test_class_names_are_byte_exact(name: str) -> None:
    body = {"splits": {"test": {"perClass": {name: {"map50": 0.5}}}}}
    (got,) = rows(run("map-results", body)["size_metrics"], "class_name")
    assert got[0].encode() == name.encode()


def test_splits_are_dynamic() -> None:
    body = {"splits": {"holdout": {"map50": 0.1}, "all": {"map50": 0.2}}}
    assert rows(run("map-results", body)["split_metrics"], "split") == [("all",), ("holdout",)]
