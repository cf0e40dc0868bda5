"""The independent reader's virtual environment: DuckDB 1.5 with its iceberg extension wheels.

The project's own DuckDB (1.4+/2.x) downloads extensions at run time, which fails offline;
the registry has the extension as wheels for DuckDB 1.5 only, so the reader lives in a venv
of its own. ``$EVALS_ETL_ICEBERG_READER`` names its python (CI creates it, see .ci/run);
otherwise the tests create it once in the temporary folder (one pip install, about 20 s)
and reuse it. Without a registry it cannot be made: the tests skip, saying so, unless
``EVALS_ETL_REQUIRE_ICEBERG_READER=1``.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

DUCKDB = "1.5.5"
PACKAGES = [f"duckdb=={DUCKDB}", f"duckdb-extension-iceberg=={DUCKDB}",
            f"duckdb-extension-avro=={DUCKDB}", f"duckdb-extension-httpfs=={DUCKDB}"]
ENV, REQUIRE = "EVALS_ETL_ICEBERG_READER", "EVALS_ETL_REQUIRE_ICEBERG_READER"
SCRIPT = Path(__file__).with_name("duckdb_iceberg_reader.py")


def reader_python() -> Path:
    given = os.environ.get(ENV)
    if given:
        return Path(given)
    venv = Path(tempfile.gettempdir()) / f"evals-etl-duckdb-iceberg-{DUCKDB}"
    python = venv / "bin" / "python"
    with open(f"{venv}.lock", "w") as lock:  # pytest-xdist workers: one of them builds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            _build(venv)
    return python


def _build(venv: Path) -> None:
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
              "--disable-pip-version-check", *PACKAGES]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            reason = (f"cannot build the independent Iceberg reader ({' '.join(PACKAGES)}): "
                      f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
            if os.environ.get(REQUIRE) == "1":
                pytest.fail(reason)
            pytest.skip(reason)
    (venv / ".complete").write_text("ok\n")


def read(request: dict[str, Any]) -> dict[str, Any]:
    """Run the reader on ``request``; its answer (see duckdb_iceberg_reader.py)."""
    done = subprocess.run([str(reader_python()), str(SCRIPT)], input=json.dumps(request),
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": os.environ.get("PATH", "")})  # no AWS_*: the secret says
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer
