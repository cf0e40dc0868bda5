"""The run manifest: which snapshot of every table is one export run's state.

Iceberg commits table by table; a SQL catalog has no multi-table commit. So every load tags
each table's snapshot with the run id, and once every table is committed writes, next to the
tables (``<namespace location>/_evals_etl/``):

* ``runs/<run id>.json``: the run's tables, each with its tag, snapshot id, metadata file
  and row count: "the state of run X", readable without the catalog;
* ``latest.json``: the same object for the last run whose load completed, written last (an
  object store replaces an object atomically): "the latest complete state". A reader that
  follows it never sees a half-loaded run, whatever the tables' ``main`` branches show
  while a load is running or after one was killed.

The namespace properties ``evals-etl.latest-run`` and ``evals-etl.latest-manifest`` repeat the
pointer for engines that show namespace properties (``DESCRIBE NAMESPACE EXTENDED``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyiceberg.catalog import Catalog
from pyiceberg.io import FileIO

from etl import crashpoints
from etl.warehouse.dataset import Dataset
from etl.warehouse.iceberg_catalog import PREFIX
from etl.warehouse.iceberg_uri import IcebergUri
from etl.warehouse.target import SCHEMA_VERSION

if TYPE_CHECKING:
    from etl.warehouse.iceberg import TableLoad

FORMAT = 1
FOLDER = "_evals_etl"
LATEST_RUN, LATEST_MANIFEST = PREFIX + "latest-run", PREFIX + "latest-manifest"


def folder(table_location: str) -> str:
    """The manifest folder, beside the namespace's tables (a table's parent folder)."""
    return table_location.rstrip("/").rsplit("/", 1)[0] + "/" + FOLDER


def record(catalog: Catalog, namespace: str, target: IcebergUri, dataset: Dataset, tag: str,
           tables: Sequence[TableLoad]) -> bool:
    """Write the run's manifest, then ``latest.json``; False when both already say it all."""
    first = catalog.load_table((namespace, tables[0].name))
    io, base = first.io, folder(first.location())
    manifest = {"format": FORMAT, "run_id": tag, "dataset_snapshot": dataset.snapshot,
                "catalog": target.name, "namespace": namespace,
                "schema_version": f"{SCHEMA_VERSION:012x}",
                "tables": {t.name: {"tag": tag, "snapshot_id": t.snapshot_id,
                                    "metadata_location": t.metadata_location,
                                    "records": t.records} for t in tables}}
    latest = read(io, f"{base}/latest.json")
    if latest is not None and _same(latest, manifest):
        return False  # a re-load of what is loaded: write nothing, not even a timestamp
    manifest["loaded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write(io, f"{base}/runs/{tag}.json", manifest)
    crashpoints.reach("iceberg-run-written")
    _write(io, f"{base}/latest.json", manifest)
    catalog.update_namespace_properties(namespace, updates={
        LATEST_RUN: tag, LATEST_MANIFEST: f"{base}/runs/{tag}.json"})
    return True


def read(io: FileIO, location: str) -> dict[str, Any] | None:
    """A manifest, or None when there is none (or it does not read as one)."""
    source = io.new_input(location)
    if not source.exists():
        return None
    with source.open() as stream:
        try:
            data = json.loads(stream.read())
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return {k: v for k, v in old.items() if k != "loaded_at"} == new


def _write(io: FileIO, location: str, data: dict[str, Any]) -> None:
    with io.new_output(location).create(overwrite=True) as stream:
        stream.write(json.dumps(data, indent=2, sort_keys=True).encode() + b"\n")
