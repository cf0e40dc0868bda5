"""The DuckDB views layer: builds ``evals.duckdb`` from ``sql/`` and formats query results.

Writes only ``evals.duckdb``. Every ``.sql`` file holds one ``select``; its file name is the
view's name, and files run in sorted path order (``1_base`` → ``2_intermediate`` →
``3_marts``), so a view may use only views of lower layers. The one placeholder,
``${tables}``, is the absolute path of the published tables folder: DuckDB resolves a
relative path in a view against the *reader's* working directory, so only absolute paths
make a database that works from anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb

from etl.errors import PublishError

PLACEHOLDER = "${tables}"
# One row saying which tables folder the views read: how publish and recovery tell whether a
# database shows the current snapshot, without parsing view SQL.
BUILD_TABLE = "_evals_etl_build"
Format = Literal["table", "csv", "json"]


def sql_dir() -> Path:
    """``sql/`` at the repository root in a checkout, else ``etl/sql`` inside the wheel."""
    checkout = Path(__file__).resolve().parent.parent / "sql"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "sql"


def sql_files() -> list[Path]:
    """Every view definition, in build order."""
    return sorted(sql_dir().glob("*/*.sql"))


def _quote_path(path: Path) -> str:
    # The path lands inside a single-quoted SQL literal: double any quote in it.
    return path.as_posix().replace("'", "''")


def build_database(db_path: Path, tables_dir: Path) -> None:
    """(Re)create ``db_path`` with every view of ``sql/``, over ``tables_dir``.

    Builds into a temporary file beside ``db_path`` and renames it into place, so a reader
    sees the old database or the new one, never a half-built one.
    """
    tables = Path(os.path.abspath(tables_dir))
    if not tables.is_dir():
        raise PublishError(f"cannot build views: tables folder {tables} does not exist")
    db_path = Path(os.path.abspath(db_path))
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(tmp)) as con:
            for path in sql_files():
                sql = path.read_text(encoding="utf-8").replace(PLACEHOLDER, _quote_path(tables))
                try:
                    con.execute(f'create view "{path.stem}" as\n{sql}')
                except duckdb.Error as exc:
                    rel = path.relative_to(sql_dir())
                    raise PublishError(f"cannot build view {rel}: {exc}") from exc
            con.execute(f"create table {BUILD_TABLE} as select ? as tables_dir, now() as built_at",
                        [tables.as_posix()])
        os.replace(tmp, db_path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)


build = build_database  # the name etl.store.publish.Views gives it


def shows(db_path: Path, tables_dir: Path) -> bool:
    """Whether ``db_path`` opens and its views read ``tables_dir`` (as built by this module)."""
    if not db_path.exists():
        return False
    tables = Path(os.path.abspath(tables_dir)).as_posix()
    try:
        with duckdb.connect(str(db_path), read_only=True) as con:
            if con.execute("select 1 from duckdb_tables() where table_name = ?",
                           [BUILD_TABLE]).fetchone() is None:
                return _legacy_shows(con, tables)
            row = con.execute(f"select tables_dir from {BUILD_TABLE}").fetchone()
    except duckdb.Error:
        return False  # unreadable: rebuild
    return row is not None and row[0] == tables


def _legacy_shows(con: duckdb.DuckDBPyConnection, tables: str) -> bool:
    """A database built before the marker existed (0.1): its views name the folder."""
    rows = con.execute("select sql from duckdb_views() where view_name = 'evaluations'").fetchall()
    return bool(rows) and f"'{_quote_path(Path(tables))}/" in rows[0][0]


def view_names(db_path: Path) -> list[str]:
    """Names of every view in the database, sorted."""
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "select view_name from duckdb_views() where not internal order by view_name"
        ).fetchall()
    return [name for (name,) in rows]


def query(
    db_path: Path, sql: str, fmt: Format = "table", max_rows: int | None = None
) -> str:
    """Run ``sql`` on a read-only connection and format the result.

    ``table`` is an aligned text table with a row-count footer, ``csv`` has a header line,
    ``json`` is one JSON object per line. ``max_rows`` caps the rows returned.
    """
    # Read-only: a read-write connection would lock the file against every other reader.
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")  # timestamps print in UTC, whatever the machine
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        if max_rows is None:
            rows, more = cursor.fetchall(), False
        else:
            rows = cursor.fetchmany(max_rows + 1)
            more = len(rows) > max_rows
            rows = rows[:max_rows]
    if fmt == "csv":
        return _csv(columns, rows)
    if fmt == "json":
        return _json_lines(columns, rows)
    return _table(columns, rows, more)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    """One value as analysts read it: NULL spelled out, floats to 4 decimals, UTC ISO times."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) and abs(value) < 1e12 else str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(_plain(value), ensure_ascii=False)
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]], more: bool) -> str:
    cells = [[_text(v) for v in row] for row in rows]
    numeric = [
        all(_is_number(row[i]) or row[i] is None for row in rows) and any(
            row[i] is not None for row in rows)
        for i in range(len(columns))
    ]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)
        ).rstrip()

    out = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)]
    count = f"{len(rows)} row{'' if len(rows) == 1 else 's'}"
    out.append(f"({count}; more not shown)" if more else f"({count})")
    return "\n".join(out)


def _plain(value: Any) -> Any:
    """A JSON-safe copy: times as ISO text, decimals as floats, NaN/inf as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _csv(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(v) for v in row])
    return buffer.getvalue().rstrip("\n")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(_plain(value), ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


def _json_lines(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    return "\n".join(
        json.dumps(dict(zip(columns, _plain(list(row)))), ensure_ascii=False) for row in rows
    )
