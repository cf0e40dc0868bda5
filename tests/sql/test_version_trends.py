"""version_trends: the latest done eval per version, in numeric order, with deltas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def ev(eval_id: str, project: str, version: str, day: int = 1, **metrics: float) -> dict:
    return {"eval_id": eval_id, "project": project, "version_id": version, "status": "done",
            "listed": True, "created_at": datetime(2026, 1, day, tzinfo=UTC), **metrics}


def test_version_trends(given) -> None:
    db = given({"evaluations": [
        ev("p1", "p", "1", map=0.5, precision=0.5, recall=0.5),
        ev("p2old", "p", "2", day=1, map=0.9, precision=0.9, recall=0.9),  # superseded
        ev("p2", "p", "2", day=2, map=0.6, precision=0.6, recall=0.6),
        ev("p10", "p", "10", map=0.55, precision=0.8, recall=0.4),
        ev("p9", "p", "9", map=0.7, precision=0.5, recall=0.5),
        ev("s1", "s", "1", miou=0.6),
        ev("s2", "s", "2", miou=0.5),
    ]})

    got = db.rows(
        "select project, version_id, eval_id, previous_version_id, map_delta, miou_delta, "
        "f1_delta, headline_delta, regressed from version_trends"
    )

    assert [(r["project"], r["version_id"], r["eval_id"], r["previous_version_id"], r["regressed"])
            for r in got] == [
        ("p", "1", "p1", None, None),
        ("p", "2", "p2", "1", False),
        ("p", "9", "p9", "2", False),  # F1 fell (0.6 -> 0.5) but the headline mAP rose
        ("p", "10", "p10", "9", True),
        ("s", "1", "s1", None, None),
        ("s", "2", "s2", "1", True),  # mIoU is the headline when there is no mAP
    ]
    p = got[:4]
    assert [r["map_delta"] for r in p[1:]] == pytest.approx([0.1, 0.1, -0.15])
    # F1 of p10 = 2 * 0.8 * 0.4 / 1.2 = 0.5333...
    assert [r["f1_delta"] for r in p[1:]] == pytest.approx([0.1, -0.1, 0.8 / 1.5 - 0.5])
    assert got[5]["headline_delta"] == pytest.approx(-0.1)
    assert got[5]["map_delta"] is None and got[5]["miou_delta"] == pytest.approx(-0.1)


def trends_with(given):
    return given({"evaluations": [
        ev("s1", "s", "1", miou=0.600, precision=0.5, recall=0.5),
        ev("s2", "s", "2", miou=0.595, precision=0.511, recall=0.511),  # the case
        ev("s3", "s", "3", miou=0.550, precision=0.511, recall=0.511),
        ev("p1", "p", "1", map=0.70),
        ev("p2", "p", "2", map=0.695, miou=0.1),  # mAP decides, whatever mIoU does
    ]})


QUERY = ("select eval_id, headline_delta, regressed, tolerance, headline_metric, "
         "regression_metric from version_trends")


def test_tolerance_default(given) -> None:
    got = {r["eval_id"]: r for r in trends_with(given).rows(QUERY)}

    assert {e: (r["regressed"], r["regression_metric"]) for e, r in got.items()} == {
        "p1": (None, None),
        "p2": (False, "map"),  # -0.005 mAP: within the default tolerance of 0.01
        "s1": (None, None),
        "s2": (False, "miou"),  # -0.005 mIoU (+0.011 F1): noise, not a regression
        "s3": (True, "miou"),  # -0.045 mIoU
    }
    assert {r["tolerance"] for r in got.values()} == {0.01}
    assert got["s2"]["headline_delta"] == pytest.approx(-0.005)
    assert got["p2"]["headline_metric"] == "map" and got["s3"]["headline_metric"] == "miou"


@pytest.mark.parametrize(("tolerance", "regressed"), [
    ("0", {"p2", "s2", "s3"}),  # strict: any fall
    ("0.05", set()),
    ("0.001", {"p2", "s2", "s3"}),
])
def test_tolerance_set_in_the_session(given, tolerance: str, regressed: set[str]) -> None:
    db = trends_with(given)

    got = db.rows(f"set variable regression_tolerance = {tolerance}; {QUERY}")

    assert {r["eval_id"] for r in got if r["regressed"]} == regressed
    assert {r["tolerance"] for r in got} == {float(tolerance)}
