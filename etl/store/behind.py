"""Parquet writes run behind the caller, in order, on one worker thread.

pyarrow encodes and compresses a row group without holding the GIL, so handing the write to
a thread lets the second core do it while the event loop goes on reading and normalizing
the next responses. Writes run in the order they were handed over; the data waiting is at
most :data:`QUEUED_BYTES`, so memory stays bounded (past it, the caller waits). The first write
that fails is raised by the next call to :meth:`WriteBehind.submit` or :meth:`drain`: a
full disk stops the run one write later than it would inline, never not at all. Nothing
submitted after a failed write runs.

What must follow a write is queued after it rather than waited for: a part is renamed into
place, and the checkpoint journal names it, only once the close before it has run. So the
event loop never waits at a checkpoint; only :meth:`WriteBehind.close` (the end of the
crawl, before publish reads the files) waits for everything. :data:`INLINE` runs every write
at once, for tools that want no thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

QUEUED_BYTES = 16 * 1024 * 1024  # a row group or two (staging buffers 8 MB, archive 16 MB)


class WriteBehind:
    """One thread that runs submitted writes in order; :meth:`drain` waits for them all."""

    def __init__(self, *, thread: bool = True) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evals-etl-write") if thread \
            else None
        self._pending: deque[tuple[Future[Any], int]] = deque()
        self._queued = 0
        self._broken = False  # read and written on the thread only

    def submit(self, write: Callable[..., Any], *args: Any, size: int = 0,
               **kwargs: Any) -> None:
        """Run ``write(*args, **kwargs)`` after everything submitted before it.

        ``size`` is the bytes the call holds until it has run (a table to write).
        """
        if self._pool is None:
            write(*args, **kwargs)
            return
        while self._pending and (self._pending[0][0].done() or self._queued > QUEUED_BYTES):
            self._wait_oldest()  # raises a failed write's error, in order
        self._pending.append((self._pool.submit(self._run, write, *args, **kwargs), size))
        self._queued += size

    def _run(self, write: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """On the thread: ``write``, unless one before it failed. What follows a failed write
        (the close of its file, the journal line naming it) must not happen: the run stops
        with that failure, and a journal must never name a file that is not whole."""
        if self._broken:
            return None
        try:
            return write(*args, **kwargs)
        except BaseException:
            self._broken = True
            raise

    def drain(self) -> None:
        """Wait until everything submitted has run; raise the first that failed."""
        while self._pending:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        future, size = self._pending.popleft()
        self._queued -= size
        future.result()

    def close(self) -> None:
        """Drain, then stop the thread (it stops even when a write failed)."""
        try:
            self.drain()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the thread once the write in progress ends; what was queued is dropped and a
        failure is not raised (for a caller that has raised one already)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        self._queued = 0


INLINE = WriteBehind(thread=False)
