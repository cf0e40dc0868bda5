"""performance-by-class → class_metrics, both task-type shapes."""

from __future__ import annotations

import pytest

from etl.errors import ContractError
from normalize.support import payload, rows, run

T = 0.9239650566041828


def test_object_detection_classes() -> None:
    out = run("performance-by-class", payload("performance_by_class_od"), "test")
    assert rows(out["class_metrics"]) == [
        ("test", "Car-rims", "object-detection-like", None, T, 0.7555258345429926, T, None,
         0.85, 0.85, 0.85, 0.37),
        ("test", "music-note", "object-detection-like", None, None, None, None, None,
         0.0, 0.0, 0.0, 0.5),
    ]


def test_semantic_segmentation_classes() -> None:
    out = run("performance-by-class", payload("performance_by_class_semseg"), "test")
    assert rows(out["class_metrics"]) == [
        ("test", "road", "semantic-segmentation", 1, None, None, None, 0.88, 0.93, 0.94, 0.935,
         0.45)]


def test_the_requested_split_wins_over_the_payload() -> None:
    out = run("performance-by-class", payload("performance_by_class_od"), "valid")
    assert {r[0] for r in rows(out["class_metrics"], "split")} == {"valid"}


def test_the_payload_split_is_used_when_none_was_requested() -> None:
    out = run("performance-by-class", payload("performance_by_class_od"), None)
    assert {r[0] for r in rows(out["class_metrics"], "split")} == {"test"}


def test_no_split_at_all_is_a_contract_error() -> None:
    body = payload("performance_by_class_od")
    del body["split"]
    with pytest.raises(ContractError) as caught:
        run("performance-by-class", body, None)
    assert caught.value.field == "$.split"


def test_missing_task_type_and_metrics_become_defaults_and_nulls() -> None:
    out = run("performance-by-class", {"classes": [{"className": "a"}]}, "test")
    assert rows(out["class_metrics"]) == [
        ("test", "a", "object-detection-like") + (None,) * 9]


def test_a_duplicate_class_is_refused() -> None:
    body = {"classes": [{"className": "a"}, {"className": "b"}, {"className": "a"}]}
    with pytest.raises(ContractError) as caught:
        run("performance-by-class", body, "test")
    assert caught.value.field == "$.classes[2].className"


def test_rows_are_sorted_by_class_name_bytes() -> None:
    body = {"classes": [{"className": n} for n in ["zebra", "Zebra", "äpfel", "apple"]]}
    got = [r[0] for r in rows(run("performance-by-class", body, "test")["class_metrics"],
                              "class_name")]
    assert got == sorted(got, key=str.encode)


@pytest.mark.parametrize("name", ['comma, "quote"', "日本語", "trailing space ", "e\u0301"])
def test_class_names_are_byte_exact(name: str) -> None:
    out = run("performance-by-class", {"classes": [{"className": name}]}, "test")
    assert rows(out["class_metrics"], "class_name")[0][0].encode() == name.encode()
