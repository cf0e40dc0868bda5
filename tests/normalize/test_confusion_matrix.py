"""confusion-matrix → confusion_matrix: every cell, zeros included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.errors import ContractError
from etl.normalize import PANELS
from normalize.support import context, encode, payload, rows, run


def test_every_cell_including_zeros() -> None:
    out = run("confusion-matrix", payload("confusion_matrix"), "test", 50)
    classes = ["Car-rims", "music-note", "background"]
    counts = [[20, 0, 0], [0, 0, 0], [80, 0, 0]]
    assert rows(out["confusion_matrix"]) == [
        ("test", 50, classes[a], classes[p], 0.2, a, p, counts[a][p])
        for a in range(3) for p in range(3)
    ]


def test_default_variant_has_null_confidence_and_keeps_reported_threshold() -> None:
    out = run("confusion-matrix", payload("confusion_matrix"), "test", None)
    assert set(rows(out["confusion_matrix"], "confidence", "confidence_threshold")) == {
        (None, 0.2)}


def test_requested_split_wins_and_all_is_a_split() -> None:
    out = run("confusion-matrix", payload("confusion_matrix"), "all", 20)
    assert set(rows(out["confusion_matrix"], "split", "confidence")) == {("all", 20)}


def test_missing_threshold_is_null() -> None:
    body = payload("confusion_matrix")
    del body["confidenceThreshold"]
    out = run("confusion-matrix", body, "test")
    assert set(rows(out["confusion_matrix"], "confidence_threshold")) == {(None,)}


@pytest.mark.parametrize(("matrix", "field"), [
    ([[1, 2, 3], [4, 5, 6]], "$.matrix"),
    ([[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 0, 0]], "$.matrix"),
    ([[1, 2, 3], [4, 5], [7, 8, 9]], "$.matrix[1]"),
    ([[1, 2, 3], [4, 5, 6], [7, 8, 9, 10]], "$.matrix[2]"),
    ([], "$.matrix"),
])
def test_a_matrix_that_does_not_fit_the_classes_is_refused(matrix, field) -> None:
    body = {**payload("confusion_matrix"), "matrix": matrix}
    with pytest.raises(ContractError) as caught:
        run("confusion-matrix", body, "test")
    err = caught.value
    assert (err.panel, err.field, err.eval_id) == ("confusion-matrix", field,
                                                   "huUF720inUcymARwqAGK")


def test_duplicate_class_names_are_refused() -> None:
    body = {"classes": ["a", "b", "a"], "matrix": [[0] * 3] * 3}
    with pytest.raises(ContractError) as caught:
        run("confusion-matrix", body, "test")
    assert caught.value.field == "$.classes[2]"


def test_class_names_are_byte_exact() -> None:
    classes = ['person, adult', 'say "cheese"', "café ☕", "background"]
    body = {"classes": classes, "matrix": [[1] * 4] * 4}
    got = rows(run("confusion-matrix", body, "test")["confusion_matrix"],
               "actual_idx", "actual_class", "predicted_idx", "predicted_class")
    for a, actual, p, predicted in got:
        assert actual.encode() == classes[a].encode()
        assert predicted.encode() == classes[p].encode()


def test_an_empty_matrix_is_zero_rows() -> None:
    out = run("confusion-matrix", {"classes": [], "matrix": []}, "test")
    assert out["confusion_matrix"].num_rows == 0


names = st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=7, unique=True)


@st.composite
def matrices(draw: st.DrawFn) -> dict[str, object]:
    classes = draw(names)
    n = len(classes)
    cell = st.integers(min_value=0, max_value=2**62 // 64)
    matrix = draw(st.lists(st.lists(cell, min_size=n, max_size=n), min_size=n, max_size=n))
    threshold = draw(st.none() | st.floats(0, 1))
    return {"split": "test", "confidenceThreshold": threshold, "classes": classes,
            "matrix": matrix}


@given(body=matrices(), confidence=st.none() | st.integers(0, 100))
def test_any_valid_matrix_round_trips(body, confidence) -> None:
    codec = PANELS["confusion-matrix"]
    ctx = context("confusion-matrix", "test", confidence)
    batch = codec.normalize(codec.decode(encode(body)), ctx)["confusion_matrix"]
    classes, matrix = body["classes"], body["matrix"]
    n = len(classes)
    assert batch.num_rows == n * n
    got = batch.to_pylist()
    assert sum(r["count"] for r in got) == sum(map(sum, matrix))
    for a in range(n):
        assert sum(r["count"] for r in got if r["actual_idx"] == a) == sum(matrix[a])
    for r in got:
        assert r["count"] == matrix[r["actual_idx"]][r["predicted_idx"]]
        assert r["actual_class"].encode() == classes[r["actual_idx"]].encode()
        assert r["predicted_class"].encode() == classes[r["predicted_idx"]].encode()
        assert (r["confidence"], r["confidence_threshold"]) == (
            confidence, body["confidenceThreshold"])
