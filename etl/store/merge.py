"""The merge behind a publish: every table of a new snapshot, from the previous one and a run.

Per data table: the previous snapshot's rows, minus every row of a unit the run fetched
successfully, plus the rows staged for those units (the last write of a grain wins).
``panel_status`` replaces the rows of the attempted units, ``runs`` gains the run's row, and
``evaluations`` is rebuilt last because it takes ``task_type`` from the merged
``split_metrics`` and its listing fields from the run's listing.

One in-memory DuckDB reads the Parquet files and streams each result as Arrow batches
straight into ``<table>/data.parquet``, so no table is ever held as Python objects. Every path
reaches DuckDB through :mod:`etl.duckpath` (an output folder may be called ``x[1]?``), with
hive partitioning off (nor may a folder called ``eval_id=x`` add a column).

Snapshots share no file: a table the run did not touch is *copied* into the new snapshot (a
reflink clone where the filesystem has them, so no block is duplicated; else a byte copy), never
hard-linked, so one tool writing into one snapshot's file in place cannot reach any other
snapshot. The copy is checked against the SHA-256 the previous manifest recorded for it.

A table may also come *premerged* (:mod:`etl.store.premerge`): merged while the crawl was still
running, once every unit of its panel had its outcome. Its file is used, moved into the
snapshot, only when the :class:`Basis` it was merged from equals the one the publish would
merge from (the same previous file, ok units and staged files); otherwise the table is merged
here as if it had never been.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import duckpath
from etl.errors import PublishError
from etl.panels import PanelRequest
from etl.schemas import TABLES, Table
from etl.store.commit import Commit
from etl.store.files import file_digest, private_copy
from etl.store.journal import resumed_files
from etl.store.layout import DATA_FILE, LINK, MERGE_SPILL
from etl.store.writer import conform, staged_files

__all__ = ["DATA_FILE", "Basis", "Merge", "Premerged", "SnapshotDamaged", "file_digest",
           "private_copy"]

# Rows per row group of the published files. Each group is held whole (DuckDB's batches, their
# cast, the encoded columns) before it is written: 65,536 rows instead of the 122,880 used
# before (DuckDB's own default) lowered the peak RSS of a 200,000-image eval by about 30 MB
# (``bench.run scaling``), and a table still reads in few groups.
ROW_GROUP_ROWS = 65_536
MERGE_MEMORY = "128MB"  # DuckDB spills the sort to the staging folder beyond this (measured:
# a 783,000-row image_predictions sort peaks 130 MB lower than at 256 MB, in the same time)
# DuckDB's threads for the merge the publish runs once the crawl is over (both cores free; the
# big image tables are premerged by then, on one thread beside the crawl). Measured on the
# light benchmark, whose tables are all merged at the publish: its publish 2.15 -> 1.55 s,
# the export's wall 0.87x against one thread (BENCHMARKS.md, issue 19's fourth pass).
PUBLISH_THREADS = 2


def _numbered(table: pa.Table) -> pa.Table:
    """``table`` with ``_row``, its rows' order, for "last wins": numbered here, not by DuckDB's
    ``row_number() over ()``, whose order is not the input's once the merge runs on threads."""
    return table.append_column("_row", pa.array(range(1, table.num_rows + 1), pa.int64()))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SnapshotDamaged(PublishError):
    """A file of the current snapshot cannot be read, or is not the file that was published."""

    def __init__(self, snapshot: Path, problems: Mapping[str, str]) -> None:
        self.snapshot = Path(snapshot)
        self.problems = dict(problems)
        files = "; ".join(f"{self.snapshot / LINK / t / DATA_FILE}: {why}"
                          for t, why in sorted(self.problems.items()))
        super().__init__(
            f"the current snapshot {self.snapshot.name} is damaged ({files}); nothing was "
            "published. To recover, run `evals-etl export --full-refresh`: it refetches every "
            "eval and builds the next snapshot without the damaged file, keeping what the rest "
            "of the snapshot still holds (rows only that file held, such as evals deleted "
            "upstream, are lost); or put an intact copy back from a backup (the older snapshots "
            "under snapshots/ hold earlier versions of each table)")


def _cols(names: Iterable[str]) -> str:
    return ", ".join(_q(n) for n in names)


def _units_table(requests: Iterable[PanelRequest]) -> pa.Table:
    # project and version_id: the unit of a version panel (compare), NULL for eval panels.
    rows = [{"panel": r.panel, "eval_id": r.eval_id, "split": r.split,
             "confidence": r.confidence, "params": r.params, "project": r.project,
             "version_id": r.version_id, "workspace": r.workspace} for r in requests]
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("panel", pa.string()), ("eval_id", pa.string()), ("split", pa.string()),
        ("confidence", pa.int64()), ("params", pa.string()), ("project", pa.string()),
        ("version_id", pa.string()), ("workspace", pa.string())]))


FileState = tuple[str, int, int] | None  # path, bytes, mtime in ns; None: no such file


def _state(path: Path) -> FileState:
    try:
        info = path.stat()
    except OSError:
        return None
    return path.as_posix(), info.st_size, info.st_mtime_ns


@dataclass(frozen=True)
class Basis:
    """Everything one data table's merge reads: equal bases give byte-equal tables."""

    previous: FileState
    published: str  # the previous manifest's entry for the table, as JSON
    skipped: bool
    ok_units: frozenset[PanelRequest]
    resumed_units: frozenset[PanelRequest]
    staged: tuple[FileState, ...]


@dataclass(frozen=True)
class Premerged:
    """A table merged ahead of the publish, from ``basis``, into ``path`` (``rows`` rows).

    ``checked``: the recorded units its staged rows were found to belong to (the orphan check).
    """

    table: str
    path: Path
    rows: int
    basis: Basis
    checked: frozenset[PanelRequest] = frozenset()


class Merge:
    """Builds every table of a new snapshot into ``tables`` (``<table>/data.parquet``).

    ``previous`` is the current snapshot's tables folder (None before the first publish);
    ``staging`` the run's staging folder, whose ``tables/`` holds the staged parts and which
    lends the sort its spill folder (``spill``, under it). ``premerged`` are tables merged
    while the crawl ran, used where their basis still holds.
    """

    con: duckdb.DuckDBPyConnection

    def __init__(self, previous: Path | None, tables: Path, staging: Path, *,
                 published: Mapping[str, Mapping[str, object]] | None = None,
                 skip: Iterable[str] = (), spill: str = MERGE_SPILL,
                 premerged: Mapping[str, Premerged] | None = None,
                 memory: str = MERGE_MEMORY, cancelled: Callable[[], bool] | None = None,
                 check_damage: bool = True, threads: int = 1) -> None:
        self.previous = previous
        self.tables = tables
        self.staged = staging / "tables"
        self.spill = staging / spill
        self.premerged = dict(premerged or {})
        self.memory = memory  # DuckDB's memory limit: past it the sort spills to ``spill``
        # One thread by default: the sorts of the big tables then hold one set of buffers, not
        # two (measured: -25 MB peak on a 200,000-image eval, no slower on two cores).
        self.threads = threads
        # A premerge: stopped between batches when asked; its failure needs no diagnosis
        # (the publish redoes the table and diagnoses there), and hashing the previous
        # snapshot would make a stopping run wait for it.
        self.cancelled = cancelled or (lambda: False)
        self.check_damage = check_damage
        self.used_premerged: list[str] = []  # the tables whose premerged file was used
        # What the previous manifest says each file is ({"bytes", "sha256"}; older: nothing),
        # and the previous tables not to read at all (damaged, with --full-refresh).
        self.published = dict(published or {})
        self.skip = frozenset(skip)
        self.digests: dict[str, tuple[int, str]] = {}  # of the files copied, not rewritten

    def run(self, commit: Commit, *, only: Iterable[str] | None = None) -> dict[str, int]:
        """Write every table of ``commit``'s snapshot (or the data tables in ``only``);
        returns the row count of each."""
        self._check_present()
        self.spill.mkdir(parents=True, exist_ok=True)
        # DuckDB turns a backslash in its spill folder's path into a slash: spill elsewhere.
        spill = self.spill if "\\" not in os.path.realpath(self.spill) else Path(
            tempfile.mkdtemp(prefix="evals-etl-merge-"))
        try:
            with duckdb.connect(config={"memory_limit": self.memory, "threads": self.threads,
                                        "temp_directory": str(spill)}) as con:
                con.execute("set TimeZone = 'UTC'")
                self.con = con
                return self._all_tables(commit, None if only is None else set(only))
        except (duckdb.Error, pa.ArrowException, ValueError) as exc:
            damaged = self._unreadable_previous() if self.check_damage else {}
            if damaged and self.previous is not None:
                raise SnapshotDamaged(self.previous.parent, damaged) from exc
            raise PublishError(f"cannot merge into {self.tables.parent.name}: {exc}") from exc
        finally:
            shutil.rmtree(self.spill, ignore_errors=True)
            shutil.rmtree(spill, ignore_errors=True)

    def interrupt(self) -> None:
        """Stop the query under way, from another thread (nothing, when none is)."""
        con = getattr(self, "con", None)
        if con is not None:
            with suppress(duckdb.Error):  # closed already: nothing to interrupt
                con.interrupt()

    def _check_present(self) -> None:
        """Every file the previous manifest lists is there, and a file: a missing one would
        otherwise read as an empty table and its rows vanish from the new snapshot."""
        if self.previous is None:
            return
        problems = {}
        for name in self.published:
            path = self.previous / name / DATA_FILE
            if name in self.skip:
                continue
            if path.is_symlink():
                problems[name] = "it is a symbolic link, not the published file"
            elif not path.is_file():
                problems[name] = "it is missing"
        if problems:
            raise SnapshotDamaged(self.previous.parent, problems)

    def _all_tables(self, commit: Commit, only: set[str] | None) -> dict[str, int]:
        con, ok, attempted = self.con, commit.ok_units, commit.attempted_units
        for name, table in TABLES.items():
            con.register(f"empty_{name}", table.schema.empty_table())
        con.register("ok_units", _units_table(ok))
        con.register("attempted_units", _units_table(attempted))
        # A replay rebuilds ok units it does not re-attempt: their staged rows are recorded too.
        con.register("recorded_units", _units_table([*attempted, *ok]))
        con.register("resumed_units", _units_table(commit.resumed_units))
        con.register("new_panel_status", _numbered(conform("panel_status", commit.panel_status)))
        con.register("new_runs", _numbered(conform("runs", commit.run_row)))
        empty = TABLES["evaluations"].schema.empty_table()
        con.register("listing", conform("evaluations", commit.listing or empty))
        rows = {}
        for name, table in TABLES.items():
            if only is not None and name not in only:
                continue
            ready = self._usable(table, commit) if table.panel is not None else None
            if table.panel is not None and not self._checked_early(ready, table, commit):
                self._check_orphans(table)
            if table.panel is None or name == "evaluations":
                continue  # below: they need the other tables, or given rows
            if not any(u.panel == table.panel for u in ok):
                carried = self._carry_over(table)
                if carried is not None:
                    rows[name] = carried
                    continue
            if ready is not None:
                rows[name] = self._move_into_place(ready)
                continue
            keys = f"select distinct {_cols(table.unit)} from ok_units " \
                   f"where panel = '{table.panel}'"
            rows[name] = self._write(table, partial(self._merged, table, keys,
                                                    self._staged(name)))
        if only is not None:
            return rows
        status_keys = "select distinct eval_id, panel, params from attempted_units"
        rows["panel_status"] = self._write(TABLES["panel_status"], partial(
            self._merged, TABLES["panel_status"], status_keys, self._given("new_panel_status"),
            filter_new=False))
        rows["runs"] = self._write(TABLES["runs"], partial(
            self._merged, TABLES["runs"], "select run_id from new_runs", self._given("new_runs"),
            filter_new=False))
        rows["evaluations"] = self._write(TABLES["evaluations"], partial(
            self._evaluations, commit.listing is not None, commit.listed_workspaces))
        return {name: rows[name] for name in TABLES}

    def basis(self, table: Table, commit: Commit) -> Basis:
        """What merging ``table`` for ``commit`` reads (see :class:`Basis`)."""
        previous = self.previous / table.name / DATA_FILE if self.previous is not None else None
        staged = [*staged_files(self.staged / table.name),
                  *resumed_files(self.staged.parent, table.name)]
        return Basis(
            previous=None if previous is None else _state(previous),
            published=json.dumps(self.published.get(table.name), sort_keys=True, default=str),
            skipped=table.name in self.skip,
            ok_units=frozenset(u for u in commit.ok_units if u.panel == table.panel),
            resumed_units=frozenset(u for u in commit.resumed_units if u.panel == table.panel),
            staged=tuple(_state(p) for p in staged))

    def _usable(self, table: Table, commit: Commit) -> Premerged | None:
        """The premerged file of ``table`` if it was merged from this very basis; one that
        was not is deleted (it would hold a second copy of the table on the disk)."""
        ready = self.premerged.get(table.name)
        if ready is None:
            return None
        if ready.basis != self.basis(table, commit):
            ready.path.unlink(missing_ok=True)
            self.premerged.pop(table.name)
            return None
        return ready

    @staticmethod
    def _checked_early(ready: Premerged | None, table: Table, commit: Commit) -> bool:
        """The premerge (``ready``, usable) ran the orphan check on these very files,
        against no unit the publish does not record: it would pass here too."""
        if ready is None:
            return False
        recorded = {u for u in (*commit.attempted_units, *commit.ok_units)
                    if u.panel == table.panel}
        return ready.checked <= recorded

    def _move_into_place(self, ready: Premerged) -> int:
        """A usable premerged file becomes the snapshot's; its row count."""
        target = self.tables / ready.table / DATA_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ready.path, target)
        self.used_premerged.append(ready.table)
        return ready.rows

    def _carry_over(self, table: Table) -> int | None:
        """A table the run did not touch keeps its previous file: copied, not rewritten.

        That is most of a nightly run on a quiet workspace (image predictions above all). The
        copy is private (see :func:`private_copy`): snapshots never share an inode, so a write
        into one snapshot's file cannot change another's. None when the previous file cannot
        be reused as it is (an older schema is rewritten through the merge).
        """
        if (self.previous is None or table.name in self.skip
                or staged_files(self.staged / table.name)):
            return None
        source = self.previous / table.name / DATA_FILE
        try:
            if not pq.read_schema(source).equals(table.schema):
                return None  # an older schema: rewrite it through the merge
        except (OSError, pa.ArrowException):
            return None
        target = self.tables / table.name / DATA_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        size, sha = private_copy(source, target)
        expected = self.published.get(table.name) or {}
        if expected.get("sha256") not in (None, sha) or expected.get("bytes") not in (None, size):
            target.unlink(missing_ok=True)
            raise SnapshotDamaged(self.previous.parent, {
                table.name: "its content is not what was published (the checksum in "
                            "manifest.json differs): something wrote into it"})
        self.digests[table.name] = (size, sha)
        try:
            return int(pq.read_metadata(target).num_rows)
        except (OSError, pa.ArrowException) as exc:
            target.unlink(missing_ok=True)
            raise SnapshotDamaged(self.previous.parent, {table.name: f"unreadable: {exc}"}
                                  ) from exc

    def _staged(self, name: str) -> str:
        """Staged rows with their write position (file, row) so the last write wins: this
        run's own, then those taken over from a killed run, of the units it reused only."""
        fresh = self._read_staged(name, staged_files(self.staged / name))
        taken = resumed_files(self.staged.parent, name)
        if not taken:
            return fresh
        table = TABLES[name]
        match = " and ".join(f"k.{_q(c)} is not distinct from x.{_q(c)}" for c in table.unit)
        reused = (f"select * from ({self._read_staged(name, taken)}) x where exists "
                  f"(select 1 from resumed_units k where k.panel = '{table.panel}' and {match})")
        return f"{fresh} union all by name {reused}"

    def _read_staged(self, name: str, parts: list[Path]) -> str:
        if not parts:
            return (f"select *, null::varchar as _file, null::bigint as _row "
                    f"from {_q('empty_' + name)}")
        files = "[" + ", ".join(self._lit(p) for p in parts) + "]"
        return (f"select * exclude (filename, file_row_number), filename as _file, "
                f"file_row_number as _row from read_parquet({files}, filename = true, "
                f"file_row_number = true, hive_partitioning = false)")

    def _lit(self, path: Path) -> str:
        """``path`` as DuckDB must be given it to read that file and no other."""
        text = path.as_posix()
        if duckpath.unescapable(text):
            found = [row[0] for row in self.con.execute("select file from glob(?)",
                                                        [text]).fetchall()]
            if found not in ([], [text]):
                raise PublishError(
                    f"DuckDB cannot read {text} unambiguously: its folder name holds both a "
                    "backslash and one of * ? [ ], so DuckDB reads it as a pattern matching "
                    f"{found[0]}; rename the output folder")
        return duckpath.literal(text)

    def _unreadable_previous(self) -> dict[str, str]:
        """The previous snapshot's files that do not read as Parquet (after a failed merge)."""
        if self.previous is None:
            return {}
        damaged = {}
        for name in TABLES:
            path = self.previous / name / DATA_FILE
            if name in self.skip or not path.exists():
                continue
            expected = self.published.get(name) or {}
            try:
                if expected.get("sha256"):
                    if file_digest(path) != (expected.get("bytes"), expected["sha256"]):
                        damaged[name] = ("its content is not what was published (the checksum "
                                         "in manifest.json differs): something wrote into it")
                else:
                    pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                damaged[name] = f"unreadable: {exc}"
        return damaged

    @staticmethod
    def _given(relation: str) -> str:
        """A relation registered by :func:`_numbered`, as a staged file reads (``_file``, ``_row``)."""
        return f"select *, '' as _file from {_q(relation)}"

    def _previous(self, name: str) -> str:
        # union by name against the schema's empty table: a column an older snapshot lacks
        # comes back NULL in its declared type instead of failing the merge.
        empty = f"select * from {_q('empty_' + name)}"
        path = self.previous / name / DATA_FILE if self.previous is not None else None
        if path is None or name in self.skip or not path.exists():
            return empty
        return (f"{empty} union all by name select * from read_parquet({self._lit(path)}, "
                f"hive_partitioning = false)")

    def _merged(self, table: Table, keys: str, new: str, *, filter_new: bool = True,
                dedupe: bool = True) -> str:
        """The previous rows of the units not replaced, then the new rows of those replaced.

        With ``dedupe``, of new rows sharing a grain only the last written is kept. Without
        it the query is a plain union: :meth:`_write` asks for that first, since a grain is
        staged twice only when a unit was (a killed run's rows taken over, a replay), and
        the window that dedupes costs more than the sort itself.
        """
        cols = _cols(table.columns)
        match = " and ".join(f"k.{_q(c)} is not distinct from x.{_q(c)}" for c in table.unit)
        in_keys = f"exists (select 1 from ({keys}) k where {match})"
        fresh_filter = f"where {in_keys}" if filter_new else ""
        # qualify binds to the second SELECT only: it dedupes the new rows (previous are unique)
        last_write = (f"qualify row_number() over (partition by {_cols(table.grain)} "
                      "order by _file desc, _row desc) = 1") if dedupe else ""
        return f"""
            select {cols} from ({self._previous(table.name)}) x where not {in_keys}
            union all
            select {cols} from ({new}) x {fresh_filter}
            {last_write}
        """

    def _check_orphans(self, table: Table) -> None:
        """Staged rows must belong to a unit the run recorded, or they would vanish silently."""
        unit = _cols(table.unit)
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

    def _evaluations(self, listing_complete: bool,
                     workspaces: tuple[str, ...] | None = None, *, dedupe: bool = True) -> str:
        table = TABLES["evaluations"]
        keys = "select distinct eval_id from ok_units where panel = 'get'"
        merged = self._merged(table, keys, self._staged("evaluations"), dedupe=dedupe)
        split_metrics = self._lit(self.tables / "split_metrics" / DATA_FILE)

        def listed_field(c: str) -> str:
            return f"case when l.eval_id is null then m.{_q(c)} else l.{_q(c)} end as {_q(c)}"

        # Without a complete listing nothing says an eval left it: a get row fetched now
        # (listed=True) must not undo an earlier "no longer listed".
        kept = "case when p.eval_id is null then true else p.listed end"
        listed = "l.eval_id is not null" if listing_complete else kept
        if listing_complete and workspaces is not None:
            # Several workspaces: a listing says nothing of another workspace's evals.
            names = ", ".join("'" + w.replace("'", "''") + "'" for w in workspaces) or "null"
            listed = (f"case when coalesce(m.workspace, l.workspace) in ({names}) "
                      f"then l.eval_id is not null else {kept} end")
        return f"""
            with m as ({merged}),
            p as (select eval_id, listed from ({self._previous('evaluations')})),
            tt as (select eval_id, min(task_type) as task_type
                   from read_parquet({split_metrics}, hive_partitioning = false)
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
                -- the merged split_metrics is current (this run's map-results when it fetched
                -- them); the previous evaluations row may predate them
                coalesce(tt.task_type, m.task_type) as task_type,
                m.map, m.miou, m.precision, m.recall,
                coalesce(m.app_url, l.app_url) as app_url,
                {listed} as listed
            from m full join listing l on l.eval_id = m.eval_id
            left join tt on tt.eval_id = coalesce(m.eval_id, l.eval_id)
            left join p on p.eval_id = coalesce(m.eval_id, l.eval_id)
        """

    def _write(self, table: Table, select: Callable[..., str]) -> int:
        """Stream ``select`` sorted by grain into ``<table>/data.parquet``.

        ``select(dedupe=...)`` is first run without deduplication. Sorted by grain, two rows with
        one grain are neighbours, so :class:`_Neighbours` sees each batch as it streams by;
        only if it finds such a pair is the file written again from the deduplicating query
        (the last write of a grain wins). Each row is thus sorted and written once.
        """
        for dedupe in (False, True):
            written = self._stream(table, select(dedupe=dedupe),
                                   _Neighbours(table.grain, dedupe))
            if written is not None:
                return written
        raise AssertionError("the deduplicating query cannot yield twins")  # pragma: no cover

    def _stream(self, table: Table, select: str, neighbours: _Neighbours) -> int | None:
        path = self.tables / table.name / DATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        query = f"select {_cols(table.columns)} from ({select}) order by {_cols(table.grain)}"
        total = 0
        with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
            pending: list[pa.RecordBatch] = []
            held = 0
            # The batch size is a hint: on several threads DuckDB hands back its own 122,880-row
            # chunks too. Row groups are cut at exactly ROW_GROUP_ROWS all the same, so a
            # published file's layout does not depend on the threads that merged it.
            for batch in self.con.sql(query).to_arrow_reader(ROW_GROUP_ROWS):
                if self.cancelled():
                    raise PublishError(f"merging {table.name} was stopped")
                if neighbours.share_a_grain(batch):
                    return None  # the file is rewritten whole from the deduplicating query
                pending.append(batch)
                held += batch.num_rows
                while held >= ROW_GROUP_ROWS:
                    data = pa.Table.from_batches(pending)
                    total += self._flush(writer, table, data.slice(0, ROW_GROUP_ROWS).to_batches())
                    rest = data.slice(ROW_GROUP_ROWS)
                    pending, held = rest.to_batches(), rest.num_rows
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


class _Neighbours:
    """Whether two neighbouring rows of a stream sorted by ``grain`` share the grain.

    NULLs are equal here, as in the grain (``partition by`` groups them). With ``trusted``
    (the deduplicating query) nothing is checked.
    """

    def __init__(self, grain: tuple[str, ...], trusted: bool) -> None:
        self.grain, self.trusted = grain, trusted
        self._last: tuple[object, ...] | None = None

    def share_a_grain(self, batch: pa.RecordBatch) -> bool:
        n = batch.num_rows
        if self.trusted or n == 0:
            return False
        columns = [batch.column(name) for name in self.grain]
        first = tuple(c[0].as_py() for c in columns)
        if first == self._last:
            return True
        self._last = tuple(c[n - 1].as_py() for c in columns)
        if n == 1:
            return False
        same: pa.Array | None = None
        for column in columns:
            after, before = column.slice(1), column.slice(0, n - 1)
            equal = pc.or_kleene(pc.equal(after, before),
                                 pc.and_(pc.is_null(after), pc.is_null(before)))
            equal = pc.fill_null(equal, False)
            same = equal if same is None else pc.and_(same, equal)
        return bool(pc.any(same).as_py())
