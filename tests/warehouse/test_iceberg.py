"""Export from the simulator, load into Iceberg tables on a real S3 server (moto), read back."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from etl import schemas, warehouse
from etl.errors import PublishError
from tests.support.lake import LAKE_SIM, Lake, lake_checksums, published_checksums
from tests.support.runs import export, simulator
from tests.support.s3 import S3Server

# Whole exports loaded into a lake on a real S3 server: the e2e tier, like tests/e2e/.
pytestmark = pytest.mark.e2e


@pytest.fixture
def lake(s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """A fresh bucket and catalog per test; credentials from the standard AWS variables."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    bucket = s3.create_bucket(f"lake-{uuid.uuid4().hex[:8]}")
    return Lake(tmp_path, f"s3://{bucket}/warehouse", s3)


def test_a_load_equals_the_published_tables_and_a_reload_adds_nothing(
        lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
    first = warehouse.load(out, lake.uri)

    assert lake_checksums(lake) == published_checksums(out)
    assert first.migrated == (f"created {len(schemas.TABLES)} tables",)
    run = first.run_id
    assert run is not None
    for name in schemas.TABLES:  # one snapshot each, tagged with the run id
        assert lake.tags(name) == {run: lake.table(name).metadata.current_snapshot_id}, name
    manifest = lake.manifest()
    assert manifest["run_id"] == run and set(manifest["tables"]) == set(schemas.TABLES)
    assert lake.manifest(run)["tables"] == manifest["tables"]
    objects = lake.s3.keys(lake.warehouse.split("/")[2]) if lake.s3 else []

    before = lake.snapshots()
    again = warehouse.load(out, lake.uri)

    assert again.noop and again.unchanged == first.replaced
    assert lake.snapshots() == before  # no snapshot, not even a new metadata file
    assert lake.s3 is not None and lake.s3.keys(lake.warehouse.split("/")[2]) == objects


def test_an_incremental_export_changes_only_the_changed_evals(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
        first = warehouse.load(out, lake.uri)
        state_one = published_checksums(out)
        before = lake.snapshots()
        export(sim, out)  # incremental: a new runs row; refetched units carry the new run id
        second = warehouse.load(out, lake.uri)

    assert second.run_id != first.run_id and second.run_id is not None
    assert second.tables["runs"] == (1, 0)
    assert 0 < second.replaced < first.replaced and second.removed == 0
    assert lake_checksums(lake) == published_checksums(out)
    after = lake.snapshots()
    for name in schemas.TABLES:
        table = lake.table(name)
        tags = lake.tags(name)
        assert set(tags) == {first.run_id, second.run_id}, name
        assert tags[second.run_id] == table.metadata.current_snapshot_id
        if name not in second.tables:  # untouched: no snapshot, the new tag on the old one
            assert after[name][0] == before[name][0] and tags[first.run_id] == tags[second.run_id]
            continue
        replaced, _ = second.tables[name]
        summary = table.current_snapshot().summary
        rows = int(summary["evals-etl.rows-inserted"])
        assert int(summary["evals-etl.units-replaced"]) == replaced, name
        assert int(summary["added-records"]) == rows > 0, name
    # The state of the first run is still there, whole, under its tag.
    assert lake_checksums(lake, ref=first.run_id) == state_one
    assert lake.manifest()["run_id"] == second.run_id
    assert warehouse.load(out, lake.uri).noop


def test_doctor_checks_the_catalog_and_the_bucket(lake: Lake, tmp_path: Path) -> None:
    from etl.doctor import warehouse_check

    empty = warehouse_check(lake.uri, "evals_etl")
    assert empty.state == "ok", empty.detail
    assert f"{lake.warehouse} is writable" in empty.detail and "does not exist yet" in empty.detail
    assert not (lake.root / "catalog.db").exists()  # doctor looks; it creates nothing
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
    run = warehouse.load(out, lake.uri).run_id

    loaded = warehouse_check(lake.uri, "evals_etl")
    assert loaded.state == "ok", loaded.detail
    assert f"holds {len(schemas.TABLES)} evals-etl tables, up to date" in loaded.detail
    assert f"last complete load: run {run}" in loaded.detail

    missing = warehouse_check(lake.uri.replace(lake.warehouse, "s3://no-such-bucket/x"), "other")
    assert missing.state == "fail" and "no-such-bucket" in missing.detail


def test_credentials_in_the_uri_never_show_in_errors_or_output(
        lake: Lake, tmp_path: Path) -> None:
    from etl.doctor import warehouse_check

    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
    uri = (lake.uri.replace(lake.warehouse, "s3://no-such-bucket/x")
           + f"&s3.access-key-id=AKIAEXAMPLEKEY&s3.secret-access-key={secret}")
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
    with pytest.raises(PublishError) as caught:
        warehouse.load(out, uri)
    assert secret not in str(caught.value) and "AKIAEXAMPLEKEY" not in str(caught.value)
    assert "s3.secret-access-key=***" in str(caught.value)
    assert secret not in warehouse_check(uri, "evals_etl").detail

    done = subprocess.run([sys.executable, "-m", "etl", "load", "--out", str(out), "--to-env",
                           "LAKE_URI"], env={**os.environ, "LAKE_URI": uri},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert secret not in done.stdout + done.stderr and "no-such-bucket" in done.stderr


def test_a_rest_catalog_loads_the_same_way(lake: Lake, tmp_path: Path) -> None:
    """Through the REST protocol (a test server over a SQLite catalog, see iceberg_rest)."""
    from tests.support.iceberg_rest import rest_catalog

    assert lake.s3 is not None
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim, rest_catalog(lake.catalog()) as (url, seen):
        export(sim, out)
        host = url.removeprefix("http://")
        uri = (f"iceberg+rest://{host}/?warehouse={lake.warehouse}&s3.endpoint={lake.s3.endpoint}"
               "&s3.region=us-east-1")
        first = warehouse.load(out, uri)
        assert lake_checksums(lake) == published_checksums(out)  # read through the SQL side
        before = lake.snapshots()
        assert warehouse.load(out, uri).noop and lake.snapshots() == before
        export(sim, out)
        second = warehouse.load(out, uri)
        from etl.doctor import warehouse_check

        check = warehouse_check(uri, "evals_etl")

    assert first.replaced and 0 < second.replaced < first.replaced
    assert lake_checksums(lake) == published_checksums(out)
    assert lake.manifest()["run_id"] == second.run_id
    assert "POST /v1/namespaces/evals_etl/tables/T" in seen  # the commits went over REST
    assert check.state == "ok" and "up to date" in check.detail, check.detail


@pytest.mark.postgres
def test_a_postgresql_sql_catalog_loads_the_same_way(
        lake: Lake, tmp_path: Path, postgres_server: str) -> None:
    """The SQL catalog's tables in PostgreSQL (psycopg2), the files on S3."""
    name = f"c_{uuid.uuid4().hex[:8]}"  # a catalog of its own in the shared server
    lake = replace(lake, catalog_uri=postgres_server.replace("postgresql://", "iceberg+postgresql://")
                   + f"?catalog={name}")
    out = tmp_path / "out"
    with simulator(**LAKE_SIM) as sim:
        export(sim, out)
    first = warehouse.load(out, lake.uri)

    assert first.replaced and lake_checksums(lake) == published_checksums(out)
    assert warehouse.load(out, lake.uri).noop
    assert lake.manifest()["catalog"] == name
