"""A load killed mid-way (os._exit, like SIGKILL) leaves every unit as before or as after."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from etl import crashpoints, schemas

pytestmark = pytest.mark.postgres

EVAL_TABLES = [name for name, t in schemas.TABLES.items() if "eval_id" in t.columns]


def load_killed_at(env: Any, point: str) -> None:
    script = ("import sys; from pathlib import Path; from etl import warehouse; "
              "warehouse.load(Path(sys.argv[1]), sys.argv[2], schema=sys.argv[3])")
    done = subprocess.run([sys.executable, "-c", script, str(env.out), env.uri, env.schema],
                          env={**os.environ, crashpoints.ENV: point}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == crashpoints.EXIT_STATUS, done.stderr


@pytest.fixture
def two_versions(env: Any) -> Any:
    """v1 loaded; v2 published (e2 refetched, e3 gone, e4 new) but not loaded yet."""
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1), "e3": ("r1", 2)}), "r1")
    env.load()
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r2", 5), "e4": ("r2", 6)}), "r2")
    return env


@pytest.mark.parametrize("point", ["load-staged", "load-replaced"])
def test_a_load_killed_before_its_first_commit_changes_nothing(two_versions: Any,
                                                               point: str) -> None:
    env = two_versions
    before, state = env.dump(), env.loads()

    load_killed_at(env, point)

    assert env.dump() == before and env.loads() == state
    env.load()
    env.assert_matches_views()


def test_a_load_killed_after_a_commit_keeps_it_and_the_next_load_finishes(two_versions: Any) -> None:
    env = two_versions
    before = env.dump()

    load_killed_at(env, "load-committed")
    middle = env.dump()
    finished = env.load()
    after = env.dump()

    assert middle != before  # the first transaction (evaluations: e2 and e4) was committed
    for table, units in middle.items():
        for key in {*before[table], *after[table], *units}:
            assert units.get(key) in (before[table].get(key), after[table].get(key)), (table, key)
    # The committed units are not redone: only the remaining evals and run r2 are.
    assert finished.replaced == 2 * (len(EVAL_TABLES) - 1) + 1
    assert finished.removed == len(EVAL_TABLES)
    env.assert_matches_views()
