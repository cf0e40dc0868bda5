"""panel_health: how each panel's units ended across all evaluations."""

from __future__ import annotations


def unit(eval_id: str, panel: str, state: str, attempts: int = 1, requests: int = 1) -> dict:
    return {"eval_id": eval_id, "panel": panel, "params": "", "state": state,
            "attempts": attempts, "requests": requests}


def test_panel_health(given) -> None:
    db = given({"panel_status": [
        unit("e1", "get", "ok"),
        unit("e2", "get", "ok"),
        unit("e1", "map-results", "ok", attempts=2),
        unit("e2", "map-results", "not_done", attempts=0, requests=0),
        unit("e1", "image-predictions", "error", attempts=3, requests=2),
    ]})

    got = db.rows(
        "select panel, units, ok, not_done, error, ok_share, attempts, requests from panel_health"
    )

    assert got == [
        {"panel": "get", "units": 2, "ok": 2, "not_done": 0, "error": 0, "ok_share": 1.0,
         "attempts": 2, "requests": 2},
        {"panel": "image-predictions", "units": 1, "ok": 0, "not_done": 0, "error": 1,
         "ok_share": 0.0, "attempts": 3, "requests": 2},
        {"panel": "map-results", "units": 2, "ok": 1, "not_done": 1, "error": 0,
         "ok_share": 0.5, "attempts": 2, "requests": 1},
    ]
