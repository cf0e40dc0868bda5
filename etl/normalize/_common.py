"""What every normalizer shares: the fetch context, field types, timestamps and batch building.

A batch is built from plain column lists against the table's schema from ``etl.schemas``
(never inferred), with the lineage columns filled from the context. No I/O.
"""

from __future__ import annotations

import functools
import gc
import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import ContractError
from etl.panels import PanelRequest
from etl.schemas import TABLES, TIMESTAMP

# Field types of the decoded payloads. Bounds make msgspec reject, with the field's path,
# values that would not survive the trip into the table's type.
INT64_MAX = 2**63 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Int = Annotated[int, msgspec.Meta(ge=-INT64_MAX, le=INT64_MAX)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]

OBJECT_DETECTION = "object-detection-like"


def task_type_of(task_type: str | None) -> str:
    """A panel's ``taskType``; absent means object-detection-like (api-contract §17)."""
    return task_type or OBJECT_DETECTION
SEMANTIC_SEGMENTATION = "semantic-segmentation"


@dataclass(frozen=True, slots=True)
class FetchContext:
    """Lineage plus the request a payload answers."""

    workspace: str
    run_id: str
    fetched_at: datetime  # tz-aware UTC
    request: PanelRequest

    @property
    def eval_id(self) -> str:
        return self.request.eval_id


Batches = dict[str, pa.RecordBatch]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (decoding and normalizing a body).

    A decoded page is thousands of fresh containers; each 700 allocations the collector
    would walk them all again, and promote them, only to find no cycle: they die by
    reference counting as soon as the batch is built. Measured: decode + normalize of
    1,000-image pages 1.3-1.5x faster (``python -m bench.run normalize``). Nothing here
    makes cycles, so memory is the same; a block nested in another leaves it paused.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True, slots=True)
class PanelCodec:
    """How one panel's body becomes batches: a typed decode, then a pure normalize."""

    decode: Callable[[bytes], Any]
    normalize: Callable[[Any, FetchContext], Batches]


class Header(msgspec.Struct, kw_only=True):
    """Header fields a panel payload may carry (§17: optional, never required)."""

    evalId: str | None = None


def check_eval_id(panel: str, payload_eval_id: str | None, ctx: FetchContext) -> None:
    """A payload that names another eval answers the wrong request."""
    if payload_eval_id is not None and payload_eval_id != ctx.eval_id:
        raise ContractError(
            panel, "$.evalId", f"payload is for eval {payload_eval_id!r}, not the one requested",
            ctx.eval_id,
        )


def duplicate_at(values: Sequence[Hashable], panel: str, field: str, eval_id: str) -> None:
    """Two entries with one grain would collapse into one row downstream: refuse them."""
    if len(set(values)) == len(values):
        return
    seen: set[Hashable] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ContractError(panel, field.format(i), f"duplicate value {value!r}", eval_id)
        seen.add(value)


def parse_timestamp(text: str, panel: str, field: str, eval_id: str | None = None) -> datetime:
    """ISO-8601 with ``Z`` or an offset → aware UTC; a naive time is read as UTC (the API's)."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ContractError(panel, field, f"not an ISO-8601 timestamp: {text!r}", eval_id) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        raise ContractError(
            panel, field, f"timestamp outside years 1-9999 in UTC: {text!r}", eval_id,
        ) from None


_DECIMAL = re.compile(r"(?:\d+\.?\d*|\.\d+)")


@functools.lru_cache(maxsize=4096)
def fraction_key(key: str) -> float | None:
    """``"0.37"`` → 0.37; None for anything that is not a plain decimal in [0, 1].

    Cached: a sweep repeats the same hundred keys for every split and class.
    """
    if not _DECIMAL.fullmatch(key):
        return None
    value = float(key)
    return value if 0.0 <= value <= 1.0 else None


def json_text(value: Any) -> str:
    """Deterministic JSON text (sorted keys at every level), so equal values compare equal."""
    return msgspec.json.encode(value, order="sorted").decode()


def build(
    table: str,
    ctx: FetchContext,
    n: int,
    columns: Mapping[str, Sequence[Any] | pa.Array],
    *,
    sort: bool = True,
) -> pa.RecordBatch:
    """A batch of ``n`` rows of ``table`` with lineage from ``ctx``.

    Columns not given are all NULL (in their declared type). Rows are sorted by the table's
    grain unless ``sort`` is false (when the caller's order already is the grain's).
    """
    lineage = lineage_columns(ctx.workspace, ctx.eval_id, ctx.run_id, ctx.fetched_at, n)
    return assemble(table, n, {**lineage, **columns}, sort=sort)


def lineage_columns(
    workspace: str, eval_id: str | Sequence[str], run_id: str, fetched_at: datetime, n: int
) -> dict[str, pa.Array]:
    """The four lineage columns; ``eval_id`` is one value for all rows or one per row."""
    at = fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
    return {
        "workspace": repeated(workspace, n),
        "eval_id": (
            repeated(eval_id, n) if isinstance(eval_id, str) else pa.array(eval_id, pa.string())
        ),
        "run_id": repeated(run_id, n),
        "fetched_at": pa.repeat(pa.scalar(at, TIMESTAMP), n),
    }


_REPEATED: dict[str, tuple[pa.StringArray, pa.Buffer, pa.Buffer, int]] = {}
_REPEATED_MAX = 64  # distinct strings kept (a run has one workspace, one run id, few evals)


def repeated(value: str, n: int) -> pa.StringArray:
    """``value`` ``n`` times: zero-copy views of one array per string, grown on demand.

    A run stamps the same few strings on every row of every page; viewing one array instead
    of repeating them for each batch saves a copy per row (measured by ``bench.run
    normalize``: about 5%, within the noise of one run). The views are of exactly ``n``
    values' bytes, not slices of the whole array, so ``get_total_buffer_size()`` (which the
    staging writer counts its buffers with) counts what the batch holds, not the shared array.
    """
    held = _REPEATED.get(value)
    if held is None or len(held[0]) < n:
        if len(_REPEATED) >= _REPEATED_MAX:
            _REPEATED.clear()
        size = max(n, 2 * len(held[0]) if held is not None else 4096)
        array = pa.repeat(pa.scalar(value, pa.string()), size)
        _, offsets, data = array.buffers()
        held = _REPEATED[value] = (array, offsets, data, len(value.encode()))
    _, offsets, data, width = held
    return pa.Array.from_buffers(
        pa.string(), n, [None, offsets.slice(0, 4 * (n + 1)), data.slice(0, width * n)])


def assemble(
    table: str, n: int, columns: Mapping[str, Sequence[Any] | pa.Array], *, sort: bool = True
) -> pa.RecordBatch:
    """Columns (lineage included) → a batch in exactly ``table``'s schema."""
    spec = TABLES[table]
    unknown = set(columns) - set(spec.columns)
    if unknown:
        raise ValueError(f"{table} has no columns {sorted(unknown)}")
    arrays = []
    for field in spec.schema:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(values, pa.Array):
            arrays.append(values if values.type == field.type else values.cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    batch = pa.RecordBatch.from_arrays(arrays, schema=spec.schema)
    if sort and n > 1:
        batch = batch.take(_sort_indices(batch, spec.grain))
    return batch


def _sort_indices(batch: pa.RecordBatch, columns: Sequence[str]) -> pa.Array:
    # NULL class_name means "all classes": those rows lead their split. pyarrow >= 25 takes
    # the null placement per key and deprecates the global one; older versions only know that.
    try:
        return pc.sort_indices(batch, sort_keys=[(c, "ascending", "at_start") for c in columns])
    except (TypeError, ValueError):
        keys = [(c, "ascending") for c in columns]
        return pc.sort_indices(batch, sort_keys=keys, null_placement="at_start")
