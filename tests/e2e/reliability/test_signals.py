"""SIGTERM, SIGHUP and SIGINT stop an export cleanly, on the host and as pid 1 of a container.

Each export is a real process against the simulator over HTTP. A signal before publishing
stops the run with 128 + the signal's number, publishes nothing half-done and releases the
lock; a signal once publishing has begun lets the publish finish, and the run says so.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl.crashpoints import ENV as CRASH_ENV
from etl.simulator import SimHandle
from etl.store import publish
from tests.support.runs import dataset, simulator

ROOT = Path(__file__).resolve().parents[3]
BEFORE_PUBLISH = ["listed", "crawled"]
DURING_PUBLISH = ["staged", "snapshot-written", "views-built", "tables-switched", "switched",
                  "cleaned"]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=31, evals=10, images=(20, 80), latency_ms=20) as handle:
        yield handle


def _command(sim: SimHandle, out: Path) -> list[str]:
    config = out.parent / "export.toml"
    config.write_text(f'workspace = "{sim.options.workspace}"\nlog_format = "json"\n'
                      f'[api]\nurl = "{sim.url}"\n[crawl]\nconcurrency = 2\n'
                      "backoff_base = 0.01\nbackoff_max = 0.05\nnot_done_seconds = 0.5\n")
    return [sys.executable, "-m", "etl", "export", "--config", str(config), "--out", str(out)]


def _start(sim: SimHandle, out: Path, *prefix: str, crash_at: str | None = None
           ) -> subprocess.Popen[str]:
    env = {**os.environ, "ROBOFLOW_API_KEY": sim.options.api_key}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen([*prefix, *_command(sim, out)], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lock_is_free(out: Path) -> bool:
    with publish.RunLock(out):
        return True


@pytest.fixture(scope="module")
def reference(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = _start(sim, out)
    assert proc.wait(timeout=120) in (0, 3)
    return dataset(out)


def test_sigint_is_handled_even_when_the_parent_ignored_it(sim: SimHandle, tmp_path: Path) -> None:
    # A job started with `cmd &` from a script inherits SIGINT ignored; the exporter installs
    # its own handler, so an operator's `kill -INT` still stops it cleanly.
    out = tmp_path / "out"
    before = sim.stats.snapshot().requests
    script = (f"trap '' INT; exec {' '.join(map(shlex.quote, _command(sim, out)))}")
    proc = subprocess.Popen(["bash", "-c", script], cwd=ROOT, text=True, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL,
                            env={**os.environ, "ROBOFLOW_API_KEY": sim.options.api_key})
    while sim.stats.snapshot().requests < before + 20:
        assert proc.poll() is None
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted by SIGINT" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_mid_crawl_stops_the_run_publishing_nothing(
        sig: signal.Signals, sim: SimHandle, reference: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = sim.stats.snapshot().requests
    proc = _start(sim, out)
    while sim.stats.snapshot().requests < before + 20:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig, err
    assert f"interrupted by {sig.name}" in err
    assert publish.current_snapshot(out) is None
    assert _lock_is_free(out)
    # The next run takes over what was staged and ends where an uninterrupted run ends.
    again = _start(sim, out)
    assert again.wait(timeout=120) in (0, 3)
    assert dataset(out) == reference


@pytest.mark.parametrize("step", BEFORE_PUBLISH + DURING_PUBLISH)
def test_sigterm_at_each_step_stops_before_publishing_or_lets_the_publish_finish(
        step: str, sim: SimHandle, reference: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(sim, out, crash_at=f"{step}:SIGTERM")
    _, err = proc.communicate(timeout=120)
    if step in BEFORE_PUBLISH:
        assert proc.returncode == 143, err
        assert "interrupted by SIGTERM; the published dataset is unchanged" in err
        assert publish.current_snapshot(out) is None
    else:
        assert proc.returncode in (0, 3), err
        assert "SIGTERM arrived while publishing" in err and "published whole" in err
        assert dataset(out) == reference
        assert not any((out / "staging").iterdir())
    assert _lock_is_free(out)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--pid", "--fork", "true"], check=False,
                          capture_output=True).returncode == 0


def _child_of(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    raise AssertionError("unshare started no child")


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare (CI runs as root)")
def test_sigterm_stops_the_run_when_it_is_pid_1(sim: SimHandle, tmp_path: Path) -> None:
    # As pid 1 of a pid namespace (a container without an init), a signal with no handler
    # is ignored by the kernel: only a handler of our own makes `docker stop` work.
    out = tmp_path / "out"
    before = sim.stats.snapshot().requests
    proc = _start(sim, out, "unshare", "--pid", "--fork", "--kill-child")
    exporter = _child_of(proc.pid)
    assert Path(f"/proc/{exporter}/status").read_text().count("NSpid:") == 1
    nspid = next(line for line in Path(f"/proc/{exporter}/status").read_text().splitlines()
                 if line.startswith("NSpid:")).split()
    assert nspid[-1] == "1"  # the exporter is pid 1 in its namespace
    while sim.stats.snapshot().requests < before + 20:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    os.kill(exporter, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert "interrupted by SIGTERM" in err
    assert proc.returncode == 143, err
    assert publish.current_snapshot(out) is None
    assert _lock_is_free(out)
