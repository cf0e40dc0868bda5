"""``doctor --to iceberg+…``: can the catalog be reached, can the bucket be written, what is there?"""

from __future__ import annotations

import uuid
from pathlib import Path

from pyiceberg.catalog import Catalog
from pyiceberg.io import FileIO, load_file_io

from etl import schemas
from etl.warehouse import iceberg_manifest
from etl.warehouse.iceberg_catalog import catalog_errors, open_catalog
from etl.warehouse.iceberg_uri import IcebergUri
from etl.warehouse.target import SCHEMA_VERSION


def probe(uri: str, namespace: str) -> tuple[str, str]:
    """(ok | warn, what was found); raises the load's own errors when something is unreachable."""
    target = IcebergUri.parse(uri)
    sqlite = _missing_sqlite_file(target)
    if sqlite is not None:  # opening it would create it: doctor changes nothing
        with catalog_errors(target):
            if target.warehouse and "://" in target.warehouse:
                _write_and_delete(load_file_io(target.properties, target.warehouse),
                                  target.warehouse)
        state = "ok" if sqlite.parent.is_dir() else "warn"
        return state, (f"catalog {target.masked}: the file {sqlite} does not exist yet (the "
                       f"first load creates it{'' if state == 'ok' else ', once its folder exists'})"
                       f"; {target.warehouse} is writable")
    with catalog_errors(target):
        catalog = open_catalog(target)
        catalog.list_namespaces()  # the catalog answers (SQL: the file opens; REST: the server)
        location = _location(catalog, target, namespace)
        if location is not None:
            _write_and_delete(load_file_io(catalog.properties, location), location)
        state, found = _namespace(catalog, namespace)
    where = f"catalog {target.masked}"
    bucket = f"; {location} is writable" if location else ""
    return state, f"{where}{bucket}; namespace {namespace!r} {found}"


def _location(catalog: Catalog, target: IcebergUri, namespace: str) -> str | None:
    """Where the tables' files go: an existing table's folder's parent, else the warehouse."""
    ident = (namespace, "evaluations")
    if catalog.table_exists(ident):
        return catalog.load_table(ident).location().rstrip("/").rsplit("/", 1)[0]
    warehouse = target.warehouse
    # A REST catalog's warehouse is often a name the server maps to a bucket: not a path.
    return warehouse if warehouse and "://" in warehouse else None


def _missing_sqlite_file(target: IcebergUri) -> Path | None:
    uri = target.properties.get("uri", "")
    if target.kind != "sql" or not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    return None if path.exists() else path


def _write_and_delete(io: FileIO, location: str) -> None:
    path = f"{location}/_evals_etl_doctor-{uuid.uuid4().hex}"
    with io.new_output(path).create(overwrite=True) as stream:
        stream.write(b"evals-etl doctor probe; safe to delete\n")
    io.delete(path)


def _namespace(catalog: Catalog, namespace: str) -> tuple[str, str]:
    if (namespace,) not in [tuple(n) for n in catalog.list_namespaces()]:
        return "ok", "does not exist yet (the first load creates it)"
    names = {ident[-1] for ident in catalog.list_tables(namespace)}
    ours = [name for name in schemas.TABLES if name in names]
    if not ours:
        return "ok", "has no evals-etl tables yet (the first load creates them)"
    table = catalog.load_table((namespace, ours[0]))
    latest = iceberg_manifest.read(table.io, iceberg_manifest.folder(table.location())
                                   + "/latest.json")
    run = f", last complete load: run {latest.get('run_id')} at {latest.get('loaded_at')}" \
        if latest else ", no complete load recorded"
    version = table.properties.get("evals-etl.schema-version")
    missing = [name for name in schemas.TABLES if name not in names]
    if version != f"{SCHEMA_VERSION:012x}" or missing:
        return "warn", (f"holds {len(ours)} evals-etl tables{run}; the next load evolves them "
                        f"to this evals-etl's schema {SCHEMA_VERSION:012x} (additive changes only)")
    return "ok", f"holds {len(ours)} evals-etl tables, up to date{run}"
