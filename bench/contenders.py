"""The contenders: how to start each one against the simulator, and what it wrote.

Each runs as ``python -m ...`` from the repository root, so interpreter start-up and imports
count for everyone, as they would for a nightly job.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import STARTED_WITH
from bench.sim_process import SimProcess

CONCURRENCY = 32
ROOT = Path(__file__).resolve().parent.parent
_BOOKKEEPING = {"panel_status", "runs"}


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    concurrency: int  # requests in flight at most: the C of the R x L / C bound
    argv: Callable[[SimProcess, Path], list[str]]
    rows: Callable[[Path], int | None]
    sdk_env: bool = False  # the SDK takes its base URL from API_URL
    root: Path = ROOT  # its working folder and PYTHONPATH: a baseline's is its worktree
    etl: bool = False  # an evals-etl export: its log has the run summary (crawl seconds)


def etl_argv(sim: SimProcess, out: Path, *, full_refresh: bool = True,
             profile: Path | None = None) -> list[str]:
    """``python -m etl export ...``; under cProfile (``-m cProfile -o FILE``) with ``profile``."""
    python = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
    argv = [*python, "-m", "etl", "export", "--workspace", sim.workspace,
            "--api-url", sim.url, "--out", str(out), "--concurrency", str(CONCURRENCY),
            "--log-format", "json"]
    return argv + ["--full-refresh"] if full_refresh else argv


def etl_rows(out: Path) -> int | None:
    """Rows of the published data tables (the run bookkeeping tables left out)."""
    manifest = (out / "tables").resolve().parent / "manifest.json"
    if not manifest.exists():
        return None
    rows: dict[str, int] = json.loads(manifest.read_text())["rows"]
    return sum(n for table, n in rows.items() if table not in _BOOKKEEPING)


def etl_summary(log: Path) -> dict[str, float] | None:
    """The run's summary line: evals exported and listed, requests, crawl seconds.

    The crawl's duration excludes start-up and publish, which come before and after it.
    """
    found = re.findall(r"(\d+) of (\d+) evals exported, (\d+) requests \((\d+) retries\)"
                       r".*?, (\d+(?:\.\d+)?) s, run ", log.read_text(errors="replace"))
    if not found:
        return None
    exported, listed, requests, retries, seconds = found[-1]
    return {"evals_exported": int(exported), "evals_listed": int(listed),
            "requests": int(requests), "retries": int(retries), "crawl_s": float(seconds)}


def etl_crawl_seconds(log: Path) -> float | None:
    summary = etl_summary(log)
    return None if summary is None else summary["crawl_s"]


def dlt_argv(mode: str) -> Callable[[SimProcess, Path], list[str]]:
    def argv(sim: SimProcess, out: Path) -> list[str]:
        return [sys.executable, "-m", "bench.dlt_pipeline", "--api-url", sim.url,
                "--workspace", sim.workspace, "--out", str(out), "--mode", mode]

    return argv


def dlt_rows(out: Path) -> int | None:
    """Rows of every table dlt loaded (its child tables included, its own _dlt_ tables not)."""
    import duckdb

    path = out / "dlt.duckdb"
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'roboflow'"
        ).fetchall() if not t.startswith("_dlt")]
        total = 0
        for table in tables:
            row = con.execute(f'select count(*) from roboflow."{table}"').fetchone()
            total += int(row[0]) if row else 0
        return total


def sdk_argv(sim: SimProcess, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench.sdk_loop", "--workspace", sim.workspace,
            "--out", str(out)]


def probe_argv(sim: SimProcess, out: Path) -> list[str]:
    return [sys.executable, "-m", "bench.probe", "--api-url", sim.url,
            "--workspace", sim.workspace]


def no_rows(out: Path) -> int | None:
    return None  # the SDK loop writes JSON documents, the probe nothing


CONTENDERS: dict[str, Contender] = {c.key: c for c in (
    Contender("etl", "evals-etl export", CONCURRENCY, etl_argv, etl_rows, etl=True),
    Contender("probe", "floor: bare aiohttp client", CONCURRENCY, probe_argv, no_rows),
    Contender("dlt-tuned", "dlt rest_api (tuned)", CONCURRENCY, dlt_argv("tuned"), dlt_rows),
    Contender("dlt-default", "dlt rest_api (default)", 1, dlt_argv("default"), dlt_rows),
    Contender("sdk", "roboflow SDK loop", 1, sdk_argv, no_rows, sdk_env=True),
)}


def child_env(sim: SimProcess, contender: Contender) -> dict[str, str]:
    env = {k: v for k, v in STARTED_WITH.items()
           if not k.startswith(("ROBOFLOW_", "API_URL", "DLT_", "EXTRACT__", "SOURCES__"))}
    env["ROBOFLOW_API_KEY"] = sim.api_key
    env["PYTHONPATH"] = str(contender.root)
    if contender.sdk_env:
        env["API_URL"] = sim.url
    return env


def output_mb(out: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(out):
        for name in files:
            path = Path(dirpath, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return round(total / 2**20, 1)
