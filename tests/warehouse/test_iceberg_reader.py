"""An independent reader (DuckDB's iceberg extension, no pyiceberg) reads the lake back.

It follows the run manifests, as the README tells a DuckDB user to: ``latest.json`` for the
latest complete state, ``runs/<id>.json`` for one run's, and its counts and checksums match
the published Parquet files, which it reads too.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from etl import schemas, warehouse
from tests.support.iceberg_reader import read
from tests.support.lake import LAKE_SIM, Lake
from tests.support.runs import export, simulator
from tests.support.s3 import CREDENTIALS, REGION, S3Server

# Whole exports loaded into a lake on a real S3 server: the e2e tier, like tests/e2e/.
pytestmark = pytest.mark.e2e


def request(lake: Lake, manifest: dict[str, Any], tables: Path, *,
            at_snapshot: bool = False) -> dict[str, Any]:
    assert lake.s3 is not None
    s3 = {"endpoint": lake.s3.host, "key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
          "secret": CREDENTIALS["AWS_SECRET_ACCESS_KEY"], "region": REGION}
    return {"s3": s3, "tables": {
        name: {"iceberg": entry["metadata_location"], "parquet": str(tables / name),
               "columns": schemas.TABLES[name].columns,
               "snapshot_id": entry["snapshot_id"] if at_snapshot else None}
        for name, entry in manifest["tables"].items()}}


def test_duckdb_reads_the_latest_complete_state_and_each_runs_state(
        s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    lake = Lake(tmp_path, f"s3://{s3.create_bucket(f'read-{uuid.uuid4().hex[:8]}')}/wh", s3)
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
        first = warehouse.load(out, lake.uri)
        first_tables = (out / "tables").resolve()  # kept: the export keeps two snapshots
        export(sim, out)
        second = warehouse.load(out, lake.uri)
    assert first.run_id and second.run_id and second.replaced

    latest = read(request(lake, lake.manifest(), (out / "tables").resolve()))
    # The first run's state: its manifest's metadata files, and (the same, through the
    # newest metadata) its snapshot ids, which is how a reader holding only a table's
    # current metadata file goes back to run X.
    run_one = read(request(lake, lake.manifest(first.run_id), first_tables))
    newest = {**lake.manifest(first.run_id), "tables": {
        name: {**entry, "metadata_location": lake.manifest()["tables"][name]["metadata_location"]}
        for name, entry in lake.manifest(first.run_id)["tables"].items()}}
    by_snapshot = read(request(lake, newest, first_tables, at_snapshot=True))

    assert latest["duckdb"].startswith("1.5")
    for answer in (latest, run_one, by_snapshot):
        assert set(answer["tables"]) == set(schemas.TABLES)
        for name, sides in answer["tables"].items():
            assert sides["iceberg"] == sides["parquet"], name
    changed = [name for name in schemas.TABLES
               if latest["tables"][name]["iceberg"] != run_one["tables"][name]["iceberg"]]
    assert "runs" in changed and set(changed) == set(second.tables)
