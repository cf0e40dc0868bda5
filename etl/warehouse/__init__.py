"""``evals-etl load``: the published dataset into a SQL warehouse through ADBC.

``load`` (the entry point and its connection) → ``dataset`` (the snapshot's units and their
fingerprints) and ``target`` (the warehouse's DDL, load state and unit replacement), with the
SQL differences of PostgreSQL, Snowflake and BigQuery in ``dialects``.
"""

from etl.warehouse.dataset import Dataset, Unit, unit_key
from etl.warehouse.load import CHUNK_ROWS, DEFAULT_SCHEMA, load
from etl.warehouse.target import SCHEMA_VERSION, LoadResult, _schema_version

__all__ = ["CHUNK_ROWS", "DEFAULT_SCHEMA", "SCHEMA_VERSION", "Dataset", "LoadResult", "Unit",
           "_schema_version", "load", "unit_key"]
