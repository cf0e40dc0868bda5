"""DDL, URIs and secrets per dialect: no server needed (Snowflake and BigQuery cannot run here)."""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import Any

import pyarrow as pa
import pytest

from etl import cli, schemas, warehouse
from etl.errors import EXIT_USAGE, ConfigError, PublishError
from etl.store import publish
from etl.warehouse.dialects import BIGQUERY, POSTGRESQL, SNOWFLAKE, WarehouseUri, kind


def ddl(dialect: Any, table: str) -> str:
    t = schemas.TABLES[table]
    return ";\n".join(dialect.create_table("evals_etl", t.name, t.schema, t.grain))


def test_postgresql_keys_a_non_null_grain_and_indexes_a_nullable_one() -> None:
    assert ddl(POSTGRESQL, "evaluations").endswith('primary key ("eval_id")\n)')
    assert '"fetched_at" timestamptz not null' in ddl(POSTGRESQL, "evaluations")
    assert '"sample_images" text[]' in ddl(POSTGRESQL, "vector_clusters")
    size = ddl(POSTGRESQL, "size_metrics")
    assert "primary key" not in size
    assert size.endswith('create unique index if not exists "size_metrics_grain" on '
                         '"evals_etl"."size_metrics" ("eval_id", "split", "class_name", '
                         '"object_size") nulls not distinct')


def test_snowflake_and_bigquery_declare_keys_they_do_not_enforce() -> None:
    assert ddl(SNOWFLAKE, "runs").endswith('primary key ("run_id")\n)')
    assert '"count" number(38,0)' in ddl(SNOWFLAKE, "confusion_matrix")
    assert '"fetched_at" timestamp_tz not null' in ddl(SNOWFLAKE, "runs")
    bq = ddl(BIGQUERY, "vector_clusters")
    assert bq.startswith("create table if not exists `evals_etl`.`vector_clusters` (")
    assert "`sample_images` ARRAY<STRING>" in bq and "`f1_mean` FLOAT64" in bq
    assert "primary key" not in bq and "index" not in bq  # nullable grain: nothing to declare
    assert ddl(BIGQUERY, "evaluations").endswith("primary key (`eval_id`) not enforced\n)")


def test_every_contract_type_has_a_type_in_every_dialect() -> None:
    kinds = {kind(f.type) for t in schemas.TABLES.values() for f in t.schema}
    assert kinds == {"string", "double", "int64", "bool", "timestamptz", "list<string>"}
    for dialect in (POSTGRESQL, SNOWFLAKE, BIGQUERY):
        assert kinds <= dialect.types.keys(), dialect.name


def test_names_are_plain_identifiers() -> None:
    # Table names are written into SQL string literals (load state) and identifiers.
    plain = re.compile(r"[a-z_][a-z0-9_]*")
    for table in schemas.TABLES.values():
        assert plain.fullmatch(table.name)
        assert all(plain.fullmatch(c) for c in table.columns), table.name


def test_the_schema_version_follows_the_schema_module(monkeypatch: pytest.MonkeyPatch) -> None:
    assert warehouse._schema_version() == warehouse.SCHEMA_VERSION
    # The manifests' fingerprint: a warehouse's version names the snapshots it fits.
    assert publish.schema_version().startswith(f"{warehouse.SCHEMA_VERSION:012x}")
    runs = schemas.TABLES["runs"]
    wider = schemas.Table(runs.name, runs.panel, runs.grain, runs.unit,
                          runs.schema.append(pa.field("note", pa.string())), runs.doc)
    monkeypatch.setitem(schemas.TABLES, "runs", wider)
    assert warehouse._schema_version() != warehouse.SCHEMA_VERSION


@pytest.mark.parametrize(("uri", "shown", "secrets"), [
    ("postgresql://etl:pa%40ss@db:5432/wh", "postgresql://etl:***@db:5432/wh", ["pa@ss", "pa%40ss"]),
    ("snowflake://me:hunter2@acct/db/sch?warehouse=wh",
     "snowflake://me:***@acct/db/sch?warehouse=wh", ["hunter2"]),
    ("postgresql://db/wh?password=hunter2&sslmode=require",
     "postgresql://db/wh?password=***&sslmode=require", ["hunter2"]),
    ("bigquery://proj?credentials=/k.json", "bigquery://proj?credentials=/k.json", []),
])
def test_uris_print_without_their_secrets(uri: str, shown: str, secrets: list[str]) -> None:
    target = WarehouseUri.parse(uri)
    assert target.masked == shown
    message = "driver said: " + " and ".join(secrets)
    assert target.redact(message) == "driver said: " + " and ".join("***" for _ in secrets)


def test_the_uri_picks_the_dialect_and_its_connect_arguments() -> None:
    assert WarehouseUri.parse("postgres://u@h/db").dialect is POSTGRESQL
    snow = WarehouseUri.parse("snowflake://u:p@acct/db?warehouse=wh")
    assert snow.dialect is SNOWFLAKE and snow.connect_args() == {"uri": "u:p@acct/db?warehouse=wh"}
    bq = WarehouseUri.parse("bigquery://my-project?credentials=/etc/key.json")
    assert bq.connect_args() == {"autocommit": True, "db_kwargs": {
        "adbc.bigquery.sql.project_id": "my-project",
        "adbc.bigquery.sql.auth_type": "adbc.bigquery.sql.auth_type.credentials_file",
        "adbc.bigquery.sql.credentials": "/etc/key.json"}}


def test_an_unknown_scheme_is_a_usage_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="expected postgresql://") as caught:
        WarehouseUri.parse("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(caught.value) and "root:***@db" in str(caught.value)


def test_a_bad_schema_name_is_a_usage_error(publish: Any, out: Any) -> None:
    publish({})
    with pytest.raises(ConfigError, match="--schema"):
        warehouse.load(out, "postgresql://u@h/db", schema='x"; drop table y')


@pytest.mark.parametrize("extra", ["snowflake", "bigquery"])
def test_a_missing_driver_names_the_extra_to_install(publish: Any, out: Any, extra: str) -> None:
    if importlib.util.find_spec(f"adbc_driver_{extra}") is not None:
        pytest.skip(f"adbc_driver_{extra} is installed here")
    publish({})
    uri = {"snowflake": "snowflake://me:hunter2@acct/db", "bigquery": "bigquery://proj"}[extra]
    with pytest.raises(ConfigError, match=re.escape(f"pip install 'evals-etl[{extra}]'")) as caught:
        warehouse.load(out, uri)
    assert "hunter2" not in str(caught.value)


def test_without_the_postgresql_extra_load_names_it(
        publish: Any, out: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    publish({})
    # None in sys.modules makes an import fail as if the package were not installed.
    for module in ("adbc_driver_manager", "adbc_driver_postgresql", POSTGRESQL.driver):
        monkeypatch.setitem(sys.modules, module, None)
    uri = "postgresql://etl:hunter2@db/wh"
    with pytest.raises(ConfigError, match=re.escape("pip install 'evals-etl[postgresql]'")):
        warehouse.load(out, uri)
    assert cli.main(["load", "--out", str(out), "--to", uri]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "evals-etl[postgresql]" in err and "hunter2" not in err


def test_an_unreadable_manifest_is_a_publish_error(publish: Any, out: Any) -> None:
    snapshot = publish({})
    (snapshot / "manifest.json").write_text("{not json")
    with pytest.raises(PublishError, match="cannot read the manifest"):
        warehouse.Dataset.open(out)


def test_nothing_published_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(Exception, match="nothing published"):
        warehouse.load(tmp_path, "postgresql://u@h/db")
