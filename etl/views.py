"""The DuckDB views layer: builds ``evals.duckdb`` from ``sql/`` and formats query results.

Writes only ``evals.duckdb``. Every ``.sql`` file holds one ``select``; its file name is the
view's name, and files run in sorted path order (``1_base`` → ``2_intermediate`` →
``3_marts``), so a view may use only views of lower layers. The one placeholder,
``${tables}``, is the absolute path of the published tables folder, written as a DuckDB file
pattern that matches only itself (:mod:`etl.duckpath`: a folder may be called ``x[1]?``):
DuckDB resolves a relative path in a view against the *reader's* working directory, so only
absolute paths make a database that reads the same files from anywhere.

The price of absolute paths is that a copied or moved folder's database still names the
original's files. The database records the folder it reads (``_evals_etl_build``), and every
command that opens it (``export``, ``views``, ``query``, ``status``) checks that record with
:func:`shows` against the folder it was given, and rebuilds it first when they differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from etl import duckpath, tabular
from etl.errors import PublishError
from etl.schemas import TABLES

PLACEHOLDER = "${tables}"
# One row saying which tables folder the views read: how publish and recovery tell whether a
# database shows the current snapshot, without parsing view SQL.
BUILD_TABLE = "_evals_etl_build"
Format = Literal["table", "csv", "json"]
_COUNT_BATCH = 10_000  # rows past max_rows are fetched this many at a time, only to count


def sql_dir() -> Path:
    """``sql/`` at the repository root in a checkout, else ``etl/sql`` inside the wheel."""
    checkout = Path(__file__).resolve().parent.parent / "sql"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "sql"


def sql_files() -> list[Path]:
    """Every view definition, in build order."""
    return sorted(sql_dir().glob("*/*.sql"))


def sql_version() -> str:
    """A fingerprint of every view definition: a database built from other SQL is rebuilt."""
    digest = hashlib.sha256()
    for path in sql_files():
        digest.update(path.relative_to(sql_dir()).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _quote_path(path: Path) -> str:
    # The path lands inside a single-quoted SQL literal: double any quote in it.
    return path.as_posix().replace("'", "''")


def _spelled(tables: Path) -> str:
    """The tables folder as it goes into the views' single-quoted file patterns."""
    return duckpath.pattern(tables.as_posix()).replace("'", "''")


def _check_unambiguous(con: duckdb.DuckDBPyConnection, tables: Path) -> None:
    """A folder name DuckDB's glob cannot be told to read literally must not name other files."""
    if not duckpath.unescapable(tables.as_posix()):
        return
    for table in sorted(p.name for p in tables.iterdir() if p.is_dir()):
        path = (tables / table / "data.parquet").as_posix()
        found = [r[0] for r in con.execute("select file from glob(?)", [path]).fetchall()]
        if found not in ([], [path]):
            raise PublishError(
                f"cannot build views over {tables}: its name holds both a backslash and one of "
                f"* ? [ ], so DuckDB would read {found[0]} for {path}; rename the output folder")


def build_database(db_path: Path, tables_dir: Path) -> None:
    """(Re)create ``db_path`` with every view of ``sql/``, over ``tables_dir``.

    Builds into a temporary file beside ``db_path`` and renames it into place, so a reader
    sees the old database or the new one, never a half-built one. (Where DuckDB cannot write
    a database at that path, see :func:`_duckdb_writes_at`, it is built in a temporary
    folder and its bytes copied beside ``db_path``.)
    """
    tables = Path(os.path.abspath(tables_dir))
    if not tables.is_dir():
        raise PublishError(f"cannot build views: tables folder {tables} does not exist")
    db_path = Path(os.path.abspath(db_path))
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        if _duckdb_writes_at(tmp):
            _build(tmp, tables)
        else:
            with tempfile.TemporaryDirectory(prefix="evals-etl-views-") as elsewhere:
                _build(Path(elsewhere) / "evals.duckdb", tables)
                shutil.copyfile(Path(elsewhere) / "evals.duckdb", tmp)
        # Published, like the snapshot files: no write bit (read bits as the umask made them).
        os.chmod(tmp, stat.S_IMODE(tmp.stat().st_mode) & ~0o222)
        os.replace(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


# A base view's read of its table's file, as sql/1_base spells it.
_READ = re.compile(r"read_parquet\('\$\{tables\}/(?P<name>[a-z_]+)/data\.parquet'(?P<rest>[^)]*)\)")


def _typed_reads(con: duckdb.DuckDBPyConnection, sql: str, tables: Path) -> str:
    """Each table read through its contract's schema: a folder published by an older
    evals-etl (a table it did not have yet, a column added since) still shows every view,
    the missing columns NULL in their declared types, until its next export rewrites it."""
    published = _published_tables(tables)

    def typed(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            return match[0]
        empty = f"_evals_etl_empty_{name}"
        if not con.execute("select 1 from duckdb_tables() where table_name = ?",
                           [empty]).fetchone():
            con.register("_contract", TABLES[name].schema.empty_table())
            con.execute(f'create table "{empty}" as select * from _contract')
            con.unregister("_contract")
        if not (tables / name / "data.parquet").is_file():
            if name in published:
                return match[0]  # the snapshot had it: a lost file is an error, not empty
            return f'(select * from "{empty}")'
        return f'(select * from "{empty}" union all by name select * from {match[0]})'

    return _READ.sub(typed, sql)


def _published_tables(tables: Path) -> set[str]:
    """The tables the snapshot's manifest lists (every table, for a folder without one)."""
    try:
        manifest = json.loads((tables.parent / "manifest.json").read_text(encoding="utf-8"))
        return set(manifest.get("rows") or manifest.get("files") or TABLES)
    except (OSError, ValueError, AttributeError):
        return set(TABLES)


def _build(db: Path, tables: Path) -> None:
    with duckdb.connect(str(db)) as con:
        _check_unambiguous(con, tables)
        for path in sql_files():
            sql = _typed_reads(con, path.read_text(encoding="utf-8"), tables)
            sql = sql.replace(PLACEHOLDER, _spelled(tables))
            try:
                con.execute(f'create view "{path.stem}" as\n{sql}')
            except duckdb.Error as exc:
                rel = path.relative_to(sql_dir())
                raise PublishError(f"cannot build view {rel}: {exc}") from exc
        con.execute(f"create table {BUILD_TABLE} as select ? as tables_dir, now() as built_at, "
                    "? as sql_version", [tables.as_posix(), sql_version()])


def _duckdb_writes_at(db: Path) -> bool:
    """DuckDB opens a database by its resolved path with ``\\`` turned into ``/``, and names
    its WAL by cutting the path at a ``?`` (as if it were a URL): it cannot write there."""
    real = os.path.realpath(db)
    return "\\" not in real and "?" not in real


def _duckdb_reads_at(db: Path) -> bool:
    return "\\" not in os.path.realpath(db)


@contextmanager
def connect(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``db_path``, wherever it lies.

    A database whose path DuckDB cannot open (a backslash in it) is read from a copy in a
    temporary folder: the file holds only views, whose absolute paths still name this
    folder's tables.
    """
    if _duckdb_reads_at(db_path):
        with duckdb.connect(str(db_path), read_only=True) as con:
            yield con
        return
    with tempfile.TemporaryDirectory(prefix="evals-etl-read-") as elsewhere:
        copy = Path(elsewhere) / "evals.duckdb"
        shutil.copyfile(db_path, copy)
        with duckdb.connect(str(copy), read_only=True) as con:
            yield con


build = build_database  # the name etl.store.publish.Views gives it


def shows(db_path: Path, tables_dir: Path) -> bool:
    """Whether ``db_path`` opens and its views read ``tables_dir`` (as built by this module,
    from the SQL it has now: a database built by other view definitions is rebuilt).

    Paths compare after resolving symlinks, so the same folder reached two ways is the same,
    while a copy (or the original a copy's database still names) is not.
    """
    if not db_path.is_file():
        return False
    tables = Path(os.path.abspath(tables_dir)).as_posix()
    try:
        with connect(db_path) as con:
            if con.execute("select 1 from duckdb_tables() where table_name = ?",
                           [BUILD_TABLE]).fetchone() is None:
                return _legacy_shows(con, tables)
            cursor = con.execute(f"select * from {BUILD_TABLE}")
            names = [d[0] for d in cursor.description or []]
            row = [dict(zip(names, values)) for values in cursor.fetchall()]
    except (duckdb.Error, OSError):
        return False  # unreadable (a stray WAL, a torn file): rebuild
    return len(row) == 1 and row[0].get("sql_version") == sql_version() and (
        os.path.realpath(row[0]["tables_dir"]) == os.path.realpath(tables))


def recorded_tables(db_path: Path) -> str | None:
    """The tables folder a database says its views read (None: unknown or unreadable)."""
    try:
        with connect(db_path) as con:
            row = con.execute(f"select tables_dir from {BUILD_TABLE}").fetchone()
    except (duckdb.Error, OSError):
        return None
    return None if row is None else str(row[0])


def _legacy_shows(con: duckdb.DuckDBPyConnection, tables: str) -> bool:
    """A database built before the marker existed (0.1): its views name the folder."""
    rows = con.execute("select sql from duckdb_views() where view_name = 'evaluations'").fetchall()
    return bool(rows) and f"'{_quote_path(Path(tables))}/" in rows[0][0]


def view_names(db_path: Path) -> list[str]:
    """Names of every view in the database, sorted."""
    with connect(db_path) as con:
        rows = con.execute(
            "select view_name from duckdb_views() where not internal order by view_name"
        ).fetchall()
    return [name for (name,) in rows]


@dataclass(frozen=True)
class Answer:
    """A formatted query result, and how many rows the query produced."""

    text: str
    shown: int
    total: int

    @property
    def left_out(self) -> int:
        return self.total - self.shown


def run_query(db_path: Path, sql: str, fmt: Format = "table",
              max_rows: int | None = None) -> Answer:
    """Run ``sql`` on a read-only connection and format at most ``max_rows`` of its rows.

    ``table`` is an aligned text table with a row-count footer, ``csv`` has a header line,
    ``json`` is one JSON object per line (:mod:`etl.tabular`). The rows past ``max_rows``
    are counted, not kept, so the caller can say how many were left out.
    """
    # Read-only: a read-write connection would lock the file against every other reader.
    with connect(db_path) as con:
        con.execute("set TimeZone = 'UTC'")  # timestamps print in UTC, whatever the machine
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if max_rows is None else cursor.fetchmany(max_rows)
        total = len(rows)
        while max_rows is not None and (more := cursor.fetchmany(_COUNT_BATCH)):
            total += len(more)
    if fmt == "csv":
        out = tabular.csv_text(columns, rows)
    elif fmt == "json":
        out = tabular.json_lines(columns, rows)
    else:
        out = tabular.table(columns, rows, total)
    return Answer(out, len(rows), total)


def query(db_path: Path, sql: str, fmt: Format = "table", max_rows: int | None = None) -> str:
    """:func:`run_query`'s text alone."""
    return run_query(db_path, sql, fmt, max_rows).text
