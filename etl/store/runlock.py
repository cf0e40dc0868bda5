"""The run lock: one run at a time per output folder, held by the kernel for the life of the run.

``OUT/state/lock`` is opened and locked with ``flock(LOCK_EX | LOCK_NB)``. The kernel releases
the lock when the holder's process ends, however it ends (SIGKILL and the OOM killer
included), so a dead holder never blocks the next run, whatever its pid or hostname
namespace: a container that is pid 1 with a new hostname every night, or a Kubernetes pod
on another node sharing the volume through a filesystem with working ``flock``.

The file's content (pid, host, start time, a token) is only for messages: who holds the
folder, and, when it is still there at the next start, which run died without cleaning up.
The file itself is never deleted: unlinking a locked file lets a second process lock a new
file of the same name while a third still holds the old one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from etl.errors import LockHeldError, PublishError


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    since: str
    token: str


class RunLock:
    """Exclusive use of an output folder for one run: ``with RunLock(out): ...``.

    Raises :class:`LockHeldError` when a live process holds the folder. ``note`` says when
    the previous holder died without releasing it (its details were still in the file).
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / "state" / "lock"
        self.note: str | None = None
        self._token = secrets.token_hex(8)
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockHeldError(_describe_lock(self.path, _read_lock(self.path))) from None
            raise PublishError(f"cannot lock {self.path}: {exc.strerror}") from None
        left = _read_fd(fd)
        if left is not None:
            who = (f"pid {left.pid} on {left.host}, since {left.since}" if left.pid > 0
                   else "its lock file was unreadable")
            self.note = (f"the previous run ({who}) ended without releasing the lock; no "
                         "process holds it any more, so this run takes the folder")
        _write_fd(fd, LockInfo(os.getpid(), socket.gethostname(),
                               datetime.now(UTC).isoformat(timespec="seconds"), self._token))
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty file: released cleanly (not "died holding it")
        except OSError:
            pass  # a full or read-only disk: the kernel releases the lock all the same
        finally:
            os.close(fd)  # closing releases the flock


def _read_fd(fd: int) -> LockInfo | None:
    os.lseek(fd, 0, os.SEEK_SET)
    return _parse(os.read(fd, 4096))


def _write_fd(fd: int, info: LockInfo) -> None:
    data = (json.dumps(info.__dict__) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_lock(path: Path) -> LockInfo | None:
    try:
        return _parse(path.read_bytes())
    except OSError:
        return None


def _parse(raw: bytes) -> LockInfo | None:
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
        return LockInfo(int(data["pid"]), str(data["host"]), str(data["since"]),
                        str(data["token"]))
    except (ValueError, KeyError, TypeError):
        return LockInfo(-1, "?", "?", "")


def _describe_lock(path: Path, lock: LockInfo | None) -> str:
    who = "another run" if lock is None or lock.pid <= 0 else (
        f"pid {lock.pid} on {lock.host} since {lock.since}")
    return (f"{path.parent.parent} is in use by {who} (the lock on {path} is held by a live "
            "process; it is released when that process ends)")
