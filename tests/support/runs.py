"""Run real exports against a real simulator, and read what they published."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pyarrow as pa
import pyarrow.parquet as pq

from etl.config import ApiConfig, Config, CrawlConfig, OutputConfig, Secret
from etl.export import RunSummary, run_export
from etl.progress import Reporter
from etl.schemas import TABLES
from etl.simulator import SimHandle, SimOptions, serve_in_thread

# Fast retries: the policy is the same, only the clock is shorter.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "not_done_seconds": 2.0}
LINEAGE_OF_A_RUN = ("run_id", "fetched_at")


@contextmanager
def simulator(**options: Any) -> Iterator[SimHandle]:
    with serve_in_thread(replace(SimOptions(), **options)) as sim:
        yield sim


def config(sim: SimHandle, out: Path, *, key: str | None = None, full_refresh: bool = False,
           **crawl: Any) -> Config:
    return Config(
        workspace=sim.options.workspace,
        api=ApiConfig(url=sim.url, key=Secret(key or sim.options.api_key), read_timeout=5,
                      total_timeout=10),
        crawl=CrawlConfig(**{**FAST, "concurrency": 8, **crawl}),
        output=OutputConfig(out=out, keep=2),
        log_format="json",
        full_refresh=full_refresh,
    )


def export(sim: SimHandle, out: Path, *, log: Path | None = None, **kwargs: Any) -> RunSummary:
    stream = (log or out.parent / f"{out.name}.log").open("a", encoding="utf-8")
    try:
        return anyio.run(run_export, config(sim, out, **kwargs), Reporter("json", stream))
    finally:
        stream.close()


def table(out: Path, name: str) -> pa.Table:
    return pq.read_table(out / "tables" / name)


def content(out: Path, name: str) -> list[tuple[Any, ...]]:
    """A table's rows without the columns that only say which run fetched them, sorted."""
    data = table(out, name)
    keep = [c for c in data.column_names if c not in LINEAGE_OF_A_RUN]
    rows = data.select(keep).to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def dataset(out: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's content (not the run bookkeeping)."""
    return {name: content(out, name) for name in TABLES if name not in ("runs", "panel_status")}
