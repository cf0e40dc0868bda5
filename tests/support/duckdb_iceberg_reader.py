"""An independent Iceberg reader: DuckDB's iceberg extension, in a virtual environment of its own.

Run by the tests with that environment's python (DuckDB 1.5 and the extension wheels
``duckdb-extension-{iceberg,avro,httpfs}``, loaded by path: no download at run time); it
imports nothing of evals-etl and no pyiceberg. Reads a JSON request on stdin::

    {"s3": {"endpoint": "127.0.0.1:PORT", "key_id": …, "secret": …, "region": …} | null,
     "tables": {name: {"iceberg": METADATA_LOCATION, "parquet": FOLDER,
                       "columns": [...], "snapshot_id": ID | null}}}

and prints, per table, the row count and an order-independent checksum of both sides, as
DuckDB computes them (each value as text, so timestamp units do not matter).
"""

from __future__ import annotations

import glob
import json
import sys

import duckdb


def connect(s3: dict[str, str] | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    pattern = f"{sys.prefix}/lib/python3*/site-packages/duckdb_extension_*/extensions/*/*.duckdb_extension"
    for path in sorted(glob.glob(pattern)):  # avro, httpfs, iceberg: iceberg needs both
        con.execute(f"load '{path}'")
    con.execute("set TimeZone = 'UTC'")
    if s3:
        con.execute("create secret lake (type s3, key_id ?, secret ?, region ?, endpoint ?, "
                    "url_style 'path', use_ssl false)",
                    [s3["key_id"], s3["secret"], s3["region"], s3["endpoint"]])
    return con


def measure(con: duckdb.DuckDBPyConnection, source: str, columns: list[str]) -> list[object]:
    values = ", ".join(f'coalesce(cast("{c}" as varchar), \'<null>\')' for c in columns)
    row = con.execute(f"select count(*), coalesce(sum(hash({values}))::hugeint, 0)::varchar "
                      f"from {source}").fetchone()
    return list(row or (0, "0"))


def main() -> None:
    request = json.load(sys.stdin)
    con = connect(request.get("s3"))
    result = {}
    for name, table in request["tables"].items():
        snapshot = table.get("snapshot_id")
        at = f", snapshot_from_id => {int(snapshot)}" if snapshot is not None else ""
        iceberg = f"iceberg_scan('{table['iceberg']}'{at})"
        parquet = f"read_parquet('{table['parquet']}/*.parquet', union_by_name => true)"
        result[name] = {"iceberg": measure(con, iceberg, table["columns"]),
                        "parquet": measure(con, parquet, table["columns"])}
    json.dump({"duckdb": duckdb.__version__, "tables": result}, sys.stdout)


if __name__ == "__main__":
    main()
