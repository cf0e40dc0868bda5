"""Named crash points: a test hook that kills the process at an exact step of a run.

The crash-matrix tests run an export or a publish in a subprocess with
``EVALS_ETL_CRASH_AT=<name>``; when the run reaches ``reach(name)`` the process dies at once
with ``os._exit(137)`` (the status of a SIGKILL): no ``finally``, no ``atexit``, no flush,
exactly like a power cut or the OOM killer. The tests then check that the published
dataset is the old or the new one and that the next run recovers.

Points, in the order a run reaches them:

    publish: staged → snapshot-written → views-built → tables-switched → switched → cleaned

``export`` adds its own crawl points. Outside tests the variable is unset and ``reach`` is a
dictionary lookup.
"""

from __future__ import annotations

import os

ENV = "EVALS_ETL_CRASH_AT"
EXIT_STATUS = 137


def reach(name: str) -> None:
    """Die now if the crash matrix asked to crash at ``name``."""
    if os.environ.get(ENV) == name:
        os._exit(EXIT_STATUS)
