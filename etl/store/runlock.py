"""The run lock: one run at a time per output folder, surviving crashes of its holder.

``OUT/state/lock`` holds the holder's pid, host, start time and a random token. It is made
atomically: the complete file is written aside and hard-linked into place, which fails like
``O_CREAT | O_EXCL`` when a lock exists and never leaves a half-written lock behind.

A lock whose holder died on this host (the pid no longer exists) is stale and is taken
over, with a note for the run's log. A lock from another host cannot be checked from here
and is always respected. Limitation: a dead holder's pid reused by an unrelated process
makes the lock look alive; the error message says which file to delete.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from etl.errors import LockHeldError


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    since: str
    token: str


class RunLock:
    """Exclusive use of an output folder for one run: ``with RunLock(out): ...``.

    ``OUT/state/lock`` is created atomically (a complete file hard-linked into place, which
    fails like ``O_EXCL`` when the lock exists, and never leaves a half-written lock). A lock
    left by a dead process on this host is taken over, and ``note`` says so; any other lock
    raises :class:`LockHeldError`. The lock is removed on exit, exceptions included.
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / "state" / "lock"
        self.note: str | None = None
        self._token = secrets.token_hex(8)

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return self
        # Only takers delete a foreign lock, and they take turns, so none can delete a
        # lock that became live after it was judged stale.
        with _flocked(self.path.with_name(".takeover")):
            held = _read_lock(self.path)
            if held is not None and _is_stale(held):
                self.path.unlink(missing_ok=True)
                self.note = (f"took over the stale lock of pid {held.pid} on {held.host}"
                             f" (since {held.since}): that run died without cleaning up")
            if self._create():
                return self
            raise LockHeldError(_describe_lock(self.path, _read_lock(self.path)))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        held = _read_lock(self.path)
        if held is not None and held.token == self._token:
            self.path.unlink(missing_ok=True)

    def _create(self) -> bool:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"), "token": self._token}
        tmp = self.path.with_name(f".lock.{os.getpid()}.{self._token}.tmp")
        tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_lock(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(int(data["pid"]), str(data["host"]), str(data["since"]),
                        str(data["token"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return LockInfo(-1, "?", "?", "")  # unreadable: someone else's, never stale


def _is_stale(lock: LockInfo) -> bool:
    if lock.host != socket.gethostname() or lock.pid <= 0:
        return False  # a process on another host cannot be checked from here
    try:
        os.kill(lock.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def _describe_lock(path: Path, lock: LockInfo | None) -> str:
    who = "another run" if lock is None else (
        f"pid {lock.pid} on {lock.host} since {lock.since}" if lock.pid > 0
        else "an unreadable lock file")
    return (f"{path.parent.parent} is in use by {who}; if no export is running there, "
            f"delete {path}")
