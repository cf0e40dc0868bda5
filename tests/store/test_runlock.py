"""The run lock: exclusive, stale-safe, released even on errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from etl import cli, views
from etl.errors import EXIT_LOCKED, EXIT_USAGE, LockHeldError
from etl.store import publish

from .storage_scenario import publish_run, units


def write_lock(out: Path, pid: int, host: str | None = None) -> Path:
    path = out / "state" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "since": "2026-01-01T00:00:00+00:00", "token": "old"}))
    return path


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_lock_holds_pid_host_and_time_and_is_released(tmp_path: Path) -> None:
    with publish.RunLock(tmp_path) as lock:
        held = json.loads((tmp_path / "state" / "lock").read_text())
        assert (held["pid"], held["host"]) == (os.getpid(), socket.gethostname())
        assert held["since"].endswith("+00:00")
        assert lock.note is None
    assert not (tmp_path / "state" / "lock").exists()
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name != ".takeover"] == []


def test_a_live_holder_blocks_a_second_run(tmp_path: Path) -> None:
    with publish.RunLock(tmp_path):
        with pytest.raises(LockHeldError) as info, publish.RunLock(tmp_path):
            pass
        assert f"pid {os.getpid()} on {socket.gethostname()} since" in str(info.value)
        assert info.value.exit_code == EXIT_LOCKED
        assert (tmp_path / "state" / "lock").exists()  # the loser did not remove it


def test_a_lock_from_another_host_is_never_taken_over(tmp_path: Path) -> None:
    path = write_lock(tmp_path, dead_pid(), host="some-other-host")
    with pytest.raises(LockHeldError, match="on some-other-host since 2026-01-01"):
        publish.RunLock(tmp_path).__enter__()
    assert json.loads(path.read_text())["token"] == "old"


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path: Path) -> None:
    pid = dead_pid()
    write_lock(tmp_path, pid)
    with publish.RunLock(tmp_path) as lock:
        assert lock.note is not None and f"stale lock of pid {pid}" in lock.note
        assert json.loads((tmp_path / "state" / "lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / "state" / "lock").exists()


def test_an_unreadable_lock_is_respected(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "lock").write_text("garbage")
    with pytest.raises(LockHeldError, match="unreadable lock file"):
        publish.RunLock(tmp_path).__enter__()


def test_the_lock_is_released_when_the_run_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), publish.RunLock(tmp_path):
        raise RuntimeError("crawl blew up")
    with publish.RunLock(tmp_path):
        pass


def test_exit_leaves_a_lock_that_is_no_longer_ours(tmp_path: Path) -> None:
    lock = publish.RunLock(tmp_path)
    lock.__enter__()
    write_lock(tmp_path, 1)  # someone removed ours and took the folder
    lock.__exit__(None, None, None)
    assert json.loads((tmp_path / "state" / "lock").read_text())["token"] == "old"


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
    assert views.view_names(db) and not (tmp_path / "state" / "lock").exists()


def test_views_in_a_folder_without_a_dataset_creates_nothing(tmp_path: Path) -> None:
    assert cli.main(["views", "--out", str(tmp_path)]) == EXIT_USAGE
    assert list(tmp_path.iterdir()) == []
