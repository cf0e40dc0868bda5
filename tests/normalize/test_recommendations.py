"""recommendations → recommendation_summary and recommendations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from etl.errors import ContractError
from normalize.support import payload, rows, run

AT = datetime(2026, 4, 27, 20, 5, 37, 512000, tzinfo=UTC)


def test_generated_summary_converts_the_percent() -> None:
    out = run("recommendations", payload("recommendations"))
    assert rows(out["recommendation_summary"]) == [
        (True, AT, 0.37, 37, "test", 3, 0.85, 0.85, 0.85)]


@pytest.mark.parametrize(("pct", "fraction"), [(0, 0.0), (37, 0.37), (100, 1.0), (5, 0.05)])
def test_threshold_percent_to_fraction(pct: int, fraction: float) -> None:
    body = {"generated": True, "recommendations": {"summary": {"confidenceThreshold": pct}}}
    got = rows(run("recommendations", body)["recommendation_summary"],
               "confidence_threshold", "confidence_pct")
    assert got == [(fraction, pct)]


def test_items_are_kept_whole_as_sorted_json() -> None:
    out = run("recommendations", payload("recommendations"))
    got = rows(out["recommendations"])
    assert [(i, t) for i, t, _ in got] == [
        (0, "missed_detection"), (1, "wrong_class"), (2, "class_imbalance")]
    assert got[1][2] == ('{"actual":"Car-rims","count":4,"predicted":"music-note",'
                         '"type":"wrong_class"}')
    for (_, _, details), item in zip(got, payload("recommendations")["recommendations"]["items"],
                                     strict=True):
        assert json.loads(details) == item


def test_not_generated_is_one_row_of_nulls_and_no_items() -> None:
    out = run("recommendations", payload("recommendations_not_generated"))
    assert rows(out["recommendation_summary"]) == [(False,) + (None,) * 8]
    assert out["recommendations"].num_rows == 0


def test_item_count_falls_back_to_the_items() -> None:
    body = payload("recommendations")
    del body["recommendations"]["summary"]["count"]
    body["recommendations"]["items"].append({"type": "dataset_health", "detail": "ü, \"q\""})
    got = rows(run("recommendations", body)["recommendation_summary"], "item_count")
    assert got == [(4,)]


def test_generated_at_falls_back_to_the_summary() -> None:
    body = payload("recommendations")
    del body["generatedAt"]
    body["recommendations"]["summary"]["generatedAt"] = "2026-04-27T22:05:37.512+02:00"
    assert rows(run("recommendations", body)["recommendation_summary"], "generated_at") == [(AT,)]


def test_generated_with_empty_body_is_a_summary_of_nulls() -> None:
    out = run("recommendations", {"generated": True, "recommendations": {}})
    assert rows(out["recommendation_summary"]) == [(True, None, None, None, None, 0, None, None,
                                                    None)]


def test_a_bad_generated_at_names_its_field() -> None:
    body = {"generated": True, "generatedAt": "noon", "recommendations": {}}
    with pytest.raises(ContractError) as caught:
        run("recommendations", body)
    assert caught.value.field == "$.generatedAt"
