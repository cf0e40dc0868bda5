"""Publishing: the merge into a new snapshot, the atomic switch, recovery.

Layout of an output folder ``OUT``::

    evals.duckdb                  views over the current snapshot (absolute paths)
    tables -> snapshots/<id>/tables    relative symlink: THE commit point
    snapshots/<id>/tables/<table>/data.parquet   every table, zero-row files included
    snapshots/<id>/manifest.json  run_id, created_at, staging, rows per table, schema_version
    staging/<run>/                a run's work in progress (tables/, archive.parquet)
    runs/<run_id>/archive.parquet the raw responses of a published run
    state/lock                    the run lock (:mod:`etl.runlock`)

Snapshot ids are ``<seq:06d>-<run_id>``: the sequence orders snapshots even when a replay
publishes under an old run id.

Commit protocol (each step is a crash point of :mod:`etl.crashpoints`)::

    staged            publish called; nothing written yet
    snapshot-written  snapshots/<id> complete and fsynced, unreferenced
    views-built       OUT/.evals.duckdb.<id>.tmp holds views over snapshots/<id>/tables
    tables-switched   `tables` now points at the new snapshot (os.replace of a new symlink)
    switched          evals.duckdb replaced by the new database (os.replace)
    cleaned           archive moved to runs/, staging deleted, old snapshots pruned

Up to ``views-built`` the old state is untouched: a crash leaves only an unreferenced snapshot
newer than the current one and temp files, which :func:`recover` deletes. The views read
absolute snapshot paths, not the ``tables`` link: a reader that opened ``evals.duckdb`` keeps
one consistent snapshot for as long as it reads, whatever publishes meanwhile, and an older
snapshot's files still bind against the views of their own time. The price is a window of
two renames between ``tables-switched`` and ``switched`` in which ``tables`` is new and
``evals.duckdb`` still shows the previous, complete snapshot; each is consistent on its own,
and a crash there is repaired by :func:`recover`, which rebuilds ``evals.duckdb`` whenever it
does not point at the current snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from etl import crashpoints
from etl.errors import PublishError
from etl.normalize import iso_utc, listing_batch
from etl.panels import EvalListing, PanelRequest, PreviousState
from etl.runlock import RunLock
from etl.schemas import TABLES, Table
from etl.writer import conform

__all__ = [  # RunLock lives in etl.runlock; callers take it as publish.RunLock
    "BuildViews", "RunLock", "current_snapshot", "publish", "read_manifest",
    "read_previous_state", "recover", "schema_version",
]

BuildViews = Callable[[Path, Path], None]

DB = "evals.duckdb"
LINK = "tables"
MANIFEST = "manifest.json"
DATA_FILE = "data.parquet"
ROW_GROUP_ROWS = 122_880
MERGE_MEMORY = "512MB"  # DuckDB spills the sort to the staging folder beyond this
_SNAPSHOT_ID = re.compile(r"^(\d{6})-[A-Za-z0-9._-]+$")
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]+$")


# --------------------------------------------------------------------------- reading


def current_snapshot(out: Path) -> Path | None:
    """``OUT/snapshots/<id>`` that ``OUT/tables`` points at, or None before the first publish."""
    link = Path(out) / LINK
    if not link.is_symlink():
        return None
    snapshot = Path(out) / Path(os.readlink(link)).parent
    return snapshot if (snapshot / LINK).is_dir() else None


def read_manifest(snapshot: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((snapshot / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read the manifest of {snapshot}: {exc}") from exc
    return data


def read_previous_state(out: Path) -> PreviousState | None:
    """The listing fields and unit states of the current snapshot, for incremental planning.

    ``created_at`` comes back in the API's own format (``2026-04-27T20:04:10.904Z``), so an
    unchanged listing row compares equal.
    """
    snapshot = current_snapshot(out)
    if snapshot is None:
        return None
    evals = _read_columns(snapshot, "evaluations", [
        "eval_id", "status", "project", "version_id", "model_id", "created_at", "model_url"])
    units = _read_columns(snapshot, "panel_status", ["eval_id", "panel", "params", "state"])
    return PreviousState(
        evals={
            r["eval_id"]: EvalListing(
                r["eval_id"], r["status"], r["project"], r["version_id"], r["model_id"],
                _api_time(r["created_at"]), r["model_url"])
            for r in evals
        },
        units={(r["eval_id"], r["panel"], r["params"]): r["state"] for r in units},
    )


def _read_columns(snapshot: Path, table: str, columns: list[str]) -> list[dict[str, Any]]:
    path = snapshot / LINK / table / DATA_FILE
    present = set(pq.read_schema(path).names)
    rows: list[dict[str, Any]] = pq.read_table(
        path, columns=[c for c in columns if c in present]).to_pylist()
    return [{c: row.get(c) for c in columns} for row in rows]  # older snapshots: NULL


def _api_time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


# --------------------------------------------------------------------------- recovery


def recover(out: Path, build_views: BuildViews) -> list[str]:
    """Undo what a crashed run left behind; call it holding the :class:`RunLock`.

    Deletes staging folders, snapshots newer than the current one (a crash before the
    switch) and temp files; finishes moving the archive of a run that crashed after its
    switch; rebuilds ``evals.duckdb`` when it is missing or shows another snapshot.
    Returns one human note per repair.
    """
    out = Path(out)
    notes: list[str] = []
    current = current_snapshot(out)
    if current is None and (out / LINK).is_symlink():
        raise PublishError(f"{out / LINK} points at a snapshot that no longer exists; "
                           f"point it at one of {out / 'snapshots'} or delete it")
    manifest = read_manifest(current) if current is not None else {}
    notes += _clear_staging(out, manifest)
    notes += _clear_snapshots(out, current)
    for path in sorted(out.glob(".*")):
        if path.name.endswith((".tmp", ".tmp.wal")):
            path.unlink(missing_ok=True)
            notes.append(f"removed the temp file {path.name} of an interrupted publish")
    if current is not None and not _db_shows(out / DB, current / LINK):
        build_views(out / DB, current / LINK)
        notes.append(f"rebuilt {DB} over snapshot {current.name}")
    return notes


def _clear_staging(out: Path, manifest: dict[str, Any]) -> list[str]:
    notes = []
    root = out / "staging"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        archive = folder / "archive.parquet"
        if folder.name == manifest.get("staging") and archive.exists():
            _move_archive(out, archive, str(manifest["run_id"]))
            notes.append(f"moved the archive of published run {manifest['run_id']} to runs/")
        shutil.rmtree(folder)
        notes.append(f"removed staging/{folder.name} left by an interrupted run")
    return notes


def _clear_snapshots(out: Path, current: Path | None) -> list[str]:
    notes = []
    floor = -1 if current is None else _seq(current.name)
    for folder in _snapshot_folders(out):
        if folder != current and (_seq(folder.name) > floor or _seq(folder.name) < 0):
            shutil.rmtree(folder)
            notes.append(f"removed snapshots/{folder.name}, written but never published")
    return notes


def _db_shows(db: Path, tables: Path) -> bool:
    """Whether ``db``'s base views read ``tables`` (as views.build_database writes it)."""
    if not db.exists():
        return False
    needle = "'" + Path(os.path.abspath(tables)).as_posix().replace("'", "''") + "/"
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            rows = con.execute(
                "select sql from duckdb_views() where view_name = 'evaluations'").fetchall()
    except duckdb.Error:
        return False  # unreadable: rebuild
    return bool(rows) and needle in rows[0][0]


# --------------------------------------------------------------------------- publishing


def publish(
    out: Path,
    *,
    run_id: str,
    staging: Path,
    ok_units: Iterable[PanelRequest],
    attempted_units: Iterable[PanelRequest],
    panel_status: pa.Table,
    run_row: pa.Table,
    listings: list[EvalListing] | None,
    keep: int,
    build_views: BuildViews,
) -> Path:
    """Merge a run's staged rows into a new snapshot and switch to it; returns the snapshot.

    Per data table: the current rows, minus every row of a unit in ``ok_units``, plus the
    rows staged for those units. ``panel_status`` replaces the rows of ``attempted_units``;
    ``run_row`` is added to ``runs``. ``listings`` (None when the listing was incomplete)
    sets ``evaluations.listed`` and the listing fields, and adds a row per new listed eval.
    """
    crashpoints.reach("staged")
    out, staging = Path(out), Path(staging)
    if not _RUN_ID.match(run_id):
        raise PublishError(f"run id {run_id!r} cannot name a snapshot folder")
    previous = current_snapshot(out)
    snapshot_id = _next_snapshot_id(out, run_id)
    snapshot = out / "snapshots" / snapshot_id
    next_db = out / f".{DB}.{snapshot_id}.tmp"
    try:
        rows = _Merge(previous, snapshot / LINK, staging).run(
            list(ok_units), list(attempted_units), panel_status, run_row, listings)
        _write_manifest(snapshot, snapshot_id, run_id, staging, previous, rows)
        _fsync_tree(snapshot)
        crashpoints.reach("snapshot-written")
        build_views(next_db, snapshot / LINK)
        crashpoints.reach("views-built")
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        next_db.unlink(missing_ok=True)
        raise
    try:
        _switch_link(out, snapshot_id)
        crashpoints.reach("tables-switched")
        os.replace(next_db, out / DB)
        _fsync_dir(out)
    except OSError as exc:
        raise PublishError(f"cannot switch {out} to snapshot {snapshot_id}: {exc}") from exc
    crashpoints.reach("switched")
    try:
        _clean_up(out, staging, run_id, snapshot, max(keep, 1))
    except OSError as exc:  # published all the same; the next recover() finishes the job
        raise PublishError(f"published snapshot {snapshot_id}, but cleaning up failed: {exc}"
                           ) from exc
    crashpoints.reach("cleaned")
    return snapshot


def _snapshot_folders(out: Path) -> list[Path]:
    root = out / "snapshots"
    folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted(folders, key=lambda p: (_seq(p.name), p.name))


def _seq(name: str) -> int:
    match = _SNAPSHOT_ID.match(name)
    return int(match.group(1)) if match else -1


def _next_snapshot_id(out: Path, run_id: str) -> str:
    last = max((_seq(p.name) for p in _snapshot_folders(out)), default=0)
    return f"{last + 1:06d}-{run_id}"


def schema_version() -> str:
    """A fingerprint of every table's columns, types and grain: changes when the contract does."""
    text = "\n".join(
        f"{t.name}|{','.join(t.grain)}|"
        + t.schema.to_string(show_field_metadata=False, show_schema_metadata=False)
        for t in TABLES.values()
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_manifest(snapshot: Path, snapshot_id: str, run_id: str, staging: Path,
                    previous: Path | None, rows: dict[str, int]) -> None:
    manifest = {
        "snapshot": snapshot_id,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "staging": staging.name,
        "previous": previous.name if previous is not None else None,
        "schema_version": schema_version(),
        "rows": rows,
    }
    (snapshot / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _switch_link(out: Path, snapshot_id: str) -> None:
    link = out / LINK
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is a folder, not the snapshot link; move it away first")
    tmp = out / f".{LINK}.{snapshot_id}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(f"snapshots/{snapshot_id}/{LINK}", tmp)
    os.replace(tmp, link)


def _clean_up(out: Path, staging: Path, run_id: str, snapshot: Path, keep: int) -> None:
    archive = staging / "archive.parquet"
    if archive.exists():
        _move_archive(out, archive, run_id)
    shutil.rmtree(staging, ignore_errors=True)
    folders = _snapshot_folders(out)
    kept = folders[-keep:]
    if snapshot not in kept:  # never the current one, whatever sorts after it
        kept.append(snapshot)
    for folder in folders:
        if folder not in kept:
            shutil.rmtree(folder)
    # The archives of the runs the kept snapshots came from; older ones go with them.
    kept_runs = {str(read_manifest(p).get("run_id")) for p in kept}
    runs = out / "runs"
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        if folder.name not in kept_runs:
            shutil.rmtree(folder)


def _move_archive(out: Path, archive: Path, run_id: str) -> None:
    target = out / "runs" / run_id / "archive.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(archive, target)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    # A power cut after the switch must not find the link pointing at unwritten pages.
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


# --------------------------------------------------------------------------- the merge


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(path: Path) -> str:
    return "'" + path.as_posix().replace("'", "''") + "'"


def _units_table(requests: Iterable[PanelRequest]) -> pa.Table:
    rows = [{"panel": r.panel, "eval_id": r.eval_id, "split": r.split,
             "confidence": r.confidence, "params": r.params} for r in requests]
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("panel", pa.string()), ("eval_id", pa.string()), ("split", pa.string()),
        ("confidence", pa.int64()), ("params", pa.string())]))


class _Merge:
    """Builds every table of a new snapshot with one in-memory DuckDB over Parquet files.

    Rows stream from DuckDB as Arrow batches straight into the new file, so no table is
    ever held as Python objects.
    """

    con: duckdb.DuckDBPyConnection

    def __init__(self, previous: Path | None, tables: Path, staging: Path) -> None:
        self.previous = previous / LINK if previous is not None else None
        self.tables = tables
        self.staged = staging / "tables"
        self.spill = staging / "merge-tmp"

    def run(self, ok: list[PanelRequest], attempted: list[PanelRequest],
            panel_status: pa.Table, run_row: pa.Table,
            listings: list[EvalListing] | None) -> dict[str, int]:
        self.spill.mkdir(parents=True, exist_ok=True)
        try:
            with duckdb.connect(config={"memory_limit": MERGE_MEMORY, "threads": 2,
                                        "temp_directory": str(self.spill)}) as con:
                con.execute("set TimeZone = 'UTC'")
                self.con = con
                return self._all_tables(ok, attempted, panel_status, run_row, listings)
        except (duckdb.Error, pa.ArrowException, ValueError) as exc:
            raise PublishError(f"cannot merge into {self.tables.parent.name}: {exc}") from exc
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)

    def _all_tables(self, ok: list[PanelRequest], attempted: list[PanelRequest],
                    panel_status: pa.Table, run_row: pa.Table,
                    listings: list[EvalListing] | None) -> dict[str, int]:
        con = self.con
        for name, table in TABLES.items():
            con.register(f"empty_{name}", table.schema.empty_table())
        con.register("ok_units", _units_table(ok))
        con.register("attempted_units", _units_table(attempted))
        # A replay rebuilds ok units it does not re-attempt: their staged rows are recorded too.
        con.register("recorded_units", _units_table([*attempted, *ok]))
        con.register("new_panel_status", conform("panel_status", panel_status))
        runs = conform("runs", run_row)
        con.register("new_runs", runs)
        con.register("listing", _listing_table(listings or [], runs))
        rows = {}
        for name, table in TABLES.items():
            if table.panel is not None:
                self._check_orphans(table)
            if table.panel is None or name == "evaluations":
                continue  # below: they need the other tables, or given rows
            keys = f"select distinct {self._cols(table.unit)} from ok_units " \
                   f"where panel = '{table.panel}'"
            rows[name] = self._write(table, self._merged(table, keys, self._staged(name)))
        status_keys = "select distinct eval_id, panel, params from attempted_units"
        rows["panel_status"] = self._write(
            TABLES["panel_status"], self._merged(TABLES["panel_status"], status_keys,
                                                 self._given("new_panel_status"), filter_new=False))
        rows["runs"] = self._write(
            TABLES["runs"], self._merged(TABLES["runs"], "select run_id from new_runs",
                                         self._given("new_runs"), filter_new=False))
        rows["evaluations"] = self._write(TABLES["evaluations"], self._evaluations(listings))
        return {name: rows[name] for name in TABLES}

    @staticmethod
    def _cols(names: Iterable[str]) -> str:
        return ", ".join(_q(n) for n in names)

    def _staged(self, name: str) -> str:
        """Staged rows with their write position (file, row) so the last write wins."""
        parts = sorted((self.staged / name).glob("part-*.parquet"))
        if not parts:
            return (f"select *, null::varchar as _file, null::bigint as _row "
                    f"from {_q('empty_' + name)}")
        files = "[" + ", ".join(_lit(p) for p in parts) + "]"
        return (f"select * exclude (filename, file_row_number), filename as _file, "
                f"file_row_number as _row from read_parquet({files}, filename = true, "
                f"file_row_number = true)")

    @staticmethod
    def _given(relation: str) -> str:
        return f"select *, '' as _file, row_number() over () as _row from {_q(relation)}"

    def _previous(self, name: str) -> str:
        # union by name against the schema's empty table: a column an older snapshot lacks
        # comes back NULL in its declared type instead of failing the merge.
        empty = f"select * from {_q('empty_' + name)}"
        path = self.previous / name / DATA_FILE if self.previous is not None else None
        if path is None or not path.exists():
            return empty
        return f"{empty} union all by name select * from read_parquet({_lit(path)})"

    def _merged(self, table: Table, keys: str, new: str, *, filter_new: bool = True) -> str:
        cols = self._cols(table.columns)
        match = " and ".join(f"k.{_q(c)} is not distinct from x.{_q(c)}" for c in table.unit)
        in_keys = f"exists (select 1 from ({keys}) k where {match})"
        fresh_filter = f"where {in_keys}" if filter_new else ""
        return f"""
            select {cols} from ({self._previous(table.name)}) x where not {in_keys}
            union all
            select {cols} from ({new}) x {fresh_filter}
            qualify row_number() over (
                partition by {self._cols(table.grain)} order by _file desc, _row desc) = 1
        """

    def _check_orphans(self, table: Table) -> None:
        """Staged rows must belong to a unit the run recorded, or they would vanish silently."""
        unit = self._cols(table.unit)
        match = " and ".join(f"k.{_q(c)} is not distinct from x.{_q(c)}" for c in table.unit)
        orphan = self.con.execute(f"""
            select {unit} from ({self._staged(table.name)}) x
            where not exists (select 1 from recorded_units k
                              where k.panel = '{table.panel}' and {match})
            limit 1
        """).fetchone()
        if orphan is not None:
            raise PublishError(
                f"table {table.name!r}: staged rows of {dict(zip(table.unit, orphan))} match no "
                f"{table.panel} unit the run recorded (unit columns: {', '.join(table.unit)})")

    def _evaluations(self, listings: list[EvalListing] | None) -> str:
        table = TABLES["evaluations"]
        keys = "select distinct eval_id from ok_units where panel = 'get'"
        merged = self._merged(table, keys, self._staged("evaluations"))
        split_metrics = _lit(self.tables / "split_metrics" / DATA_FILE)

        def listed_field(c: str) -> str:
            return f"case when l.eval_id is null then m.{_q(c)} else l.{_q(c)} end as {_q(c)}"

        listed = "m.listed" if listings is None else "l.eval_id is not null"
        return f"""
            with m as ({merged}),
            tt as (select eval_id, min(task_type) as task_type from read_parquet({split_metrics})
                   where task_type is not null group by eval_id)
            select
                coalesce(m.workspace, l.workspace) as workspace,
                coalesce(m.eval_id, l.eval_id) as eval_id,
                coalesce(m.run_id, l.run_id) as run_id,
                coalesce(m.fetched_at, l.fetched_at) as fetched_at,
                {', '.join(listed_field(c) for c in ('status', 'project', 'version_id',
                                                    'model_id'))},
                -- the listing often omits modelUrl; a NULL there is not news
                coalesce(l.model_url, m.model_url) as model_url,
                {listed_field('created_at')},
                coalesce(m.task_type, tt.task_type) as task_type,
                m.map, m.miou, m.precision, m.recall,
                coalesce(m.app_url, l.app_url) as app_url,
                {listed} as listed
            from m full join listing l on l.eval_id = m.eval_id
            left join tt on tt.eval_id = coalesce(m.eval_id, l.eval_id)
        """

    def _write(self, table: Table, select: str) -> int:
        """Run ``select`` sorted by grain and stream it into ``<table>/data.parquet``."""
        path = self.tables / table.name / DATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        query = f"select {self._cols(table.columns)} from ({select}) " \
                f"order by {self._cols(table.grain)}"
        total = 0
        with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
            pending: list[pa.RecordBatch] = []
            for batch in self.con.sql(query).to_arrow_reader(ROW_GROUP_ROWS):
                pending.append(batch)
                if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                    total += self._flush(writer, table, pending)
                    pending = []
            total += self._flush(writer, table, pending)
        return total

    @staticmethod
    def _flush(writer: pq.ParquetWriter, table: Table, batches: list[pa.RecordBatch]) -> int:
        if not batches:
            return 0
        # DuckDB hands back timestamps in µs and its own list field names: cast to the contract.
        data = pa.Table.from_batches(batches).cast(table.schema)
        writer.write_table(data, row_group_size=max(data.num_rows, 1))
        return int(data.num_rows)


def _listing_table(listings: list[EvalListing], run_row: pa.Table) -> pa.Table:
    """``evaluations`` rows built from list rows alone, for evals the run has no get for."""
    if not listings:
        return TABLES["evaluations"].schema.empty_table()
    if run_row.num_rows == 0:
        raise PublishError("listing rows need the run row (its workspace and time)")
    run = run_row.to_pylist()[0]
    batch = listing_batch(listings, run["workspace"], run["run_id"], run["fetched_at"])
    return conform("evaluations", batch)
