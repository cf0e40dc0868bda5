"""Warehouse SQL dialects, and the ``--to`` URI that picks one (for ``etl.warehouse``).

Everything that differs between PostgreSQL, Snowflake and BigQuery lives in one small
``Dialect`` value: column types, identifier quoting, how the grain is keyed, how rows are
staged and whether there are transactions. ``etl.warehouse`` runs one code path over it.
Pure: builds strings, opens nothing; the drivers are imported by ``etl.warehouse``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa

from etl.errors import ConfigError

# Query parameters whose values are credentials, masked like a URI's password.
SECRET_PARAMS = {"password", "passwd", "pwd", "secret", "token", "private_key",
                 "private_key_pwd", "credentials_json"}


def kind(type_: pa.DataType) -> str:
    """The data-contract type family of an Arrow type (timestamp units and list names aside)."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "string"
    if pa.types.is_timestamp(type_):
        return "timestamptz" if type_.tz else "timestamp"
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        return f"list<{kind(type_.value_type)}>"
    if pa.types.is_decimal(type_):
        return "decimal"
    return str(type_)  # double, int64, bool; anything else verbatim, so it never matches


@dataclass(frozen=True)
class Dialect:
    """What differs between warehouses."""

    name: str  # also the pip extra that installs its driver
    driver: str  # the ADBC DB-API module
    types: dict[str, str]  # kind() -> SQL type
    quote_char: str = '"'
    # Suffix of the primary key clause on a grain without nullable columns; None = no clause.
    primary_key: str | None = ""
    # A grain with nullable columns (class_name NULL = all classes) gets a unique index where
    # the warehouse enforces one; NULLS NOT DISTINCT makes NULL one value (PostgreSQL 15+).
    unique_index: bool = False
    nulls_not_distinct: bool = False
    temp_stage: bool = True  # stage in session temp tables, else in the target schema
    transactional: bool = True
    lock_sql: str | None = None  # returns one boolean: true when this load got the lock
    # (declared kind, kind the driver reports) pairs that are the same column type.
    equivalent: frozenset[tuple[str, str]] = frozenset()
    # `create or replace view` may change a view's columns (not in PostgreSQL, where a view
    # whose columns change is dropped and created again, in one transaction).
    replaces_views: bool = True

    def quote(self, name: str) -> str:
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def ref(self, schema: str, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}"

    def sql_type(self, f: pa.Field) -> str:
        try:
            return self.types[kind(f.type)]
        except KeyError:
            raise ConfigError(f"column {f.name!r}: no {self.name} type for Arrow {f.type}") from None

    def same_type(self, declared: pa.DataType, found: pa.DataType) -> bool:
        return kind(declared) == kind(found) or (kind(declared), kind(found)) in self.equivalent

    def create_table(self, schema: str, name: str, columns: pa.Schema,
                     grain: Sequence[str]) -> list[str]:
        """``create table if not exists`` plus, where needed, the grain's unique index."""
        cols = [f"{self.quote(f.name)} {self.sql_type(f)}{'' if f.nullable else ' not null'}"
                for f in columns]
        nullable_grain = any(columns.field(c).nullable for c in grain)
        if grain and not nullable_grain and self.primary_key is not None:
            cols.append(f"primary key ({', '.join(self.quote(c) for c in grain)}){self.primary_key}")
        body = ",\n  ".join(cols)
        statements = [f"create table if not exists {self.ref(schema, name)} (\n  {body}\n)"]
        if grain and nullable_grain and self.unique_index:
            statements.append(self._unique_grain(schema, name, columns, grain))
        return statements

    def _unique_grain(self, schema: str, name: str, columns: pa.Schema,
                      grain: Sequence[str]) -> str:
        head = f"create unique index if not exists {self.quote(name + '_grain')} " \
               f"on {self.ref(schema, name)}"
        if self.nulls_not_distinct:
            return f"{head} ({', '.join(self.quote(c) for c in grain)}) nulls not distinct"
        # Before PostgreSQL 15: NULL-ness and value as two never-NULL expressions per column.
        parts: list[str] = []
        for c in grain:
            q = self.quote(c)
            nullable = columns.field(c).nullable
            parts += [f"({q} is null)", f"coalesce({q}::text, '')"] if nullable else [q]
        return f"{head} ({', '.join(parts)})"

    def add_column(self, schema: str, name: str, f: pa.Field) -> str:
        # Always nullable: the rows already there have no value for it until reloaded.
        return f"alter table {self.ref(schema, name)} add column {self.quote(f.name)} {self.sql_type(f)}"

    def stage_ref(self, schema: str, name: str) -> str:
        return self.quote(name) if self.temp_stage else self.ref(schema, name)

    def stage_options(self, schema: str) -> dict[str, Any]:
        """``adbc_ingest`` keyword arguments that put a stage table where ``stage_ref`` says."""
        return {"temporary": True} if self.temp_stage else {"db_schema_name": schema}


POSTGRESQL = Dialect(
    "postgresql", "adbc_driver_postgresql.dbapi",
    {"string": "text", "double": "double precision", "int64": "bigint", "bool": "boolean",
     "timestamptz": "timestamptz", "list<string>": "text[]"},
    unique_index=True, nulls_not_distinct=True, replaces_views=False,
    # Session-level: held across the load's transactions, released when the process dies.
    lock_sql="select pg_try_advisory_lock(hashtext('evals-etl load ' || current_database() "
             "|| '.{schema}'))",
)
SNOWFLAKE = Dialect(
    "snowflake", "adbc_driver_snowflake.dbapi",
    {"string": "varchar", "double": "double", "int64": "number(38,0)", "bool": "boolean",
     "timestamptz": "timestamp_tz", "list<string>": "array"},
    # The driver reports NUMBER(38,0) as decimal and ARRAY as JSON text.
    equivalent=frozenset({("int64", "decimal"), ("list<string>", "string")}),
)
BIGQUERY = Dialect(
    "bigquery", "adbc_driver_bigquery.dbapi",
    {"string": "STRING", "double": "FLOAT64", "int64": "INT64", "bool": "BOOL",
     "timestamptz": "TIMESTAMP", "list<string>": "ARRAY<STRING>"},
    quote_char="`", primary_key=" not enforced",
    # Temp tables and transactions exist only inside BigQuery scripts, not across calls.
    temp_stage=False, transactional=False,
)
_BY_SCHEME = {"postgresql": POSTGRESQL, "postgres": POSTGRESQL,
              "snowflake": SNOWFLAKE, "bigquery": BIGQUERY}


@dataclass(frozen=True)
class WarehouseUri:
    """A ``--to`` URI: its dialect, how to connect, and how to print it without secrets."""

    uri: str
    dialect: Dialect
    secrets: tuple[str, ...]

    @classmethod
    def parse(cls, uri: str) -> WarehouseUri:
        parts = urlsplit(uri)
        password = parts.password
        secrets = {password, unquote(password)} if password else set()
        secrets |= {v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS and v}
        ordered = tuple(sorted(secrets, key=len, reverse=True))  # longest first: no partial leaks
        if parts.scheme not in _BY_SCHEME:
            shown = cls(uri, POSTGRESQL, ordered).masked
            raise ConfigError(f"unsupported warehouse URI {shown!r}: expected postgresql://…, "
                              "snowflake://… or bigquery://…")
        return cls(uri, _BY_SCHEME[parts.scheme], ordered)

    @property
    def masked(self) -> str:
        parts = urlsplit(self.uri)
        shown = self.uri
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            shown = parts._replace(netloc=f"{parts.username}:***@{host}").geturl()
        return self.redact(shown)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def connect_args(self) -> dict[str, Any]:
        """Keyword arguments for the dialect's ``dbapi.connect``."""
        if self.dialect is SNOWFLAKE:
            # The driver takes gosnowflake's DSN: the URI without its scheme.
            return {"uri": self.uri.removeprefix("snowflake://")}
        if self.dialect is BIGQUERY:
            return {"db_kwargs": _bigquery_options(self.uri), "autocommit": True}
        return {"uri": self.uri}


def _bigquery_options(uri: str) -> dict[str, str]:
    # bigquery://PROJECT[?credentials=/path/key.json]; without credentials, Google's ADC chain.
    parts = urlsplit(uri)
    options = {"adbc.bigquery.sql.project_id": parts.netloc}
    query = dict(parse_qsl(parts.query))
    if "credentials" in query:
        options["adbc.bigquery.sql.auth_type"] = "adbc.bigquery.sql.auth_type.credentials_file"
        options["adbc.bigquery.sql.credentials"] = query["credentials"]
    return options
