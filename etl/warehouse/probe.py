"""Can the warehouse be reached, and what schema version does it hold? (``doctor --to``)"""

from __future__ import annotations

from etl.errors import ConfigError
from etl.warehouse.dialects import WarehouseUri
from etl.warehouse.iceberg_uri import is_iceberg
from etl.warehouse.load import _IDENTIFIER, _connection, _warehouse_errors
from etl.warehouse.target import SCHEMA_VERSION, VERSIONS


def probe(uri: str, schema: str) -> tuple[str, str]:
    """(ok | warn, what was found); raises the load's own errors when it cannot connect."""
    if not _IDENTIFIER.fullmatch(schema):
        raise ConfigError(f"--schema {schema!r}: use lower-case letters, digits and _ only")
    if is_iceberg(uri):  # the catalog and the bucket (etl.warehouse.iceberg_probe)
        return _iceberg_probe(uri, schema)
    target = WarehouseUri.parse(uri)
    with _warehouse_errors(target), _connection(target) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables where table_schema = "
                    f"'{schema}' and table_name = '{VERSIONS}'")
        row = cur.fetchone()
        if not row or not row[0]:
            return "ok", (f"connected to {target.masked}; schema {schema!r} has no evals-etl "
                          "tables yet (the first load creates them)")
        cur.execute(f"select max(version) from {target.dialect.ref(schema, VERSIONS)}")
        found = cur.fetchone()
    version = None if not found else found[0]
    if version == SCHEMA_VERSION:
        return "ok", f"connected to {target.masked}; schema {schema!r} is up to date"
    return "warn", (f"connected to {target.masked}; schema {schema!r} holds version "
                    f"{version:012x} and this evals-etl writes {SCHEMA_VERSION:012x}: the next "
                    "load migrates it (additive changes only)" if version is not None else
                    f"connected to {target.masked}; schema {schema!r} records no version")


def _iceberg_probe(uri: str, namespace: str) -> tuple[str, str]:
    try:  # only here: doctor works without the iceberg extra
        from etl.warehouse import iceberg_probe
    except ImportError as exc:
        raise ConfigError(f"Iceberg needs pyiceberg ({exc.name} is missing): "
                          "pip install 'evals-etl[iceberg]'") from None
    return iceberg_probe.probe(uri, namespace)
