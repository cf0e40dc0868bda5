"""The run lock: held by the kernel (flock) for the life of the run, whatever kills the holder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etl import cli, views
from etl.errors import EXIT_LOCKED, EXIT_USAGE, LockHeldError
from etl.store import publish

from .storage_scenario import publish_run, units

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from etl.store.runlock import RunLock
with RunLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def write_lock(out: Path, pid: int, host: str | None = None) -> Path:
    path = out / "state" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "since": "2026-01-01T00:00:00+00:00", "token": "old"}))
    return path


def holder(out: Path, *prefix: str) -> subprocess.Popen[str]:
    """A process (optionally inside ``prefix``, e.g. unshare) holding the lock until killed."""
    proc = subprocess.Popen([*prefix, sys.executable, "-c", HOLD, str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_lock_holds_pid_host_and_time_and_is_released(tmp_path: Path) -> None:
    with publish.RunLock(tmp_path) as lock:
        held = json.loads((tmp_path / "state" / "lock").read_text())
        assert (held["pid"], held["host"]) == (os.getpid(), socket.gethostname())
        assert held["since"].endswith("+00:00")
        assert lock.note is None
    # Released: the file stays (deleting a locked file is a race), emptied.
    assert (tmp_path / "state" / "lock").read_text() == ""
    with publish.RunLock(tmp_path) as again:
        assert again.note is None  # a clean release leaves no "died holding it" note


def test_a_live_holder_blocks_a_second_run(tmp_path: Path) -> None:
    with publish.RunLock(tmp_path):
        with pytest.raises(LockHeldError) as info, publish.RunLock(tmp_path):
            pass
        assert f"pid {os.getpid()} on {socket.gethostname()} since" in str(info.value)
        assert info.value.exit_code == EXIT_LOCKED
        assert json.loads((tmp_path / "state" / "lock").read_text())["pid"] == os.getpid()


def test_a_holder_in_another_process_blocks_until_it_is_killed(tmp_path: Path) -> None:
    proc = holder(tmp_path)
    try:
        with pytest.raises(LockHeldError, match=f"pid {proc.pid}"):
            publish.RunLock(tmp_path).__enter__()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with publish.RunLock(tmp_path) as lock:  # the kernel released it with the process
        assert lock.note is not None and f"pid {proc.pid}" in lock.note


@pytest.mark.parametrize("host", [None, "some-other-host"])
def test_lock_details_left_by_a_dead_holder_never_block(tmp_path: Path,
                                                        host: str | None) -> None:
    # Whatever the file says (a pid that is gone, another hostname: a container's), only a
    # live flock holder blocks.
    write_lock(tmp_path, 999_999_999, host=host)
    with publish.RunLock(tmp_path) as lock:
        assert lock.note is not None and "pid 999999999" in lock.note
        assert json.loads((tmp_path / "state" / "lock").read_text())["pid"] == os.getpid()


def test_an_unreadable_lock_file_is_no_lock(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "lock").write_text("garbage")
    with publish.RunLock(tmp_path) as lock:
        assert lock.note is not None and "unreadable" in lock.note


def test_the_lock_is_released_when_the_run_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), publish.RunLock(tmp_path):
        raise RuntimeError("crawl blew up")
    with publish.RunLock(tmp_path):
        pass


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["unshare", "--pid", "--uts", "--fork", "true"],
                          check=False, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare (CI runs as root)")
def test_a_holder_that_is_pid_1_with_its_own_hostname_blocks_then_releases_on_sigkill(
        tmp_path: Path) -> None:
    # A container: the exporter is pid 1 of its pid namespace, with a hostname of its own.
    proc = holder(tmp_path, "unshare", "--pid", "--uts", "--fork", "--kill-child",
                  "sh", "-c", 'hostname container-1 && exec "$@"', "sh")
    try:
        held = json.loads((tmp_path / "state" / "lock").read_text())
        assert (held["pid"], held["host"]) == (1, "container-1")
        with pytest.raises(LockHeldError, match="pid 1 on container-1"):
            publish.RunLock(tmp_path).__enter__()
    finally:
        proc.send_signal(signal.SIGKILL)  # kills unshare; --kill-child takes pid 1 with it
        proc.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            with publish.RunLock(tmp_path) as lock:
                assert lock.note is not None and "pid 1 on container-1" in lock.note
            break
        except LockHeldError:
            assert time.monotonic() < deadline, "the dead holder's lock was never released"
            time.sleep(0.05)


def test_views_waits_its_turn_behind_a_run(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # Racing an export, `evals-etl views` could rename a database over the old snapshot
    # into place after the export switched to a new one.
    publish_run(tmp_path, "r1", units("e1", confidences=(None,)))
    db = tmp_path / "evals.duckdb"
    db.unlink()
    with publish.RunLock(tmp_path):
        assert cli.main(["views", "--out", str(tmp_path)]) == EXIT_LOCKED
        assert not db.exists()
    assert "is in use by" in capsys.readouterr().err
    assert cli.main(["views", "--out", str(tmp_path)]) == 0
    assert views.view_names(db) and (tmp_path / "state" / "lock").read_text() == ""


def test_views_in_a_folder_without_a_dataset_creates_nothing(tmp_path: Path) -> None:
    assert cli.main(["views", "--out", str(tmp_path)]) == EXIT_USAGE
    assert list(tmp_path.iterdir()) == []
