"""Kill ``evals-etl export`` at every named step of its commit sequence, and at random times.

Each export runs as a real process (``python -m etl export``) against the simulator over
HTTP. After the kill, the published state must be exactly the previous one (readable through
``evals.duckdb`` and through ``tables/``), and the next run must end with the dataset an
uninterrupted run produces.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from etl import views
from etl.crashpoints import ENV as CRASH_ENV
from etl.simulator import SimHandle
from tests.support.runs import dataset, simulator

POINTS = ["listed", "crawled", "staged", "snapshot-written", "views-built", "tables-switched",
          "switched", "cleaned"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=11, evals=8, images=(20, 80), latency_ms=2) as handle:
        yield handle


def _config(tmp: Path, sim: SimHandle) -> Path:
    path = tmp / "export.toml"
    path.write_text(
        f'workspace = "{sim.options.workspace}"\nlog_format = "json"\n'
        f'[api]\nurl = "{sim.url}"\n'
        "[crawl]\nconcurrency = 4\nbackoff_base = 0.01\nbackoff_max = 0.05\n"
        "not_done_seconds = 1.0\n[output]\nkeep = 2\n"
    )
    return path


def _run(sim: SimHandle, out: Path, *extra: str, crash_at: str | None = None,
         kill_after: float | None = None) -> int:
    env = {**os.environ, "ROBOFLOW_API_KEY": sim.options.api_key}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    cmd = [sys.executable, "-m", "etl", "export", "--config", str(_config(out.parent, sim)),
           "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    if proc.returncode not in (0, 3, 137, -9):
        raise AssertionError(f"export exited {proc.returncode}: {err.decode()[-2000:]}")
    return proc.returncode


def _views_dataset(out: Path) -> dict[str, int]:
    """What a DuckDB reader sees: row counts of every base view, read-only."""
    with duckdb.connect(str(out / "evals.duckdb"), read_only=True) as con:
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0]  # type: ignore[index]
                for t in ("evaluations", "image_predictions", "confusion_matrix", "panel_status")}


@pytest.fixture(scope="module")
def reference(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    out = tmp_path_factory.mktemp("reference") / "out"
    assert _run(sim, out) in (0, 3)
    return dataset(out), _views_dataset(out), out


def _published_copy(reference: tuple[dict, dict, Path], tmp: Path) -> Path:
    """The reference's published folder, copied (the views rebuilt for the new place)."""
    out = tmp / "out"
    shutil.copytree(reference[2], out, symlinks=True)
    views.build_database(out / "evals.duckdb", out / "tables")
    return out


@pytest.mark.parametrize("point", POINTS)
def test_a_refresh_killed_at_each_step_leaves_the_old_state_and_recovers(
    point: str, sim: SimHandle, reference: tuple[dict, dict, Path], tmp_path: Path
) -> None:
    out = _published_copy(reference, tmp_path)
    assert _run(sim, out, "--full-refresh", crash_at=point) == 137
    # Whatever step died, readers see one complete state: the old one, or (past the switch)
    # the new one, which has the same content here.
    assert dataset(out) == reference[0]
    assert _views_dataset(out) == reference[1] or point == "tables-switched"
    assert _run(sim, out, "--full-refresh") in (0, 3)
    assert dataset(out) == reference[0]
    assert _views_dataset(out) == reference[1]
    assert not any((out / "staging").iterdir())


@pytest.mark.parametrize("point", ["listed", "snapshot-written", "switched"])
def test_a_first_run_killed_publishes_nothing_or_everything(
    point: str, sim: SimHandle, reference: tuple[dict, dict, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run(sim, out, crash_at=point) == 137
    if point != "switched":
        assert not (out / "tables").exists()
    assert _run(sim, out) in (0, 3)
    assert dataset(out) == reference[0]


def _random_kills(sim: SimHandle, reference: tuple[dict, dict, Path], tmp: Path, seed: int,
                  times: int) -> None:
    rng = random.Random(seed)
    out = _published_copy(reference, tmp)
    for _ in range(times):
        _run(sim, out, "--full-refresh", kill_after=rng.uniform(0.3, 2.5))
        assert dataset(out) == reference[0]
    assert _run(sim, out, "--full-refresh") in (0, 3)
    assert dataset(out) == reference[0]
    assert _views_dataset(out) == reference[1]


def test_sigkill_at_random_times(sim: SimHandle, reference: tuple[dict, dict, Path],
                                 tmp_path: Path) -> None:
    _random_kills(sim, reference, tmp_path, seed=1, times=2)


@pytest.mark.soak
def test_sigkill_at_many_random_times(sim: SimHandle, reference: tuple[dict, dict, Path],
                                      tmp_path: Path) -> None:
    _random_kills(sim, reference, tmp_path, seed=2, times=15)
