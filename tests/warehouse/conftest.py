"""A real PostgreSQL server for the warehouse tests, and published datasets to load into it.

The server comes from the machine's own binaries: ``initdb`` into a temporary folder, trust
auth, a free port on 127.0.0.1, the socket in that folder. ``initdb`` refuses to run as root
(CI runs as root), so as root the server runs as an unprivileged user through ``runuser``.
Without binaries the tests skip, unless EVALS_ETL_REQUIRE_POSTGRES=1 (set by .ci/run).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import schemas
from tests.support.s3 import S3Server, moto_server

SERVER_USER = "evalsetl"
Rows = Sequence[Mapping[str, Any]]


# ---------------------------------------------------------------- the server


def _find_bindir() -> Path | None:
    candidates = [shutil.which("initdb")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    candidates += ["/usr/local/bin/initdb"]
    for initdb in candidates:
        if initdb and os.access(initdb, os.X_OK):
            bindir = Path(initdb).resolve().parent
            if (bindir / "pg_ctl").exists():
                return bindir
    return None


def _unprivileged_user() -> str:
    for name in (SERVER_USER, "postgres"):
        try:
            if pwd.getpwnam(name).pw_uid != 0:
                return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    SERVER_USER], check=True, capture_output=True)
    return SERVER_USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    bindir: Path
    folder: Path
    user: str
    as_user: tuple[str, ...]  # command prefix: runuser when we are root

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, *args], check=True, capture_output=True, text=True,
                              timeout=60)

    def start(self, port: int) -> None:
        options = (f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-o", options,
                 "-l", str(self.folder / "server.log"), "-w", "-t", "30", "start")

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                 "-w", "stop")


def _unavailable(reason: str) -> None:
    if os.environ.get("EVALS_ETL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason}, and EVALS_ETL_REQUIRE_POSTGRES=1 requires the warehouse tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``postgresql://<user>@127.0.0.1:<port>/postgres`` of a server that lives for the session."""
    bindir = _find_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, "
                     "/usr/lib/postgresql/*/bin or /usr/local/bin")
        raise AssertionError("unreachable")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            _unavailable("running as root without runuser: initdb refuses to run as root")
        user = _unprivileged_user()
        as_user: tuple[str, ...] = ("runuser", "-u", user, "--")
    else:
        user, as_user = pwd.getpwuid(os.geteuid()).pw_name, ()
    # Not under pytest's tmp_path: its base folder is private to root.
    folder = Path(tempfile.mkdtemp(prefix="evals-etl-pg-"))
    shutil.chown(folder, user=user)
    server = Server(bindir, folder, user, as_user)
    try:
        server.run(str(bindir / "initdb"), "-D", str(folder / "data"), "-U", user, "-A", "trust",
                   "-E", "UTF8", "--no-locale", "--no-sync")
        port = _start_on_a_free_port(server)
    except subprocess.CalledProcessError as exc:
        log = folder / "server.log"
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"cannot start PostgreSQL: {exc.stderr or exc.stdout}"
                    f"{log.read_text() if log.exists() else ''}")
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _start_on_a_free_port(server: Server) -> int:
    # Another process may take the port between our probe and the server's bind: retry.
    for attempt in range(3):
        port = _free_port()
        try:
            server.start(port)
            return port
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture
def pg_uri(postgres_server: str) -> str:
    return postgres_server


@pytest.fixture
def schema() -> str:
    """A fresh warehouse schema per test, so tests share the server but not state."""
    return f"t_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- published datasets

FETCHED_AT = datetime(2026, 1, 1, 12, 30, 15, 123000, tzinfo=UTC)
# Class names and strings as the API may send them: byte-exact, whatever they hold.
STRINGS = ["person", "crème brûlée", "a,b", 'say "hi"', "it's", "日本語 🚗", "", "back\\slash",
           "tab\tnew\nline", "x"]
LISTS: list[list[str] | None] = [["a,b", "é"], [], None, ['q"uote', "it's"], ["one"]]


def _value(f: pa.Field, i: int, seed: int, in_grain: bool) -> Any:
    """A deterministic value for row ``i``; grain columns are injective in ``i``."""
    nullable_here = f.nullable and (i == 0 if in_grain else (i + seed) % 4 == 3)
    if nullable_here:
        return None
    t = f.type
    if pa.types.is_string(t):
        return STRINGS[i % len(STRINGS)] if in_grain else STRINGS[(i + seed) % len(STRINGS)]
    if pa.types.is_int64(t):
        return i * 10 if in_grain else (i + 1) * 7 + seed
    if pa.types.is_float64(t):
        return i / 8 if in_grain else (i + seed) / 3 + 1e-9
    if pa.types.is_boolean(t):
        return (i + seed) % 2 == 0
    if pa.types.is_timestamp(t):
        return FETCHED_AT + timedelta(days=seed, seconds=i, milliseconds=7 * i)
    if pa.types.is_list(t):
        return LISTS[(i + seed) % len(LISTS)]
    raise AssertionError(f"no generator for {t}")


def make_rows(table: str, key: str, run_id: str, n: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` rows of one eval (``runs``: one run) in ``table``, NULLs and odd strings included."""
    t = schemas.TABLES[table]
    lineage = {"workspace": "ws", "eval_id": key, "run_id": run_id,
               "fetched_at": FETCHED_AT + timedelta(days=seed)}
    if table == "runs":
        lineage["run_id"] = key
    if set(t.grain) <= {"eval_id", "run_id"}:
        n = 1  # one row per unit
    rows = []
    for i in range(min(n, len(STRINGS))):
        row = {f.name: _value(f, i, seed, f.name in t.grain) for f in t.schema}
        rows.append({**row, **{k: v for k, v in lineage.items() if k in t.columns}})
    return rows


def dataset(evals: Mapping[str, tuple[str, int]], n: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Rows for every table: ``evals`` maps eval_id -> (run_id, seed); runs get a row each."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in schemas.TABLES}
    for eval_id, (run_id, seed) in sorted(evals.items()):
        for name in schemas.TABLES:
            if name != "runs":
                tables[name] += make_rows(name, eval_id, run_id, n, seed)
    for run_id in sorted({run for run, _ in evals.values()}):
        tables["runs"] += make_rows("runs", run_id, run_id)
    return tables


class Publisher:
    """Writes snapshots the way the publisher lays them out, and switches ``tables`` to them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0

    def __call__(self, given: Mapping[str, Rows], run_id: str = "r1") -> Path:
        self.count += 1
        snapshot = self.out / "snapshots" / f"{self.count:04d}-{run_id}"
        for name, table in schemas.TABLES.items():
            folder = snapshot / "tables" / name
            folder.mkdir(parents=True)
            data = pa.Table.from_pylist(list(given.get(name, [])), schema=table.schema)
            pq.write_table(data, folder / "data.parquet")
        (snapshot / "manifest.json").write_text(json.dumps({"run_id": run_id}))
        link = self.out / "tables"
        tmp = self.out / ".tables.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("snapshots") / snapshot.name / "tables")
        os.replace(tmp, link)
        return snapshot


@pytest.fixture
def publish(tmp_path: Path) -> Callable[..., Path]:
    """``publish({table: rows}, run_id)`` → a new current snapshot in ``tmp_path / "out"``."""
    out = tmp_path / "out"
    out.mkdir()
    return Publisher(out)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


# ---------------------------------------------------------------- comparing both sides


class Pg:
    """A plain ADBC connection for the assertions (autocommit: every statement stands alone)."""

    def __init__(self, uri: str) -> None:
        from adbc_driver_postgresql import dbapi

        self.conn = dbapi.connect(uri, autocommit=True)

    def arrow(self, sql: str) -> pa.Table:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def execute(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def pg(pg_uri: str) -> Iterator[Pg]:
    conn = Pg(pg_uri)
    yield conn
    conn.close()


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return ("ts", value.astimezone(UTC).isoformat())
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return value


def canonical_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples: instants in UTC, lists as tuples, floats exact."""
    columns = [[_norm(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else []


def checksums(table: pa.Table) -> dict[str, tuple[int, str]]:
    """Per column: row count and an order-independent digest of its values."""
    import hashlib

    out = {}
    for name in table.column_names:
        values = sorted(repr(_norm(v)) for v in table.column(name).to_pylist())
        out[name] = (len(values), hashlib.md5("\n".join(values).encode()).hexdigest())
    return out


def warehouse_table(pg: Pg, schema: str, table: str) -> pa.Table:
    cols = ", ".join(f'"{c}"' for c in schemas.TABLES[table].columns)
    return pg.arrow(f'select {cols} from "{schema}"."{table}"')


def views_tables(out: Path) -> dict[str, pa.Table]:
    """Every table as its DuckDB base view shows it (views built over ``out/tables``)."""
    import duckdb

    from etl import views

    db = out / "evals.duckdb"
    views.build_database(db, out / "tables")
    tables = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for name, table in schemas.TABLES.items():
            cols = ", ".join(f'"{c}"' for c in table.columns)
            tables[name] = con.sql(f'select {cols} from "{name}"').to_arrow_table()
    return tables


def assert_matches_views(pg: Pg, schema: str, out: Path) -> None:
    """Every warehouse table equals its DuckDB view: row count, column checksums, rows."""
    from collections import Counter

    for table, want in views_tables(out).items():
        got = warehouse_table(pg, schema, table)
        assert got.num_rows == want.num_rows, table
        assert checksums(got) == checksums(want), table
        assert Counter(canonical_rows(got)) == Counter(canonical_rows(want)), table


def dump(pg: Pg, schema: str) -> dict[str, dict[str, Any]]:
    """Every table's rows grouped by unit (eval_id; runs: run_id), as multisets."""
    from collections import Counter

    from etl.warehouse import unit_key

    state: dict[str, dict[str, Any]] = {}
    for name, table in schemas.TABLES.items():
        key = table.columns.index(unit_key(table))
        units: dict[str, Counter[tuple[Any, ...]]] = {}
        for row in canonical_rows(warehouse_table(pg, schema, name)):
            units.setdefault(row[key], Counter())[row] += 1
        state[name] = units
    return state


@dataclass
class Env:
    """One test's warehouse schema, output folder and the helpers the tests share."""

    uri: str
    schema: str
    out: Path
    pg: Pg
    publish: Publisher

    dataset = staticmethod(dataset)

    def load(self, **kwargs: Any) -> Any:
        from etl import warehouse

        return warehouse.load(self.out, self.uri, schema=self.schema, **kwargs)

    def assert_matches_views(self) -> None:
        assert_matches_views(self.pg, self.schema, self.out)

    def dump(self) -> dict[str, dict[str, Any]]:
        return dump(self.pg, self.schema)

    def xmins(self, table: str) -> list[tuple[str, str]]:
        """(unit, xmin) of every row: a rewritten row gets a new xmin."""
        from etl.warehouse import unit_key

        key = unit_key(schemas.TABLES[table])
        return sorted(self.pg.rows(f'select "{key}", xmin::text from "{self.schema}"."{table}"'))

    def loads(self) -> list[tuple[Any, ...]]:
        return sorted(self.pg.rows(f'select table_name, eval_id, fingerprint, loaded_at '
                                   f'from "{self.schema}"._evals_etl_loads'))


@pytest.fixture
def env(pg_uri: str, schema: str, pg: Pg, publish: Publisher, out: Path) -> Env:
    return Env(pg_uri, schema, out, pg, publish)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (moto) on localhost, one per test module."""
    with moto_server() as server:
        yield server
