"""confidence-sweep → confidence_sweep and optimal_thresholds."""

from __future__ import annotations

import pytest

from etl.errors import ContractError
from normalize.support import payload, rows, run


def test_threshold_keys_become_fractions_whole_split_first() -> None:
    out = run("confidence-sweep", payload("confidence_sweep"))
    assert rows(out["confidence_sweep"]) == [
        ("test", None, 0.0, 0.02, 1.0, 0.039),
        ("test", None, 0.2, 0.45, 0.92, 0.605),
        ("test", None, 0.37, 0.85, 0.85, 0.85),
        ("test", None, 0.5, 0.91, 0.78, 0.84),
        ("test", "Car-rims", 0.37, 0.85, 0.85, 0.85),
    ]


def test_optimal_thresholds_per_split_and_class() -> None:
    out = run("confidence-sweep", payload("confidence_sweep"))
    assert rows(out["optimal_thresholds"]) == [
        ("test", None, 0.37, 0.85, 0.85, 0.85),
        ("test", "Car-rims", 0.37, 0.85, 0.85, 0.85),
    ]


@pytest.mark.parametrize(("key", "value"), [
    ("0.00", 0.0), ("0.37", 0.37), ("0.99", 0.99), ("1.00", 1.0), ("0.5", 0.5), ("1", 1.0)])
def test_threshold_key_conversion(key: str, value: float) -> None:
    body = {"splits": {"test": {"perThreshold": {key: {"f1": 0.1}}}}}
    assert rows(run("confidence-sweep", body)["confidence_sweep"], "threshold") == [(value,)]


@pytest.mark.parametrize("key", ["abc", "", "1.5", "-0.1", "nan", "0.3.1", "37%", " 0.3"])
def test_a_bad_threshold_key_names_it(key: str) -> None:
    body = {"splits": {"valid": {"perThreshold": {"0.10": {}, key: {"f1": 0.1}}}}}
    with pytest.raises(ContractError) as caught:
        run("confidence-sweep", body)
    assert caught.value.field.startswith("$.splits.valid.perThreshold")
    assert caught.value.field != "$.splits.valid.perThreshold"


def test_two_keys_for_one_threshold_are_refused() -> None:
    body = {"splits": {"test": {"perThreshold": {"0.3": {}, "0.30": {}}}}}
    with pytest.raises(ContractError) as caught:
        run("confidence-sweep", body)
    assert caught.value.field == "$.splits.test.perThreshold"


def test_missing_metrics_and_optimum_are_null_and_no_optimal_row() -> None:
    body = {"splits": {"test": {"perThreshold": {"0.20": {"precision": 0.5}}}}}
    out = run("confidence-sweep", body)
    assert rows(out["confidence_sweep"]) == [("test", None, 0.2, 0.5, None, None)]
    assert out["optimal_thresholds"].num_rows == 0


def test_a_null_class_entry_is_skipped() -> None:
    body = {"splits": {"test": {"perThreshold": {}, "perClass": {"ghost": None}}}}
    out = run("confidence-sweep", body)
    assert out["confidence_sweep"].num_rows == 0


def test_class_names_are_byte_exact() -> None:
    name = 'señal "stop", ①'
    body = {"splits": {"test": {"perThreshold": {}, "perClass": {
        name: {"perThreshold": {"0.10": {"f1": 0.2}}, "optimalThreshold": 0.1}}}}}
    out = run("confidence-sweep", body)
    assert rows(out["confidence_sweep"], "class_name") == [(name,)]
    assert rows(out["optimal_thresholds"], "class_name") == [(name,)]


def test_an_optimal_threshold_outside_zero_one_is_refused() -> None:
    body = {"splits": {"test": {"perThreshold": {}, "optimalThreshold": 1.5}}}
    with pytest.raises(ContractError) as caught:
        run("confidence-sweep", body)
    assert caught.value.field == "$.splits.test.optimalThreshold"


def test_rows_come_in_grain_order_whatever_order_the_payload_lists() -> None:
    """Rows are built in grain order (no sort in Arrow): splits, the whole split first, class
    names by their UTF-8 bytes, thresholds ascending, however the payload orders its keys."""
    import random

    import pyarrow.compute as pc

    rng = random.Random(5)
    keys = ["0.9", "0.05", "0.5", "1", "0", ".25", "0.75"]
    names = ["zebra", "Zebra", "äpfel", "apple", "", "①", "a b"]

    def sweep(k: list[str]) -> dict[str, object]:
        return {f: {"f1": rng.random()} for f in rng.sample(k, len(k))}

    splits = {}
    for split in rng.sample(["valid", "test", "train"], 3):
        per_class = {n: {"perThreshold": sweep(keys), "optimalThreshold": 0.5}
                     for n in rng.sample(names, len(names))}
        splits[split] = {"perThreshold": sweep(keys), "optimalThreshold": 0.25,
                         "perClass": per_class}
    out = run("confidence-sweep", {"splits": splits})
    for table, grain in (("confidence_sweep", ["split", "class_name", "threshold"]),
                         ("optimal_thresholds", ["split", "class_name"])):
        batch = out[table]
        order = pc.sort_indices(batch, sort_keys=[(c, "ascending", "at_start") for c in grain])
        assert order.to_pylist() == list(range(batch.num_rows)), table
    assert out["confidence_sweep"].num_rows == 3 * (1 + len(names)) * len(keys)
