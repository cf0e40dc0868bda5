"""Signals: SIGTERM and SIGHUP stop a run as Ctrl-C does, and never cut a publish in half.

``docker stop``, Kubernetes and systemd's timeouts send SIGTERM; a closed terminal sends
SIGHUP. Python's default for both is to die on the spot, and as pid 1 in a container the
kernel ignores them outright (no handler, no default action). :func:`handled` installs one
handler for all three that raises :class:`Interrupted`, a ``KeyboardInterrupt``, so every
``finally`` runs, the crawl is cancelled, nothing half-done is published and the lock is
released, whatever the signal.

Publishing is the one step that must not be cut: inside :func:`shielded` a signal is
remembered instead of raised, the publish completes, and :func:`pending` tells the caller
to stop right after it (and to say that the new snapshot was published).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; the process exits with 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(self.name)


_shield_depth = 0
_pending: list[int] = []


def _handler(signum: int, frame: FrameType | None) -> None:
    if _shield_depth > 0:
        _pending.append(signum)
        return
    raise Interrupted(signum)


@contextmanager
def handled() -> Iterator[None]:
    """Install the handler for SIGINT, SIGTERM and SIGHUP; restore the previous ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; nothing to install here
        return
    previous = {sig: signal.signal(sig, _handler) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _pending.clear()


@contextmanager
def shielded() -> Iterator[None]:
    """A section a signal does not cut: it is remembered and reported by :func:`pending`."""
    global _shield_depth
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1


def pending() -> Interrupted | None:
    """The first signal that arrived inside a shielded section, if any (and forget it)."""
    if not _pending:
        return None
    signum = _pending[0]
    _pending.clear()
    return Interrupted(signum)
