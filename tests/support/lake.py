"""An Iceberg lake for the tests: a SQLite SQL catalog, its warehouse on S3 (moto) or a folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl import schemas
from etl.warehouse.iceberg_uri import IcebergUri
from tests.support.s3 import REGION, S3Server, checksum, conform, parquet_tables

# The workspace the lake tests export. Keep the evals done: a missing or not-done panel would
# change between exports by itself.
LAKE_SIM = {"seed": 5, "evals": 6, "running_rate": 0.2, "failed_rate": 0,
            "missing_panel_rate": 0}

NAMESPACE = "evals_etl"


@dataclass(frozen=True)
class Lake:
    root: Path  # the catalog file lives here
    warehouse: str  # s3://bucket/prefix or file:///folder
    s3: S3Server | None = None
    catalog_uri: str | None = None  # another catalog than root/catalog.db: iceberg+postgresql://…

    @property
    def uri(self) -> str:
        uri = self.catalog_uri or f"iceberg+sql://{self.root}/catalog.db"
        uri += f"{'&' if '?' in uri else '?'}warehouse={self.warehouse}"
        if self.s3 is not None:
            uri += f"&s3.endpoint={self.s3.endpoint}&s3.region={REGION}"
        return uri

    def catalog(self) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        target = IcebergUri.parse(self.uri)
        return SqlCatalog(target.name, **target.properties)

    def table(self, name: str) -> Any:
        return self.catalog().load_table((NAMESPACE, name))

    def read(self, name: str, ref: str | None = None) -> pa.Table:
        """A table as pyiceberg reads it (at a tag when ``ref`` is given), in contract types."""
        table = self.table(name)
        scan = table.scan()
        if ref is not None:
            scan = scan.use_ref(ref)
        return conform(scan.to_arrow(), schemas.TABLES[name])

    def snapshots(self) -> dict[str, tuple[int, str]]:
        """Per table: how many snapshots, and its metadata file."""
        return {name: (len(t.snapshots()), t.metadata_location)
                for name, t in ((n, self.table(n)) for n in schemas.TABLES)}

    def tags(self, name: str) -> dict[str, int]:
        return {ref: r.snapshot_id for ref, r in self.table(name).metadata.refs.items()
                if ref != "main"}

    def manifest(self, name: str = "latest") -> dict[str, Any]:
        table = self.table("evaluations")
        folder = table.location().rstrip("/").rsplit("/", 1)[0] + "/_evals_etl"
        path = f"{folder}/latest.json" if name == "latest" else f"{folder}/runs/{name}.json"
        with table.io.new_input(path).open() as stream:
            data: dict[str, Any] = json.loads(stream.read())
        return data


def published_checksums(out: Path) -> dict[str, tuple[int, str]]:
    return {name: checksum(t) for name, t in parquet_tables(out).items()}


def lake_checksums(lake: Lake, ref: str | None = None) -> dict[str, tuple[int, str]]:
    return {name: checksum(lake.read(name, ref)) for name in schemas.TABLES}


# ---------------------------------------------------------------- hand-made datasets

FETCHED = datetime(2026, 1, 1, 12, 30, 15, 123000, tzinfo=UTC)


def _value(f: pa.Field, seed: int) -> Any:
    t = f.type
    if pa.types.is_string(t):
        return f"v{seed}-é,\"'"
    if pa.types.is_int64(t):
        return seed
    if pa.types.is_float64(t):
        return seed / 3
    if pa.types.is_boolean(t):
        return seed % 2 == 0
    if pa.types.is_timestamp(t):
        return FETCHED + timedelta(days=seed, milliseconds=7)
    if pa.types.is_list(t):
        return [f"a{seed}", "b"]
    raise AssertionError(f"no value for {t}")


def rows(evals: Mapping[str, tuple[str, int]], workspace: str = "ws"
         ) -> dict[str, list[dict[str, Any]]]:
    """One row per eval in every table (``runs``: one per run); ``evals``: id -> (run, seed)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in schemas.TABLES}
    for name, spec in schemas.TABLES.items():
        keys = sorted({run for run, _ in evals.values()}) if name == "runs" else sorted(evals)
        for key in keys:
            run, seed = (key, 0) if name == "runs" else evals[key]
            row = {f.name: _value(f, seed) for f in spec.schema}
            row.update({"workspace": workspace, "run_id": run, "fetched_at": FETCHED})
            if "eval_id" in spec.columns:
                row["eval_id"] = key
            tables[name].append(row)
    return tables
