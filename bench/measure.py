"""Run one contender as a child process and measure it: wall time, CPU seconds, peak RSS.

CPU comes from the kernel's resource usage of the reaped child (``wait4``), which includes
every descendant the child itself waited for, so worker processes are counted. Peak RSS is
the larger of the child's own ``ru_maxrss`` and the highest sum of RSS over the live process
tree, sampled every 50 ms by psutil (a sum over processes counts pages they share twice).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]

SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class Usage:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float  # the larger of the tree sum and the largest single process
    max_process_rss_mb: float  # the largest single process (ru_maxrss)
    exit_code: int


def run_measured(argv: Sequence[str], *, env: Mapping[str, str], log: Path,
                 cwd: Path | None = None, timeout: float | None = None) -> Usage:
    """Run ``argv`` to completion with stdout and stderr in ``log``; measure it.

    After ``timeout`` seconds the child's process group is killed (exit code -9).
    """
    done = threading.Event()
    box: dict[str, object] = {}
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=dict(env), stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)

    def reap() -> None:
        # A thread blocks on wait4 so the wall time ends when the child does, not at the
        # next sample.
        _, status, rusage = os.wait4(proc.pid, 0)
        box.update(ended=time.perf_counter(), status=status, rusage=rusage)
        done.set()

    waiter = threading.Thread(target=reap, name="bench-reaper", daemon=True)
    waiter.start()
    peak = 0
    root = psutil.Process(proc.pid)
    while not done.is_set():
        peak = max(peak, tree_rss(root))
        if timeout is not None and time.perf_counter() - started > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the whole tree
        done.wait(SAMPLE_SECONDS)
    waiter.join()
    status = int(box["status"])  # type: ignore[call-overload]
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by the thread
    rusage = box["rusage"]
    cpu = rusage.ru_utime + rusage.ru_stime  # type: ignore[attr-defined]
    largest = rusage.ru_maxrss * 1024  # type: ignore[attr-defined]
    wall = float(box["ended"]) - started  # type: ignore[arg-type]
    return Usage(round(wall, 3), round(cpu, 2), round(max(peak, largest) / 2**20, 1),
                 round(largest / 2**20, 1), proc.returncode)


def tree_rss(root: psutil.Process) -> int:
    """RSS of a process and all its descendants, in bytes (0 once it is gone)."""
    total = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total
