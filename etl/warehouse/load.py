"""Load the current published dataset into a SQL warehouse through ADBC (``evals-etl load``).

The warehouse mirrors the published tables, one SQL table each, typed from ``etl.schemas``
only. Loading is incremental and idempotent: for every table, the rows of each eval (``runs``:
each run) are fingerprinted; a unit whose fingerprint differs from the one recorded in
``<schema>._evals_etl_loads`` is replaced (delete, insert from a staged copy) and its new
fingerprint recorded in the same transaction, and a unit gone from the dataset is deleted.
So a re-load writes nothing, a killed load leaves every unit either as before or as after,
and the next load (from any machine: the state lives in the warehouse) finishes the job.

Then the analyst views (``sql/2_intermediate`` and ``sql/3_marts``) are created over those
tables from the same SQL, transpiled (``etl.warehouse.marts``), when their SQL changed.

Crash points (``etl.crashpoints``), reached once per chunk transaction:
``load-staged`` → ``load-replaced`` (before commit) → ``load-committed``.

Only this module imports ADBC, and only inside functions, so the package works without the
warehouse extras. Dialect differences live in ``etl.warehouse.dialects``; everything else is one code path.
"""

from __future__ import annotations

import importlib
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl.errors import ConfigError, PublishError
from etl.warehouse import marts
from etl.warehouse.dataset import Dataset
from etl.warehouse.dialects import POSTGRESQL, Dialect, WarehouseUri
from etl.warehouse.iceberg_uri import is_iceberg
from etl.warehouse.target import LoadResult, Warehouse

DEFAULT_SCHEMA = "evals_etl"
# Bounds a transaction's size: a unit is never split, so one huge eval is one transaction.
CHUNK_ROWS = 500_000
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")




# ---------------------------------------------------------------- the load


def load(out: Path, uri: str, *, schema: str = DEFAULT_SCHEMA,
         chunk_rows: int = CHUNK_ROWS) -> LoadResult:
    """Bring ``schema`` in the warehouse at ``uri`` to the dataset published in ``out``."""
    if not _IDENTIFIER.fullmatch(schema):
        raise ConfigError(f"--schema {schema!r}: use lower-case letters, digits and _ only")
    if is_iceberg(uri):  # a lake, not a SQL warehouse: pyiceberg (etl.warehouse.iceberg), no ADBC
        return _iceberg_load(out, uri, schema)
    target = WarehouseUri.parse(uri)
    dataset = Dataset.open(out)
    started = time.monotonic()
    with _warehouse_errors(target), _connection(target) as conn, conn.cursor() as cur:
        wh = Warehouse(conn, cur, _server_dialect(conn, target.dialect), schema)
        wh.lock()
        migrated = wh.migrate()
        result = wh.sync(dataset, chunk_rows)
        result = replace(result, views=marts.sync_views(wh))
        wh.record(dataset, result)
    return replace(result, target=target.masked, migrated=tuple(migrated),
                   seconds=time.monotonic() - started)


def _iceberg_load(out: Path, uri: str, schema: str) -> LoadResult:
    try:  # only here: the package works without the iceberg extra
        from etl.warehouse import iceberg
    except ImportError as exc:
        raise ConfigError(f"Iceberg needs pyiceberg ({exc.name} is missing): "
                          "pip install 'evals-etl[iceberg]'") from None
    return iceberg.load(out, uri, schema=schema)


@contextmanager
def _warehouse_errors(target: WarehouseUri) -> Iterator[None]:
    driver_errors = _driver_errors()
    try:
        yield
    except driver_errors as exc:
        # from None: the driver's exception may quote the URI; only the redacted text leaves.
        raise PublishError(f"warehouse {target.masked}: {target.redact(str(exc))}") from None
    except (pa.ArrowException, OSError) as exc:
        raise PublishError(f"cannot read the published dataset: {exc}") from exc


def _driver_errors() -> tuple[type[Exception], ...]:
    try:
        import adbc_driver_manager
    except ImportError:  # no driver without it either: _connection names the extra to install
        return ()
    return (adbc_driver_manager.Error,)


@contextmanager
def _connection(target: WarehouseUri) -> Iterator[Any]:
    try:
        dbapi = importlib.import_module(target.dialect.driver)
    except ImportError:
        extra = target.dialect.name
        raise ConfigError(f"the {extra} warehouse driver is not installed: "
                          f"pip install 'evals-etl[{extra}]'") from None
    with warnings.catch_warnings():
        # BigQuery cannot turn autocommit off; Dialect.transactional says so already.
        warnings.simplefilter("ignore", Warning)
        conn = dbapi.connect(**target.connect_args())
    try:
        yield conn
    finally:
        conn.close()


def _server_dialect(conn: Any, dialect: Dialect) -> Dialect:
    if dialect is not POSTGRESQL:
        return dialect
    version = str(conn.adbc_get_info().get("vendor_version", ""))
    if version.isdigit() and int(version) < 150000:
        return replace(dialect, nulls_not_distinct=False)
    return dialect
