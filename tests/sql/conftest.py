"""Given/expect helpers for the SQL tests: hand-written rows in, a built evals.duckdb out."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import schemas, views

FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
Rows = Sequence[Mapping[str, Any]]


def write_tables(tables_dir: Path, given: Mapping[str, Rows]) -> None:
    """Write every table of the schema (zero-row files for those not given), filling lineage.

    Rows default to workspace ``ws``, eval ``e1`` and run ``r1``; a row may override them.
    """
    lineage = {"workspace": "ws", "eval_id": "e1", "run_id": "r1", "fetched_at": FETCHED_AT}
    for name, table in schemas.TABLES.items():
        full = [{k: v for k, v in {**lineage, **row}.items() if k in table.columns}
                for row in given.get(name, [])]
        folder = tables_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(full, schema=table.schema), folder / "data.parquet")


@dataclass(frozen=True)
class Db:
    path: Path

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """The result of ``sql`` as dicts (through ``views.query``'s JSON lines)."""
        out = views.query(self.path, sql, "json")
        return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def given(tmp_path: Path) -> Callable[[Mapping[str, Rows]], Db]:
    """``given({"table": [row, ...]})`` → a database built over exactly those rows."""

    def _given(tables: Mapping[str, Rows]) -> Db:
        write_tables(tmp_path / "tables", tables)
        db = tmp_path / "evals.duckdb"
        views.build_database(db, tmp_path / "tables")
        return Db(db)

    return _given
