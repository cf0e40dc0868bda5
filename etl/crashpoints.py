"""Named crash points: a test hook that kills the process at an exact step of a run.

The crash-matrix tests run an export or a publish in a subprocess with
``EVALS_ETL_CRASH_AT=<name>``; when the run reaches ``reach(name)`` the process dies at once
with ``os._exit(137)`` (the status of a SIGKILL): no ``finally``, no ``atexit``, no flush,
exactly like a power cut or the OOM killer. The tests then check that the published
dataset is the old or the new one and that the next run recovers.

Points, in the order a run reaches them:

    publish: staged → snapshot-written → views-built → tables-switched → switched → cleaned

``export`` adds its own crawl points. ``<name>:SIGTERM`` (any signal name) sends the process
that signal at the step instead, so the signal tests hit an exact step too. Outside tests
the variable is unset and ``reach`` is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "EVALS_ETL_CRASH_AT"
EXIT_STATUS = 137


def reach(name: str) -> None:
    """Die now (or signal ourselves) if a test asked for it at ``name``."""
    wanted = os.environ.get(ENV)
    if wanted is None:
        return
    step, _, signame = wanted.partition(":")
    if step != name:
        return
    if signame:
        os.kill(os.getpid(), signal.Signals[signame])
        return
    os._exit(EXIT_STATUS)
