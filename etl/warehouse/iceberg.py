"""``evals-etl load --to iceberg+…``: the published dataset into Apache Iceberg tables (pyiceberg).

One Iceberg table per table of ``etl.schemas``, in the namespace ``--schema`` names, with the
same semantics as the SQL loads: each table's units (the rows of one eval; ``runs``: one run)
are fingerprinted by ``etl.warehouse.dataset``; a unit whose fingerprint differs from the one
the table records is replaced, a unit gone from the dataset is deleted, and nothing else is
touched. Units belong to a workspace, so datasets of several workspaces can share a namespace.

Each table changes in ONE Iceberg commit: delete the stale units' rows, append their new rows
(streamed from the snapshot's Parquet, never held whole), record the fingerprints in the table
property ``evals-etl.units`` and tag the new snapshot with the export run id. The state lives
in the commit it describes, so a killed load leaves every table at a committed state, and the
next load (from any machine) does only what is left. A re-load of an unchanged dataset commits
nothing. Iceberg commits per table: the run manifest (``etl.warehouse.iceberg_manifest``),
written after every table, is what says a run's state is complete.

Crash points, per table: ``iceberg-staged`` (before its commit) → ``iceberg-committed`` and
``iceberg-committed-<table>``; then ``iceberg-tables-done`` → ``iceberg-run-written`` (the
run's manifest, before ``latest.json``).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pds
from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    In,
    Or,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.update.snapshot import ManageSnapshots

from etl import crashpoints, schemas
from etl.errors import PublishError
from etl.store import ownership, publish
from etl.warehouse import iceberg_manifest
from etl.warehouse.dataset import SCOPED, Dataset, Unit, unit_filter, unit_key
from etl.warehouse.iceberg_catalog import (
    PREFIX,
    Prepared,
    catalog_errors,
    ensure_table,
    open_catalog,
)
from etl.warehouse.iceberg_uri import IcebergUri
from etl.warehouse.target import SCHEMA_VERSION, LoadResult

STATE = PREFIX + "units"  # {workspace: {unit key: fingerprint}}, JSON
RUN, SNAPSHOT, VERSION = PREFIX + "run-id", PREFIX + "snapshot", PREFIX + "schema-version"
# pyiceberg cuts data files at batch boundaries: small batches let it cut near its target size.
BATCH_ROWS = 8192


@dataclass(frozen=True)
class TableLoad:
    """What one table's step did, and where the table now is (for the run manifest)."""

    name: str
    replaced: int
    removed: int
    unchanged: int
    rows: int
    snapshot_id: int | None
    metadata_location: str
    records: int  # rows in the table after the step
    changes: tuple[str, ...] = ()


def load(out: Path, uri: str, *, schema: str) -> LoadResult:
    """Bring namespace ``schema`` of the Iceberg catalog at ``uri`` to the dataset in ``out``."""
    target = IcebergUri.parse(uri)
    dataset = Dataset.open(out)
    started = time.monotonic()
    tag = dataset.run_id or dataset.snapshot
    scope = _workspaces(out, dataset)
    with catalog_errors(target):
        catalog = open_catalog(target)
        catalog.create_namespace_if_not_exists(schema)
        with duckdb.connect() as con:
            done = [_sync_table(ensure_table(catalog, schema, spec), spec, dataset, con, tag,
                                scope) for spec in schemas.TABLES.values()]
        crashpoints.reach("iceberg-tables-done")
        iceberg_manifest.record(catalog, schema, target, dataset, tag, done)
    return LoadResult(
        target.masked, schema, dataset.run_id, sum(t.replaced for t in done),
        sum(t.removed for t in done), sum(t.unchanged for t in done), sum(t.rows for t in done),
        migrated=_changes(done), seconds=time.monotonic() - started,
        tables={t.name: (t.replaced, t.removed) for t in done if t.replaced or t.removed})


def _changes(done: Sequence[TableLoad]) -> tuple[str, ...]:
    created = [c for t in done for c in t.changes if c.startswith("created ")]
    added = [c for t in done for c in t.changes if not c.startswith("created ")]
    return ((f"created {len(created)} tables",) if created else ()) + tuple(added)


def _workspaces(out: Path, dataset: Dataset) -> tuple[str, ...]:
    """Every workspace the dataset speaks for: its owners, and any its rows name."""
    marker = ownership.read_marker(out)
    found = set(marker.owners if marker else ())
    found |= publish.dataset_workspaces(dataset.tables_dir.parent)
    return tuple(sorted(found))


@dataclass(frozen=True)
class _Plan:
    stale: list[Unit]  # replaced: rows deleted, then appended anew
    gone: list[str]  # deleted
    state: dict[str, dict[str, str]]  # the table's state after the step
    reload: bool  # every row of the scope goes (columns were added)


def _sync_table(prepared: Prepared, spec: schemas.Table, dataset: Dataset,
                con: duckdb.DuckDBPyConnection, tag: str, scope: tuple[str, ...]) -> TableLoad:
    table = prepared.table
    units = dataset.units(con, spec)
    scope = tuple(sorted({*scope, *((u.workspace or '') for u in units.values())}))
    plan = _plan(table, units, scope, prepared.reload)
    current = table.metadata.current_snapshot_id
    properties = {STATE: _dump(plan.state), RUN: tag, SNAPSHOT: dataset.snapshot,
                  VERSION: f"{SCHEMA_VERSION:012x}"}
    writes = bool(plan.stale or plan.gone or plan.reload or current is None)
    tagged = table.metadata.refs.get(tag)
    if not writes and tagged is not None and tagged.snapshot_id == current and all(
            table.properties.get(k) == v for k, v in properties.items()):
        return _done(table, spec, plan, units, 0, prepared.changes)  # nothing to commit
    txn = table.transaction()
    rows = _write(txn, spec, dataset, plan, units, scope, tag) if writes else 0
    snapshot = txn.table_metadata.current_snapshot_id
    if snapshot is not None and (tagged is None or tagged.snapshot_id != snapshot):
        ManageSnapshots(txn).create_tag(snapshot, tag).commit()
    txn.set_properties(properties)
    crashpoints.reach("iceberg-staged")
    committed = txn.commit_transaction()
    crashpoints.reach("iceberg-committed")
    crashpoints.reach(f"iceberg-committed-{spec.name}")
    return _done(committed, spec, plan, units, rows, prepared.changes)


def _plan(table: Table, units: dict[str, Unit], scope: tuple[str, ...], reload: bool) -> _Plan:
    state = {} if reload else _load_state(table)
    stale: list[Unit] = []
    gone: list[str] = []
    after = {w: r for w, r in state.items() if w not in scope}
    for workspace in scope:
        recorded = state.get(workspace, {})
        mine = {k: u for k, u in units.items() if (u.workspace or "") == workspace}
        stale += [u for k, u in sorted(mine.items()) if recorded.get(k) != u.fingerprint]
        gone += sorted(set(recorded) - set(mine))
        if mine:
            after[workspace] = {k: u.fingerprint for k, u in sorted(mine.items())}
    return _Plan(stale, gone, after, reload)


def _write(txn: Transaction, spec: schemas.Table, dataset: Dataset, plan: _Plan,
           units: dict[str, Unit], scope: tuple[str, ...], tag: str) -> int:
    """Stage the delete and the append in ``txn``; the rows appended."""
    key = unit_key(spec)
    summary = {RUN: tag, PREFIX + "units-replaced": str(len(plan.stale)),
               PREFIX + "units-removed": str(len(plan.gone)),
               PREFIX + "rows-inserted": str(sum(u.rows for u in plan.stale))}
    doomed = _doomed(key, [u.key for u in plan.stale] + plan.gone, scope, plan.reload)
    if doomed is not None and txn.table_metadata.current_snapshot_id is not None:
        with warnings.catch_warnings():
            # "did not match any records": a new unit had no rows to delete; that is fine.
            warnings.simplefilter("ignore", UserWarning)
            txn.delete(doomed, snapshot_properties=summary)
    expected = sum(u.rows for u in plan.stale)
    source = dataset.arrow(spec)
    whole = len(plan.stale) == len(units)
    scanner = source.scanner(columns=spec.columns, batch_size=BATCH_ROWS, filter=None if whole else
                             unit_filter(spec, [u.key for u in plan.stale]))
    if plan.stale or txn.table_metadata.current_snapshot_id is None:
        # A first load appends even nothing: every table then has a snapshot to tag.
        txn.append(_reader(scanner, spec), snapshot_properties=summary)
        added = _added(txn)
        if added != expected:
            raise PublishError(f"{spec.name}: staged {added} rows, expected {expected}; did the "
                               "published dataset change during the load?")
    return expected


def _added(txn: Transaction) -> int:
    snapshot = txn.table_metadata.current_snapshot()
    summary = snapshot.summary if snapshot is not None else None
    return int((summary["added-records"] if summary is not None else 0) or 0)


def _doomed(key: str, keys: list[str], scope: tuple[str, ...],
            reload: bool) -> BooleanExpression | None:
    """The rows of ``keys`` (as ``dataset.unit_expr`` names them) in the scope's workspaces."""
    mine = _in("workspace", scope) if scope else AlwaysTrue()
    if reload:
        return mine
    real = [k for k in keys if not k.startswith(SCOPED)]
    scoped = [k.removeprefix(SCOPED) for k in keys if k.startswith(SCOPED)]
    chosen: BooleanExpression = _in(key, real) if real else AlwaysFalse()
    if scoped:  # rows of no eval (a version's compare rows): one unit per workspace
        # (the unit key is a required column: '' is the only "none" it can hold)
        chosen = Or(chosen, And(_in(key, [""]), _in("workspace", scoped)))
    return And(mine, chosen) if keys else None


def _in(column: str, values: Sequence[str]) -> BooleanExpression:
    # pydantic's synthesized __init__ hides In's own (term, literals) signature from mypy.
    expression: BooleanExpression = In(column, set(values))  # type: ignore[call-arg, arg-type]
    return expression


def _reader(scanner: pds.Scanner, spec: schemas.Table) -> pa.RecordBatchReader:
    # The contract's schema without field metadata: pyiceberg maps columns by name.
    plain = pa.schema([pa.field(f.name, f.type, f.nullable) for f in spec.schema])
    batches = (pa.RecordBatch.from_arrays(b.columns, schema=plain) for b in scanner.to_batches())
    return pa.RecordBatchReader.from_batches(plain, batches)


def _done(table: Table, spec: schemas.Table, plan: _Plan, units: dict[str, Unit], rows: int,
          changes: tuple[str, ...]) -> TableLoad:
    snapshot = table.metadata.current_snapshot()
    summary = snapshot.summary if snapshot is not None else None
    records = int((summary["total-records"] if summary is not None else 0) or 0)
    replaced = len(plan.stale)
    return TableLoad(spec.name, replaced, len(plan.gone), len(units) - replaced, rows,
                     table.metadata.current_snapshot_id, table.metadata_location, records,
                     changes)


def _load_state(table: Table) -> dict[str, dict[str, str]]:
    try:
        state = json.loads(table.properties.get(STATE, "{}"))
    except ValueError:
        return {}  # unreadable: every unit is then stale and replaced, which is safe
    return state if isinstance(state, dict) else {}


def _dump(state: dict[str, dict[str, str]]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


__all__ = ["TableLoad", "load"]
