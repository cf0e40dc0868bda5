"""latest_evals: the newest listed, done evaluation of each project version."""

from __future__ import annotations

from datetime import UTC, datetime


def ev(eval_id: str, project: str | None, version: str, status: str, day: int,
       listed: bool = True) -> dict:
    return {"eval_id": eval_id, "project": project, "version_id": version, "status": status,
            "created_at": datetime(2026, 1, day, tzinfo=UTC), "listed": listed}


def test_latest_evals(given) -> None:
    db = given({"evaluations": [
        ev("a1", "p", "1", "done", 1),
        ev("a2", "p", "1", "done", 3),
        ev("a3", "p", "1", "running", 5),  # not done
        ev("a4", "p", "2", "done", 9, listed=False),  # deleted upstream
        ev("a5", "p", "2", "done", 1),
        ev("a6", None, "1", "done", 1),  # project deleted: no version to group by
        ev("b1", "q", "10", "done", 2),
        ev("b2", "q", "9", "failed", 2),
    ]})

    got = db.rows("select project, version_id, eval_id, done_evals_in_version from latest_evals")

    assert got == [
        {"project": "p", "version_id": "1", "eval_id": "a2", "done_evals_in_version": 2},
        {"project": "p", "version_id": "2", "eval_id": "a5", "done_evals_in_version": 1},
        {"project": "q", "version_id": "10", "eval_id": "b1", "done_evals_in_version": 1},
    ]
