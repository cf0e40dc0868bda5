"""The warehouse side of a load: one connection's DDL, load state and unit replacement.

State lives in the warehouse (``_evals_etl_loads``: a fingerprint per table and unit;
``_evals_etl_history``: one row per load; ``_evals_etl_schema``: the schema versions applied),
so a load from any machine knows what the last one wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from etl import crashpoints, schemas
from etl.errors import ConfigError, LockHeldError, PublishError
from etl.store import publish
from etl.warehouse.dataset import Dataset, Unit, unit_expr, unit_filter, unit_key
from etl.warehouse.dialects import Dialect

LOADS, VERSIONS, HISTORY = "_evals_etl_loads", "_evals_etl_schema", "_evals_etl_history"
VIEWS = "_evals_etl_views"  # the analyst views created from sql/ (etl.warehouse.marts)
STAGE, KEYS = "_evals_etl_stage", "_evals_etl_keys"


def _schema_version() -> int:
    """The snapshots' ``schema_version`` (its first 48 bits) as the integer the warehouse keeps.

    It changes whenever a table, column, type, nullability or grain changes, and an operator
    can match a warehouse's version to a manifest: ``f"{version:012x}"`` is its prefix.
    """
    return int(publish.schema_version()[:12], 16)


SCHEMA_VERSION = _schema_version()

# The warehouse's own bookkeeping, typed like data tables so one DDL generator serves all.
_META: dict[str, tuple[pa.Schema, tuple[str, ...]]] = {
    VERSIONS: (pa.schema([pa.field("version", pa.int64(), False),
                          pa.field("applied_at", schemas.TIMESTAMP, False)]), ()),
    LOADS: (pa.schema([pa.field("table_name", pa.string(), False),
                       # The unit's key: an eval id, or in `runs` a run id. Named `eval_id`
                       # before `unit` existed; both hold the key so older loaders still work.
                       pa.field("eval_id", pa.string(), False),
                       pa.field("fingerprint", pa.string(), False),
                       pa.field("loaded_at", schemas.TIMESTAMP, False),
                       pa.field("unit", pa.string()),
                       # Whose unit: a load removes only units of the workspaces it brings,
                       # so several folders (or workspaces) can share one schema.
                       pa.field("workspace", pa.string())]), ("table_name", "eval_id")),
    HISTORY: (pa.schema([pa.field("loaded_at", schemas.TIMESTAMP, False),
                         pa.field("dataset_run_id", pa.string()),
                         pa.field("snapshot", pa.string()),
                         pa.field("schema_version", pa.int64(), False),
                         pa.field("replaced", pa.int64(), False),
                         pa.field("removed", pa.int64(), False),
                         pa.field("rows_inserted", pa.int64(), False)]), ()),
    VIEWS: (pa.schema([pa.field("name", pa.string(), False),
                       pa.field("position", pa.int64(), False),  # build order
                       pa.field("fingerprint", pa.string(), False),
                       pa.field("created_at", schemas.TIMESTAMP, False)]), ("name",)),
}



@dataclass(frozen=True)
class LoadResult:
    target: str  # masked
    schema: str
    run_id: str | None
    replaced: int  # (table, eval) units whose rows were replaced
    removed: int  # units deleted because they left the dataset
    unchanged: int
    rows_inserted: int
    migrated: tuple[str, ...] = ()
    seconds: float = 0.0
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (replaced, removed)
    views: int = 0  # analyst views (re)created because their SQL changed

    @property
    def noop(self) -> bool:
        return not (self.replaced or self.removed or self.migrated or self.views)

    def __str__(self) -> str:
        where = f"{self.target} schema {self.schema} (dataset run {self.run_id or '?'})"
        schema = f"; schema: {', '.join(self.migrated)}" if self.migrated else ""
        schema += f"; {self.views} views created" if self.views else ""
        if self.noop:
            return (f"warehouse {where}: up to date, {self.unchanged} table×eval units unchanged, "
                    f"nothing written ({self.seconds:.1f} s)")
        return (f"warehouse {where}: {self.replaced} table×eval units replaced "
                f"({self.rows_inserted:,} rows), "
                f"{self.removed} removed, {self.unchanged} unchanged{schema} ({self.seconds:.1f} s)")



class Warehouse:
    """One connection's view of the target schema: DDL, load state and unit replacement."""

    def __init__(self, conn: Any, cur: Any, dialect: Dialect, schema: str) -> None:
        self.conn, self.cur, self.dialect, self.schema = conn, cur, dialect, schema

    def ref(self, name: str) -> str:
        return self.dialect.ref(self.schema, name)

    def commit(self) -> None:
        if self.dialect.transactional:
            self.conn.commit()

    def rollback(self) -> None:
        if self.dialect.transactional:
            self.conn.rollback()

    def lock(self) -> None:
        if self.dialect.lock_sql is None:
            return
        self.cur.execute(self.dialect.lock_sql.format(schema=self.schema))
        (held,) = self.cur.fetchone()
        self.commit()
        if not held:
            raise LockHeldError(f"another evals-etl load into schema {self.schema} is running")

    # -- schema

    def migrate(self) -> list[str]:
        """Create what is missing and add new columns; stop on a type the code disagrees with."""
        existing = self.existing_tables()
        if existing is None:
            # Only when missing: creating a schema needs a right a loader may well not have.
            self.cur.execute(f"create schema if not exists {self.dialect.quote(self.schema)}")
        for name, (columns, grain) in _META.items():
            if name not in (existing or ()):
                for sql in self.dialect.create_table(self.schema, name, columns, grain):
                    self.cur.execute(sql)
            else:
                self._add_meta_columns(name, columns)
        self.cur.execute(f"select version from {self.ref(VERSIONS)} order by applied_at desc limit 1")
        row = self.cur.fetchone()
        if row is not None and row[0] == SCHEMA_VERSION:
            self.commit()
            return []
        try:
            statements, changes = self._plan_migration()
        except ConfigError:
            self.rollback()
            raise
        for sql in statements:
            self.cur.execute(sql)
        self._append(VERSIONS, {"version": [SCHEMA_VERSION], "applied_at": [_now()]})
        self.commit()
        return changes

    def _add_meta_columns(self, name: str, columns: pa.Schema) -> None:
        """Bookkeeping columns added since the table was created (additive, filled in)."""
        found = self.conn.adbc_get_table_schema(name, db_schema_filter=self.schema)
        for f in columns:
            if f.name not in found.names:
                self.cur.execute(self.dialect.add_column(self.schema, name, f))
        if name == LOADS and "unit" not in found.names:
            self.cur.execute(f"update {self.ref(LOADS)} set unit = eval_id where unit is null")
        if name == LOADS and "workspace" not in found.names:
            self._fill_load_workspaces()

    def _fill_load_workspaces(self) -> None:
        """Load state written before it recorded workspaces: read them from the loaded rows."""
        existing = self.existing_tables() or set()
        for table in schemas.TABLES.values():
            if table.name not in existing:
                continue
            key = self.dialect.quote(unit_key(table))
            self.cur.execute(
                f"update {self.ref(LOADS)} set workspace = t.ws from (select {key} as k, "
                f"min(workspace) as ws from {self.ref(table.name)} group by {key}) t "
                f"where {self.ref(LOADS)}.table_name = '{table.name}' "
                f"and {self.ref(LOADS)}.eval_id = t.k")

    def _plan_migration(self) -> tuple[list[str], list[str]]:
        existing = self.existing_tables() or set()
        statements: list[str] = []
        created, added, problems = [], [], []
        new_columns: set[str] = set()
        for table in schemas.TABLES.values():
            if table.name not in existing:
                statements += self.dialect.create_table(self.schema, table.name, table.schema,
                                                        table.grain)
                statements.append(self._forget(table.name))  # state left by a dropped table
                created.append(table.name)
                continue
            found = self.conn.adbc_get_table_schema(table.name, db_schema_filter=self.schema)
            for f in table.schema:
                if f.name not in found.names:
                    statements.append(self.dialect.add_column(self.schema, table.name, f))
                    added.append(f"{table.name}.{f.name}")
                    new_columns.add(table.name)
                elif not self.dialect.same_type(f.type, found.field(f.name).type):
                    problems.append(f"{table.name}.{f.name} is {found.field(f.name).type} in the "
                                    f"warehouse but {f.type} in this evals-etl")
            unknown = [n for n in found.names if n not in table.schema.names]
            problems += [f"{table.name}.{n} exists in the warehouse but not in this evals-etl "
                         "(was it loaded by a newer version?)" for n in unknown]
        # Rows loaded before a column existed lack its values: reload those tables.
        statements += [self._forget(name) for name in sorted(new_columns)]
        if problems:
            raise ConfigError(
                f"warehouse schema {self.schema} cannot be migrated additively: "
                + "; ".join(problems)
                + ". Migrate it by hand, or load into a new --schema.")
        changes = [f"created {len(created)} tables"] if created else []
        changes += [f"added columns {', '.join(added)}"] if added else []
        return statements, changes

    def _forget(self, table: str) -> str:
        return f"delete from {self.ref(LOADS)} where table_name = '{table}'"

    def existing_tables(self) -> set[str] | None:
        """Table names in the schema; None when the schema does not exist."""
        # The filter is a LIKE pattern ("_" matches any character): compare names exactly.
        objects = self.conn.adbc_get_objects(depth="tables", db_schema_filter=self.schema)
        names: set[str] | None = None
        for catalog in objects.read_all().to_pylist():
            for db_schema in catalog["catalog_db_schemas"] or []:
                if db_schema["db_schema_name"] == self.schema:
                    names = (names or set()) | {t["table_name"] for t in
                                                 db_schema["db_schema_tables"] or []}
        return names

    # -- data

    def load_state(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(table, unit) -> (fingerprint, workspace) of every unit loaded so far."""
        self.cur.execute(f"select table_name, coalesce(unit, eval_id), fingerprint, workspace "
                         f"from {self.ref(LOADS)}")
        state = {(t, k): (fp, ws) for t, k, fp, ws in self.cur.fetchall()}
        self.commit()
        return state

    def sync(self, dataset: Dataset, chunk_rows: int) -> LoadResult:
        state = self.load_state()
        replaced = removed = unchanged = rows = 0
        per_table: dict[str, tuple[int, int]] = {}
        with duckdb.connect() as con:
            every = {t.name: dataset.units(con, t) for t in schemas.TABLES.values()}
            # The workspaces this dataset speaks for: another folder's units stay loaded.
            present = {u.workspace for units in every.values() for u in units.values()}
            for table in schemas.TABLES.values():
                units = every[table.name]
                recorded = {k: v for (t, k), v in state.items() if t == table.name}
                stale = [u for k, u in sorted(units.items())
                         if recorded.get(k, ("", None))[0] != u.fingerprint]
                gone = sorted(k for k, (_, ws) in recorded.items()
                              if k not in units and (ws is None or ws in present))
                for chunk in _chunks(stale, chunk_rows):
                    rows += self.replace_units(table, dataset, chunk)
                if gone:
                    self.remove_units(table, gone)
                replaced, removed = replaced + len(stale), removed + len(gone)
                unchanged += len(units) - len(stale)
                if stale or gone:
                    per_table[table.name] = (len(stale), len(gone))
        return LoadResult("", self.schema, dataset.run_id, replaced, removed, unchanged, rows,
                          tables=per_table)

    def replace_units(self, table: schemas.Table, dataset: Dataset, units: list[Unit]) -> int:
        """One transaction: the chunk's rows and load-state entries, old out and new in."""
        key = unit_key(table)
        keys = [u.key for u in units]
        self._stage_keys(keys, [u.fingerprint for u in units], [u.workspace for u in units])
        self._delete(table, key)
        scanner = dataset.arrow(table).scanner(columns=table.columns,
                                               filter=unit_filter(table, keys))
        inserted = self.cur.adbc_ingest(STAGE, scanner.to_reader(), mode="replace",
                                        **self.dialect.stage_options(self.schema))
        expected = sum(u.rows for u in units)
        if inserted not in (expected, -1):
            self.rollback()
            raise PublishError(f"{table.name}: staged {inserted} rows, expected {expected}; "
                               "did the published dataset change during the load?")
        crashpoints.reach("load-staged")
        cols = ", ".join(self.dialect.quote(c) for c in table.columns)
        self.cur.execute(f"insert into {self.ref(table.name)} ({cols}) "
                         f"select {cols} from {self.dialect.stage_ref(self.schema, STAGE)}")
        self.cur.execute(f"insert into {self.ref(LOADS)} "
                         f"(table_name, eval_id, unit, fingerprint, loaded_at, workspace) "
                         f"select '{table.name}', unit, unit, fingerprint, current_timestamp, "
                         f"workspace "
                         f"from {self.dialect.stage_ref(self.schema, KEYS)}")
        self._drop_stages(STAGE, KEYS)
        crashpoints.reach("load-replaced")
        self.commit()
        crashpoints.reach("load-committed")
        return expected

    def remove_units(self, table: schemas.Table, keys: list[str]) -> None:
        self._stage_keys(keys, [""] * len(keys))
        self._delete(table, unit_key(table))
        self._drop_stages(KEYS)
        self.commit()

    def _stage_keys(self, keys: list[str], fingerprints: list[str],
                    workspaces: list[str | None] | None = None) -> None:
        # Keys travel as Arrow, never spliced into SQL: no quoting rules differ by dialect.
        batch = pa.table({"unit": pa.array(keys, pa.string()),
                          "fingerprint": pa.array(fingerprints, pa.string()),
                          "workspace": pa.array(workspaces or [None] * len(keys), pa.string())})
        self.cur.adbc_ingest(KEYS, batch, mode="replace", **self.dialect.stage_options(self.schema))

    def _delete(self, table: schemas.Table, key: str) -> None:
        keys = f"(select unit from {self.dialect.stage_ref(self.schema, KEYS)})"
        # Load state first: on a warehouse without transactions a crash then means "reload".
        self.cur.execute(f"delete from {self.ref(LOADS)} where table_name = '{table.name}' "
                         f"and eval_id in {keys}")
        expr = unit_expr(table, quote=self.dialect.quote_char)
        self.cur.execute(f"delete from {self.ref(table.name)} where {expr} in {keys}")

    def _drop_stages(self, *names: str) -> None:
        for name in names:
            self.cur.execute(f"drop table if exists {self.dialect.stage_ref(self.schema, name)}")

    def record(self, dataset: Dataset, result: LoadResult) -> None:
        """One history row per load, no-ops included, so "did last night's load run?" has an answer."""
        self._append(HISTORY, {
            "loaded_at": [_now()], "dataset_run_id": [dataset.run_id], "snapshot": [dataset.snapshot],
            "schema_version": [SCHEMA_VERSION], "replaced": [result.replaced],
            "removed": [result.removed], "rows_inserted": [result.rows_inserted]})
        self.commit()

    def append(self, name: str, columns: dict[str, list[Any]]) -> None:
        """Rows into one of the warehouse's own bookkeeping tables."""
        self._append(name, columns)

    def _append(self, name: str, columns: dict[str, list[Any]]) -> None:
        schema, _ = _META[name]
        self.cur.adbc_ingest(name, pa.table(columns, schema=schema), mode="append",
                             db_schema_name=self.schema)


def _chunks(units: list[Unit], limit: int) -> Iterator[list[Unit]]:
    chunk: list[Unit] = []
    size = 0
    for unit in units:
        if chunk and size + unit.rows > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(unit)
        size += unit.rows
    if chunk:
        yield chunk


def _now() -> datetime:
    return datetime.now(UTC)
