"""confusion-matrix → ``confusion_matrix``: every cell, zeros included.

``matrix[actual][predicted]`` must be square and as wide as ``classes``. ``confidence`` is
the percent that was requested (NULL = the server's default variant);
``confidence_threshold`` is the fraction the server reports. No I/O.
"""

from __future__ import annotations

import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    Count,
    FetchContext,
    Fraction,
    Header,
    PanelCodec,
    build,
    check_eval_id,
    duplicate_at,
)
from etl.normalize._decode import decoder

PANEL = "confusion-matrix"


class ConfusionMatrix(Header, kw_only=True):
    classes: list[str]
    matrix: list[list[Count]]
    split: str | None = None
    confidenceThreshold: Fraction | None = None


def normalize(payload: ConfusionMatrix, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    split = ctx.request.split or payload.split
    if split is None:
        raise ContractError(PANEL, "$.split", "neither requested nor reported", ctx.eval_id)
    classes = payload.classes
    duplicate_at(classes, PANEL, "$.classes[{}]", ctx.eval_id)
    _check_square(payload.matrix, len(classes), ctx.eval_id)
    n = len(classes)
    cells = n * n
    rows = pa.array([i for i in range(n) for _ in range(n)], pa.int64())
    cols = pa.array(list(range(n)) * n, pa.int64())
    names = pa.array(classes, pa.string())
    batch = build("confusion_matrix", ctx, cells, {
        "split": pa.repeat(pa.scalar(split, pa.string()), cells),
        "confidence": pa.repeat(pa.scalar(ctx.request.confidence, pa.int64()), cells),
        "actual_class": names.take(rows),
        "predicted_class": names.take(cols),
        "confidence_threshold": pa.repeat(
            pa.scalar(payload.confidenceThreshold, pa.float64()), cells
        ),
        "actual_idx": rows,
        "predicted_idx": cols,
        "count": [count for row in payload.matrix for count in row],
    }, sort=False)  # keep the matrix's own order: actual index, then predicted index
    return {"confusion_matrix": batch}


def _check_square(matrix: list[list[int]], n: int, eval_id: str) -> None:
    if len(matrix) != n:
        raise ContractError(
            PANEL, "$.matrix", f"has {len(matrix)} rows for {n} classes", eval_id
        )
    for i, row in enumerate(matrix):
        if len(row) != n:
            raise ContractError(
                PANEL, f"$.matrix[{i}]", f"has {len(row)} columns for {n} classes", eval_id
            )


CODEC = PanelCodec(decoder(ConfusionMatrix), normalize)
