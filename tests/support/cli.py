"""The command line as an operator runs it: ``python -m etl ...`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etl.crashpoints import ENV as CRASH_ENV

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
        ) -> subprocess.CompletedProcess[str]:
    """``evals-etl ARGS`` with this interpreter; the crash hook never leaks in from outside."""
    environ = {**os.environ, **(env or {})}
    if CRASH_ENV not in (env or {}):
        environ.pop(CRASH_ENV, None)
    return subprocess.run([sys.executable, "-m", "etl", *args], env=environ, cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=timeout)


def export(url: str, out: Path, *extra: str, key: str, workspace: str = "acme",
           env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A JSON-logging export with fast retries (a config file: retries have no flags)."""
    config = out.parent / f"{out.name}.toml"
    config.write_text("[crawl]\nbackoff_base = 0.01\nbackoff_max = 0.05\nmax_attempts = 2\n"
                      "not_done_seconds = 0.5\n[api]\nconnect_timeout = 2.0\n"
                      "total_timeout = 10.0\n")
    return run("export", "--config", str(config), "--workspace", workspace, "--api-url", url,
               "--out", str(out), "--log-format", "json", "--concurrency", "4", *extra,
               env={"ROBOFLOW_API_KEY": key, **(env or {})})


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line as JSON: raises if one is not."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
