"""A run killed part-way is resumed, not redone: the next run reuses the units the killed
one staged for good, and publishes exactly what an uninterrupted run publishes.

Each export is a real process (``python -m etl export``) against the simulator over HTTP,
killed with SIGKILL once the simulator has answered a given share of a clean run's requests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl.simulator import SimHandle
from tests.support.runs import dataset, simulator, table

ROOT = Path(__file__).resolve().parents[3]
SLACK = 0.05  # the bound: at most (1 - X) + 5% of a clean run's requests


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=23, evals=48, images=(300, 2500), latency_ms=25, running_rate=0.1,
                   failed_rate=0.05, missing_panel_rate=0.1) as handle:
        yield handle


def _config(tmp: Path, sim: SimHandle) -> Path:
    path = tmp / "export.toml"
    path.write_text(
        f'workspace = "{sim.options.workspace}"\nlog_format = "json"\n'
        f'[api]\nurl = "{sim.url}"\n'
        "[crawl]\nconcurrency = 4\nbackoff_base = 0.01\nbackoff_max = 0.05\n"
        "not_done_seconds = 0.5\n[output]\nkeep = 2\n")
    return path


def _start(sim: SimHandle, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ROBOFLOW_API_KEY": sim.options.api_key}
    cmd = [sys.executable, "-m", "etl", "export", "--config", str(_config(out.parent, sim)),
           "--out", str(out)]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _requests(sim: SimHandle) -> int:
    return sim.stats.snapshot().requests


def _run(sim: SimHandle, out: Path) -> tuple[int, str]:
    """A whole run; returns the requests it made and its stderr."""
    before = _requests(sim)
    proc = _start(sim, out)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode in (0, 3), err.decode()[-2000:]
    return _requests(sim) - before, err.decode()


def _states(out: Path) -> dict[tuple[str, str, str], str]:
    return {(r["eval_id"], r["panel"], r["params"]): r["state"]
            for r in table(out, "panel_status").to_pylist()}


@pytest.fixture(scope="module")
def clean(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("clean") / "out"
    requests, _ = _run(sim, out)
    return {"requests": requests, "dataset": dataset(out), "states": _states(out)}


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9])
def test_a_run_killed_at_a_share_of_its_requests_is_resumed(
    fraction: float, sim: SimHandle, clean: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = _requests(sim)
    proc = _start(sim, out)
    target = before + fraction * clean["requests"]
    deadline = time.monotonic() + 120
    while _requests(sim) < target and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = (_requests(sim) - before) / clean["requests"]

    rerun, err = _run(sim, out)

    share = rerun / clean["requests"]
    print(f"\nkilled at {killed:.0%} of a clean run's {clean['requests']} requests; "
          f"the rerun made {rerun} ({share:.1%}; bound {1 - killed + SLACK:.1%})")
    assert "taking over the work of interrupted run" in err
    assert share <= 1 - killed + SLACK
    assert dataset(out) == clean["dataset"]
    assert _states(out) == clean["states"]
    assert not any((out / "staging").iterdir())


def test_a_run_killed_twice_loses_nothing_the_first_one_staged(
    sim: SimHandle, clean: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for fraction in (0.3, 0.3):  # the second run is killed as it resumes the first
        before = _requests(sim)
        proc = _start(sim, out)
        while _requests(sim) < before + fraction * clean["requests"] and proc.poll() is None:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rerun, _ = _run(sim, out)
    assert rerun / clean["requests"] <= 0.4 + 2 * SLACK  # two kills: two tails lost
    assert dataset(out) == clean["dataset"]
    assert _states(out) == clean["states"]
