"""Helpers of the normalizer tests: contract payloads by name and a one-call normalize."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl.normalize import FetchContext, normalize_body
from etl.panels import PanelRequest

PAYLOADS = Path(__file__).parent / "payloads"
EVAL_ID = "huUF720inUcymARwqAGK"
FETCHED_AT = datetime(2026, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)


def context(
    panel: str, split: str | None = None, confidence: int | None = None, eval_id: str = EVAL_ID
) -> FetchContext:
    request = PanelRequest(eval_id, panel, split, confidence)  # type: ignore[arg-type]
    return FetchContext("acme", "run-1", FETCHED_AT, request)


def payload(name: str) -> Any:
    """A contract example payload (payloads/<name>.json) as a fresh object."""
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


def run(panel: str, body: Any, split: str | None = None, confidence: int | None = None,
        eval_id: str = EVAL_ID) -> dict[str, pa.RecordBatch]:
    """Normalize ``body`` (bytes, or a JSON-able object) as ``panel`` answered it."""
    return normalize_body(context(panel, split, confidence, eval_id), encode(body))


def rows(batch: pa.RecordBatch, *columns: str) -> list[tuple[Any, ...]]:
    """The batch's rows as tuples of ``columns`` (default: every column but lineage)."""
    names = columns or tuple(batch.schema.names[4:])
    return [tuple(r[c] for c in names) for r in batch.to_pylist()]
