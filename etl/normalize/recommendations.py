"""recommendations → ``recommendation_summary`` (one row) and ``recommendations`` (items).

``{"generated": false}`` is a valid answer (a done eval whose recommendations were never
made): one summary row with everything else NULL and no items. The summary's threshold is
an integer *percent* unlike everywhere else: it becomes a fraction, the percent is kept.
Item fields beyond ``type`` are not documented, so each item is kept whole as JSON text.
No I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    Count,
    FetchContext,
    Header,
    PanelCodec,
    Percent,
    build,
    check_eval_id,
    json_text,
    parse_timestamp,
)
from etl.normalize._decode import decoder

PANEL = "recommendations"


class _Summary(msgspec.Struct):
    confidenceThreshold: Percent | None = None
    split: str | None = None
    generatedAt: str | None = None
    count: Count | None = None
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None


class _Body(msgspec.Struct):
    summary: _Summary | None = None
    items: list[dict[str, Any]] | None = None


class Recommendations(Header, kw_only=True):
    generated: bool
    generatedAt: str | None = None
    recommendations: _Body | None = None


def normalize(payload: Recommendations, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    if not payload.generated:
        summary = build("recommendation_summary", ctx, 1, {"generated": [False]})
        return {"recommendation_summary": summary, "recommendations": _items([], ctx)}
    if payload.recommendations is None:
        raise ContractError(
            PANEL, "$.recommendations", "required field is missing when generated is true",
            ctx.eval_id,
        )
    body = payload.recommendations
    s = body.summary or _Summary()
    items = body.items or []
    stamp, where = (
        (payload.generatedAt, "$.generatedAt") if payload.generatedAt is not None
        else (s.generatedAt, "$.recommendations.summary.generatedAt")
    )
    generated_at = None if stamp is None else parse_timestamp(stamp, PANEL, where, ctx.eval_id)
    pct = s.confidenceThreshold
    summary = build("recommendation_summary", ctx, 1, {
        "generated": [True],
        "generated_at": [generated_at],
        "confidence_threshold": [None if pct is None else pct / 100],
        "confidence_pct": [pct],
        "split": [s.split],
        "item_count": [s.count if s.count is not None else len(items)],
        "f1": [s.f1],
        "precision": [s.precision],
        "recall": [s.recall],
    })
    return {"recommendation_summary": summary, "recommendations": _items(items, ctx)}


def _items(items: list[dict[str, Any]], ctx: FetchContext) -> pa.RecordBatch:
    types = []
    for i, item in enumerate(items):
        kind = item.get("type")
        if not isinstance(kind, str):
            problem = "required field is missing" if kind is None else "Expected `str`"
            raise ContractError(PANEL, f"$.recommendations.items[{i}].type", problem, ctx.eval_id)
        types.append(kind)
    n = len(items)
    return build("recommendations", ctx, n, {
        "item_index": list(range(n)),
        "type": types,
        "details": [json_text(item) for item in items],
    }, sort=False)  # item_index is the grain and already in order


CODEC = PanelCodec(decoder(Recommendations), normalize)
