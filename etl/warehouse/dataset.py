"""The dataset side of a load: the published snapshot, and each table's units with fingerprints.

A unit is what the warehouse replaces as a whole: the rows of one eval in one table (``runs``:
one run). Its fingerprint is computed in DuckDB over the Arrow dataset, so the snapshot is
read once and never held in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pds

from etl import schemas
from etl.errors import PublishError
from etl.store import publish


@dataclass(frozen=True)
class Unit:
    key: str  # eval_id (runs: run_id)
    rows: int
    fingerprint: str
    workspace: str | None = None  # whose rows: a load replaces only the workspaces it brings


@dataclass(frozen=True)
class Dataset:
    """The published snapshot a load reads; the symlink is resolved once, at open."""

    tables_dir: Path
    run_id: str | None
    snapshot: str

    @classmethod
    def open(cls, out: Path) -> Dataset:
        snapshot = publish.current_snapshot(out)
        if snapshot is None:
            raise PublishError(f"nothing published in {out} yet; run `evals-etl export` first")
        run_id = publish.read_manifest(snapshot).get("run_id")
        return cls(snapshot.resolve() / publish.LINK, run_id, snapshot.name)

    def arrow(self, table: schemas.Table) -> pds.Dataset:
        folder = self.tables_dir / table.name
        if not folder.is_dir():
            raise PublishError(f"the published dataset has no {table.name!r} table ({folder})")
        # The declared schema, not the files', so columns added since a file was written
        # read as NULL and every type is the contract's.
        return pds.dataset(folder, schema=table.schema, format="parquet", partitioning="hive")

    def units(self, con: duckdb.DuckDBPyConnection, table: schemas.Table) -> dict[str, Unit]:
        """Row count and content fingerprint of every eval (runs: run) in ``table``."""
        con.register("source", self.arrow(table))
        try:
            cols = ", ".join(f'"{c}"' for c in table.columns)
            rows = con.execute(
                f"select {unit_expr(table)}, count(*), sum(hash({cols})::hugeint)::varchar, "
                f"string_agg(distinct run_id, ',' order by run_id), min(workspace) "
                f"from source group by 1"
            ).fetchall()
        except (duckdb.Error, pa.ArrowException) as exc:
            raise PublishError(f"cannot read the published {table.name!r} table: {exc}") from exc
        finally:
            con.unregister("source")
        return {k: Unit(k, n, _fingerprint(n, digest, runs), ws)
                for k, n, digest, runs, ws in rows}


def unit_key(table: schemas.Table) -> str:
    return "eval_id" if "eval_id" in table.columns else table.grain[0]


# Rows with no eval of their own (a project version's compare rows: eval_id '') are one unit
# per workspace, so two workspaces' version rows never replace each other's.
SCOPED = "@@workspace:"


def unit_expr(table: schemas.Table, quote: str = '"') -> str:
    """The SQL giving a row's unit key: its eval id (run id), else its workspace's scope."""
    key = f"{quote}{unit_key(table)}{quote}"
    return f"coalesce(nullif({key}, ''), '{SCOPED}' || coalesce(workspace, ''))"


def unit_filter(table: schemas.Table, keys: list[str]) -> pds.Expression:
    """The Arrow filter selecting the rows of ``keys`` (as :func:`unit_expr` names them)."""
    field = pds.field(unit_key(table))
    real = [k for k in keys if not k.startswith(SCOPED)]
    scoped = [k[len(SCOPED):] for k in keys if k.startswith(SCOPED)]
    chosen = field.isin(real)
    if scoped:
        chosen = chosen | ((field.is_null() | (field == "")) & pds.field("workspace").isin(scoped))
    return chosen


def _fingerprint(rows: int, digest: str, runs: str) -> str:
    return hashlib.sha256(f"{rows}|{digest}|{runs}".encode()).hexdigest()[:32]
