"""merge._Neighbours: twins in a stream sorted by grain, across batches, NULLs equal."""

from __future__ import annotations

import pyarrow as pa

from etl.store.merge import _Neighbours


def batch(a: list[object], b: list[object]) -> pa.RecordBatch:
    return pa.record_batch({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.int64())})


def test_distinct_rows_have_no_twins() -> None:
    check = _Neighbours(("a", "b"), trusted=False)
    assert not check.share_a_grain(batch(["x", "x", "y"], [1, 2, 1]))
    assert not check.share_a_grain(batch(["y", "z"], [2, 1]))


def test_twins_inside_a_batch() -> None:
    assert _Neighbours(("a", "b"), False).share_a_grain(batch(["x", "y", "y"], [1, 2, 2]))


def test_twins_across_the_batch_boundary() -> None:
    check = _Neighbours(("a", "b"), False)
    assert not check.share_a_grain(batch(["x", "y"], [1, 2]))
    assert check.share_a_grain(batch(["y"], [2]))


def test_nulls_are_one_grain_and_a_null_differs_from_a_value() -> None:
    assert _Neighbours(("a", "b"), False).share_a_grain(batch(["x", "x"], [None, None]))
    assert not _Neighbours(("a", "b"), False).share_a_grain(batch(["x", "x"], [None, 1]))
    check = _Neighbours(("a", "b"), False)
    assert not check.share_a_grain(batch([None], [1]))
    assert check.share_a_grain(batch([None], [1]))


def test_a_trusted_stream_is_not_checked() -> None:
    assert not _Neighbours(("a",), trusted=True).share_a_grain(batch(["x", "x"], [1, 1]))
