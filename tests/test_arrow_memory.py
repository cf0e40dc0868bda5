"""Importing etl picks Arrow's allocator (etl/__init__.py), unless the user picked one."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = "import etl, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def _backend(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", SHOW], env={**environ, **env},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_arrow_allocates_with_malloc_by_default() -> None:
    assert _backend() == "system"


def test_the_users_choice_of_pool_stands() -> None:
    assert _backend(ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"
