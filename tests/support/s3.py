"""A real S3-compatible server on localhost (moto's server mode), and reading Iceberg back.

The server runs in its own process (``python -m moto.server``) on a free port of 127.0.0.1,
so load subprocesses killed mid-way talk to it exactly as the test does. Credentials are
moto's dummies, handed over the standard AWS variables, never in a URI.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl import schemas

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    env: Mapping[str, str] = field(default_factory=lambda: dict(CREDENTIALS))

    @property
    def host(self) -> str:
        return self.endpoint.removeprefix("http://")

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                          Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@contextmanager
def moto_server() -> Iterator[S3Server]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **CREDENTIALS})
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, proc)
        yield S3Server(endpoint)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(endpoint: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto server did not start in 30 s")


# ---------------------------------------------------------------- comparing tables


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return value


def conform(table: pa.Table, spec: schemas.Table) -> pa.Table:
    """``table`` in the contract's column order and types (Iceberg reads timestamps as µs)."""
    return table.select(spec.columns).cast(pa.schema([pa.field(f.name, f.type) for f in spec.schema]))


def checksum(table: pa.Table) -> tuple[int, str]:
    """Row count and an order-independent digest of the rows."""
    columns = [[_norm(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)]
    rows = sorted(json.dumps(r, default=str) for r in zip(*columns, strict=True))
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def parquet_tables(out: Path) -> dict[str, pa.Table]:
    """Every table of the published snapshot as its Parquet files hold it, in the contract's
    schema (a column added since a file was written reads as NULL, as in the views)."""
    import pyarrow.dataset as pds

    found = {}
    for name, spec in schemas.TABLES.items():
        data = pds.dataset(out / "tables" / name, schema=spec.schema, format="parquet")
        found[name] = conform(data.to_table(), spec)
    return found
