"""The Iceberg ``--to`` URI: its forms, its refusals, and credentials that never show."""

from __future__ import annotations

import pytest

from etl.errors import ConfigError
from etl.warehouse.iceberg_uri import IcebergUri, is_iceberg


def test_a_sqlite_catalog_with_its_warehouse_on_s3() -> None:
    uri = IcebergUri.parse("iceberg+sql:///var/lib/evals/catalog.db?warehouse=s3://lake/evals/"
                           "&s3.endpoint=http://127.0.0.1:9000&s3.region=eu-west-1")
    assert uri.kind == "sql" and uri.name == "evals"
    assert uri.properties == {"uri": "sqlite:////var/lib/evals/catalog.db",
                              "warehouse": "s3://lake/evals", "s3.endpoint": "http://127.0.0.1:9000",
                              "s3.region": "eu-west-1"}


def test_a_local_folder_is_a_file_location_and_the_catalog_can_be_named() -> None:
    uri = IcebergUri.parse("iceberg+sql:///tmp/c.db?warehouse=/srv/lake&catalog=prod")
    assert uri.name == "prod" and uri.warehouse == "file:///srv/lake"


def test_rest_and_postgresql_catalogs() -> None:
    rest = IcebergUri.parse("iceberg+rests://catalog.example:8443/api/catalog?warehouse=analytics"
                            "&credential=client:s3cr3t-value")
    assert rest.kind == "rest" and rest.properties["uri"] == "https://catalog.example:8443/api/catalog"
    assert rest.properties["credential"] == "client:s3cr3t-value"
    assert "s3cr3t" not in rest.masked and "credential=***" in rest.masked
    pg = IcebergUri.parse("iceberg+postgresql://loader:pa55word@db:5432/lake?warehouse=s3://l/x")
    assert pg.properties["uri"] == "postgresql+psycopg2://loader:pa55word@db:5432/lake"
    assert "pa55word" not in pg.masked and pg.redact("failed for pa55word") == "failed for ***"


@pytest.mark.parametrize("uri, message", [
    ("iceberg://x", "names its catalog"),
    ("iceberg+sql:///tmp/c.db", r"needs \?warehouse="),
    ("iceberg+sql://host/c.db?warehouse=s3://b", "a SQLite file, not a host"),
    ("iceberg+sql:///tmp/?warehouse=s3://b", "SQLite file of the catalog is missing"),
    ("iceberg+rest:///?warehouse=w", "host is missing"),
    ("iceberg+sql:///c.db?warehouse=s3://b&s3.endpiont=x&regoin=y", "unknown parameter.*regoin"),
])
def test_refused_uris_say_why(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        IcebergUri.parse(uri)


def test_every_credential_parameter_is_masked_and_redacted() -> None:
    uri = IcebergUri.parse("iceberg+sql:///c.db?warehouse=s3://b&s3.access-key-id=AKIAEXAMPLE1"
                           "&s3.secret-access-key=wJalr/XUtnFEMI%2BK7MDENG&s3.session-token=tok-123")
    for secret in ("AKIAEXAMPLE1", "wJalr/XUtnFEMI+K7MDENG", "tok-123"):
        assert secret not in uri.masked and secret not in repr(uri)
        assert uri.redact(f"S3 said: {secret}!") == "S3 said: ***!"
    assert uri.redact("wJalr%2FXUtnFEMI%2BK7MDENG") == "***"  # URL-quoted too
    assert "warehouse=s3://b" in uri.masked


def test_only_iceberg_schemes_are_dispatched_to_iceberg() -> None:
    assert is_iceberg("iceberg+sql:///c.db") and is_iceberg("ICEBERG+REST://h/")
    assert not is_iceberg("postgresql://u@h/db") and not is_iceberg("snowflake://a")
