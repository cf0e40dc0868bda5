"""Crash matrix: kill a publish at every crash point, then recover and re-run.

Each case publishes run 1 in-process, runs run 2's publish in a subprocess with
EVALS_ETL_CRASH_AT set, and checks that (a) a reader sees run 1's or run 2's complete state
through both ``tables`` and ``evals.duckdb``, (b) recover() cleans up without changing what
is published, and (c) re-running run 2 ends exactly where an uninterrupted run 2 does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etl import crashpoints, views
from etl.schemas import TABLES
from etl.store import publish

from .storage_scenario import read_tables, run_step

HERE = Path(__file__).resolve().parent
POINTS = ["staged", "snapshot-written", "views-built", "tables-switched", "switched", "cleaned"]
AFTER_COMMIT = {"tables-switched", "switched", "cleaned"}
State = dict[str, list[dict[str, Any]]]


def crash_run(out: Path, step: str, point: str) -> None:
    env = {**os.environ, crashpoints.ENV: point,
           "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), str(HERE)])}
    proc = subprocess.run([sys.executable, str(HERE / "storage_scenario.py"), str(out), step],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == crashpoints.EXIT_STATUS, proc.stderr


def runs_per_table(state: State) -> dict[str, dict[str, int]]:
    return {name: dict(Counter(r["run_id"] for r in rows)) for name, rows in state.items()}


def db_runs_per_table(out: Path) -> dict[str, dict[str, int]]:
    """What a reader of evals.duckdb sees: rows per run id in every base view."""
    sql = " union all ".join(
        f"select '{name}' as t, run_id, count(*) as n from {name} group by run_id"
        for name in TABLES)
    lines = views.query(out / "evals.duckdb", sql, "json").splitlines()
    rows = [json.loads(line) for line in lines]
    seen: dict[str, dict[str, int]] = {name: {} for name in TABLES}
    for row in rows:
        seen[row["t"]][row["run_id"]] = row["n"]
    return seen


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[State, State]:
    out = tmp_path_factory.mktemp("reference")
    run_step(out, "run1")
    before = read_tables(out)
    run_step(out, "run2")
    return before, read_tables(out)


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_anywhere_leaves_the_old_or_the_new_state(
        point: str, tmp_path: Path, reference: tuple[State, State]) -> None:
    old, new = reference
    run_step(tmp_path, "run1")
    crash_run(tmp_path, "run2", point)

    expected = new if point in AFTER_COMMIT else old
    assert read_tables(tmp_path) == expected
    # Between the link switch and the database swap the views still show run 1, complete.
    assert db_runs_per_table(tmp_path) in (runs_per_table(old), runs_per_table(new))

    with publish.RunLock(tmp_path) as lock:  # the crashed run's lock is stale
        assert lock.note is not None and "ended without releasing the lock" in lock.note
        notes = publish.recover(tmp_path, views)
    assert read_tables(tmp_path) == expected
    assert db_runs_per_table(tmp_path) == runs_per_table(expected)
    assert not (tmp_path / "staging").exists() or not list((tmp_path / "staging").iterdir())
    assert not list(tmp_path.glob(".*"))
    current = publish.current_snapshot(tmp_path)
    assert current is not None
    assert max(p.name for p in (tmp_path / "snapshots").iterdir()) == current.name
    if point in ("tables-switched", "switched"):
        assert any("moved the archive of published run r2" in n for n in notes)
    if point == "cleaned":
        assert notes == []

    run_step(tmp_path, "run2")  # the re-run
    assert read_tables(tmp_path) == new
    assert db_runs_per_table(tmp_path) == runs_per_table(new)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r1", "r2"]


def test_a_crash_before_the_first_switch_leaves_nothing_published(tmp_path: Path) -> None:
    crash_run(tmp_path, "run1", "views-built")
    assert publish.current_snapshot(tmp_path) is None
    notes = publish.recover(tmp_path, views)
    assert any("never published" in n for n in notes)
    assert any("staging/r1" in n for n in notes)
    assert list((tmp_path / "snapshots").iterdir()) == []
    assert not (tmp_path / "evals.duckdb").exists() and not list(tmp_path.glob(".*"))
    assert publish.read_previous_state(tmp_path) is None


def test_recover_rebuilds_a_missing_or_stale_database(tmp_path: Path) -> None:
    run_step(tmp_path, "run1")
    first = publish.current_snapshot(tmp_path)
    run_step(tmp_path, "run2")
    assert publish.recover(tmp_path, views) == []

    (tmp_path / "evals.duckdb").unlink()
    assert publish.recover(tmp_path, views) == [
        f"rebuilt evals.duckdb over snapshot {publish.current_snapshot(tmp_path).name}"]

    assert first is not None
    views.build_database(tmp_path / "evals.duckdb", first / "tables")  # the older snapshot
    assert len(publish.recover(tmp_path, views)) == 1
    assert db_runs_per_table(tmp_path) == runs_per_table(read_tables(tmp_path))
