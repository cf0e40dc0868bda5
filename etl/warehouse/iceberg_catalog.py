"""The Iceberg catalog side of a load: opening it, its errors, and each table's schema.

Tables are created from ``etl.schemas`` (types, field docs, and the grain as identifier fields
where Iceberg allows it: identifier fields must be required, and most grains hold a nullable
column such as ``class_name`` NULL = all classes; the grain is always in the table property
``evals-etl.grain``). Existing tables evolve additively: a column added to the contract is
added to the table; a type that differs, or a column the contract does not know, stops the
load with a ConfigError, as in the SQL warehouses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg import exceptions as ice
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from etl import schemas
from etl.errors import ConfigError, LockHeldError, PublishError
from etl.warehouse.iceberg_uri import IcebergUri

PREFIX = "evals-etl."  # every property and snapshot-summary key evals-etl writes
GRAIN = PREFIX + "grain"
# A few engines (Trino, Snowflake) prefer the v2 format; pyiceberg defaults to it too.
TABLE_PROPERTIES = {"format-version": "2", "write.parquet.compression-codec": "zstd",
                    # Each load rewrites metadata.json: keep the folder from growing forever.
                    "write.metadata.delete-after-commit.enabled": "true",
                    "write.metadata.previous-versions-max": "50",
                    # Replacing an eval rewrites every data file holding its rows (pyiceberg
                    # deletes copy-on-write). Files cut at about 32 MiB of Arrow data (3-10
                    # MB of Parquet) from rows sorted by eval keep that to a file or two.
                    "write.target-file-size-bytes": str(32 << 20)}


def open_catalog(target: IcebergUri) -> Catalog:
    """The catalog the URI names; nothing is created yet."""
    if target.kind == "rest":
        return RestCatalog(target.name, **target.properties)
    try:
        return SqlCatalog(target.name, **target.properties)
    except ModuleNotFoundError as exc:  # the PostgreSQL form needs a SQLAlchemy driver
        package = "psycopg2-binary" if exc.name == "psycopg2" else exc.name
        raise ConfigError(f"the Iceberg SQL catalog needs {exc.name}: pip install "
                          f"{package}") from None


@contextmanager
def catalog_errors(target: IcebergUri) -> Iterator[None]:
    """pyiceberg's, the object store's and the SQL catalog's errors, as ours, redacted."""
    try:
        yield
    except (ice.CommitFailedException, ice.ValidationException) as exc:
        # Iceberg's optimistic concurrency: another load committed to this table meanwhile,
        # and pyiceberg's own retries could not rebase this commit on it.
        raise LockHeldError(f"Iceberg catalog {target.masked}: another writer committed to the "
                            f"table first ({target.redact(str(exc))}); run the load again") from None
    except (ice.UnauthorizedError, ice.ForbiddenError, ice.OAuthError) as exc:
        raise ConfigError(f"Iceberg catalog {target.masked} refused the credentials: "
                          f"{target.redact(str(exc))}") from None
    except (ice.RESTError, ice.ValidationError, ice.NoSuchTableError,
            ice.NoSuchNamespaceError, OSError, ValueError, pa.ArrowException) as exc:
        # from None: a driver's exception may quote a credential; only redacted text leaves.
        raise PublishError(f"Iceberg catalog {target.masked}: "
                           f"{target.redact(_describe(exc))}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):  # the SQL catalog's database
            raise PublishError(f"Iceberg catalog {target.masked}: "
                               f"{target.redact(_describe(exc))}") from None
        raise


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@dataclass(frozen=True)
class Prepared:
    table: Table
    changes: tuple[str, ...]  # what the schema step did, for the load's summary
    reload: bool  # columns were added: rows loaded before lack them, so replace every unit


def ensure_table(catalog: Catalog, namespace: str, spec: schemas.Table) -> Prepared:
    """The table for ``spec``, created or evolved (additively) to the contract's schema."""
    ident = (namespace, spec.name)
    if not catalog.table_exists(ident):
        txn = catalog.create_table_transaction(
            ident, schema=spec.schema,
            properties={**TABLE_PROPERTIES, GRAIN: ",".join(spec.grain)})
        identifiers = _identifier_fields(spec)
        if identifiers:
            with txn.update_schema() as update:
                update.set_identifier_fields(*identifiers)
        return Prepared(txn.commit_transaction(), (f"created {spec.name}",), False)
    table = catalog.load_table(ident)
    added = _plan_evolution(table, spec)
    if not added:
        return Prepared(table, (), False)
    with table.update_schema() as update:
        update.union_by_name(pa.schema([spec.schema.field(n) for n in added]))
    return Prepared(catalog.load_table(ident),
                    (f"added columns {', '.join(f'{spec.name}.{n}' for n in added)}",), True)


def _identifier_fields(spec: schemas.Table) -> tuple[str, ...]:
    fields = [spec.schema.field(name) for name in spec.grain]
    return () if any(f.nullable for f in fields) else spec.grain


def _plan_evolution(table: Table, spec: schemas.Table) -> list[str]:
    """The contract's columns the table lacks; ConfigError on anything not additive."""
    found = {f.name: f for f in table.schema().fields}
    wanted = {f.name: f for f in Catalog._convert_schema_if_needed(spec.schema).fields}
    problems = [f"{spec.name}.{name} is {found[name].field_type} in the catalog but "
                f"{field.field_type} in this evals-etl"
                for name, field in wanted.items()
                if name in found and str(found[name].field_type) != str(field.field_type)]
    problems += [f"{spec.name}.{name} exists in the catalog but not in this evals-etl (was it "
                 "loaded by a newer version?)" for name in found if name not in wanted]
    if problems:
        raise ConfigError("Iceberg table schema cannot be evolved additively: "
                          + "; ".join(problems) + ". Evolve it by hand, or load into a new "
                          "--schema (namespace).")
    return [name for name in wanted if name not in found]
