"""store.behind.WriteBehind: writes in order on one thread, failures raised by the next call."""

from __future__ import annotations

import threading
import time

import pytest

from etl.store import behind
from etl.store.behind import WriteBehind


def test_writes_run_in_order_on_another_thread() -> None:
    done: list[tuple[int, str]] = []
    queue = WriteBehind()
    for i in range(50):
        queue.submit(lambda i=i: done.append((i, threading.current_thread().name)))
    queue.close()
    assert [i for i, _ in done] == list(range(50))
    assert {name for _, name in done} != {threading.current_thread().name}


def test_a_failed_write_is_raised_by_the_next_call_and_nothing_after_it_runs() -> None:
    queue = WriteBehind()
    ran: list[str] = []
    release = threading.Event()

    def fail() -> None:
        raise OSError(28, "No space left on device")

    queue.submit(release.wait)  # holds the queue, so both below are accepted
    queue.submit(fail)
    queue.submit(ran.append, "after")
    release.set()
    with pytest.raises(OSError, match="No space"):
        queue.drain()
    queue.close()
    assert ran == []  # e.g. the journal line naming the file that failed


def test_submit_raises_a_failure_that_has_happened() -> None:
    queue = WriteBehind()
    queue.submit(lambda: 1 / 0)
    time.sleep(0.2)
    with pytest.raises(ZeroDivisionError):
        queue.submit(lambda: None)
    queue.close()


def test_the_caller_waits_once_the_queued_bytes_pass_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(behind, "QUEUED_BYTES", 10)
    release = threading.Event()
    queue = WriteBehind()
    queue.submit(release.wait, size=8)
    queue.submit(lambda: None, size=8)  # 16 bytes queued now: past the bound
    waited = threading.Event()

    def third() -> None:
        queue.submit(lambda: None)
        waited.set()

    caller = threading.Thread(target=third)
    caller.start()
    assert not waited.wait(0.3)  # held back until the first write has run
    release.set()
    caller.join(5)
    assert waited.is_set()
    queue.close()


def test_inline_runs_at_once() -> None:
    ran: list[int] = []
    behind.INLINE.submit(ran.append, 1)
    assert ran == [1]
