"""A full disk, at each phase of a run and for a moment mid-crawl, on a real (small) tmpfs.

The run stops at once with exit 7 and a message naming the path and the phase; the published
state stays as it was; once there is room again, the next run finishes, taking over the work
the stopped one had staged.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl import history
from etl.crashpoints import ENV as CRASH_ENV
from etl.errors import EXIT_CHECK_FAILED, EXIT_STORAGE
from etl.simulator import SimHandle
from etl.store import publish
from tests.support.runs import dataset, simulator

ROOT = Path(__file__).resolve().parents[3]


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


pytestmark = pytest.mark.skipif(not _can_mount(), reason="needs root to mount a tmpfs (CI is)")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
                          check=False, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                handle.write(chunk)
        except OSError:
            pass
        for size in (1 << 16, 1 << 12, 1 << 8, 1):  # the last few bytes too
            try:
                while True:
                    handle.write(chunk[:size])
            except OSError:
                continue
    return filler


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=51, evals=14, images=(200, 1500), latency_ms=10) as handle:
        yield handle


def _start(sim: SimHandle, out: Path, crash_at: str | None = None) -> subprocess.Popen[str]:
    config = out.parent / "export.toml"
    config.write_text(f'workspace = "{sim.options.workspace}"\nlog_format = "json"\n'
                      f'[api]\nurl = "{sim.url}"\n[crawl]\nconcurrency = 4\n'
                      "backoff_base = 0.01\nbackoff_max = 0.05\nnot_done_seconds = 0.5\n")
    env = {**os.environ, "ROBOFLOW_API_KEY": sim.options.api_key}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen([sys.executable, "-m", "etl", "export", "--config", str(config),
                             "--out", str(out), "--full-refresh"], env=env, cwd=ROOT,
                            text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _run(sim: SimHandle, out: Path) -> None:
    proc = _start(sim, out)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 3), err


def _stopped(proc: subprocess.Popen[str]) -> bool:
    return Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] == "T"


@pytest.fixture(scope="module")
def reference(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "out"
    _run(sim, out)
    return dataset(out)


@pytest.mark.parametrize("step", ["listed", "crawled", "staged", "snapshot-written"])
def test_a_disk_that_fills_at_each_phase_stops_the_run_and_keeps_the_published_state(
        step: str, sim: SimHandle, reference: dict, disk: Path) -> None:
    out = disk / "out"
    _run(sim, out)  # a published state to keep
    published = publish.current_snapshot(out)
    proc = _start(sim, out, crash_at=f"{step}:SIGSTOP")  # the run pauses itself at the step
    deadline = time.monotonic() + 60
    while not _stopped(proc):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    filler = fill(disk)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_STORAGE, err
    assert "no space left on device" in err and str(out) in err
    assert "Traceback" not in err
    assert publish.current_snapshot(out) == published
    # On record although the disk is full (the history's reserve made room for the line),
    # and the health check says why.
    last = history.read(out)[-1]
    assert (last["exit_code"], last["published"]) == (EXIT_STORAGE, False)
    check = subprocess.run([sys.executable, "-m", "etl", "status", "--out", str(out), "--check"],
                           cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert check.returncode == EXIT_CHECK_FAILED and "no space left on device" in check.stdout
    assert dataset(out) == reference
    filler.unlink()
    _run(sim, out)
    assert dataset(out) == reference
    assert not any((out / "staging").iterdir())


def test_a_moment_of_full_disk_mid_crawl_stops_the_run_at_once(
        sim: SimHandle, reference: dict, disk: Path) -> None:
    out = disk / "out"
    before = sim.stats.snapshot().requests
    proc = _start(sim, out)
    while sim.stats.snapshot().requests < before + 60:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.002)
    filler = fill(disk)
    filled_at = sim.stats.snapshot().requests
    _, err = proc.communicate(timeout=60)
    filler.unlink()  # the disk has room again; the run that saw it full must still have stopped
    assert proc.returncode == EXIT_STORAGE, err
    assert "while staging the crawl's results" in err
    # It stopped at the first refused write, not after crawling everything.
    assert sim.stats.snapshot().requests - filled_at < 40
    assert publish.current_snapshot(out) is None
    _run(sim, out)
    assert dataset(out) == reference
