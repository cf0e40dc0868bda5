"""performance-by-class → ``class_metrics``.

Object detection sends ``map50``/``map50_95``/``map75``; semantic segmentation sends ``iou``
and ``classID`` instead; both decode into one struct of optional metrics. The split is the
one requested (the unit's key), else the payload's. No I/O.
"""

from __future__ import annotations

from operator import attrgetter

import msgspec

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    FetchContext,
    Fraction,
    Header,
    Int,
    PanelCodec,
    build,
    check_eval_id,
    duplicate_at,
    task_type_of,
)
from etl.normalize._decode import decoder

PANEL = "performance-by-class"


class _Class(msgspec.Struct):
    className: str
    classID: Int | None = None
    map50: float | None = None
    map50_95: float | None = None
    map75: float | None = None
    iou: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    optimalThreshold: Fraction | None = None


class PerformanceByClass(Header, kw_only=True):
    classes: list[_Class]
    taskType: str | None = None
    split: str | None = None


def normalize(payload: PerformanceByClass, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    split = ctx.request.split or payload.split
    if split is None:
        raise ContractError(PANEL, "$.split", "neither requested nor reported", ctx.eval_id)
    duplicate_at([c.className for c in payload.classes], PANEL, "$.classes[{}].className",
                 ctx.eval_id)
    # In grain order (one split: by class name), not sorted in Arrow afterwards: Python's
    # order of str is that of their UTF-8 bytes.
    rows = sorted(payload.classes, key=_CLASS_NAME)
    names = [c.className for c in rows]
    n = len(rows)
    batch = build("class_metrics", ctx, n, sort=False, columns={
        "split": [split] * n,
        "class_name": names,
        "task_type": [task_type_of(payload.taskType)] * n,
        "class_id": [c.classID for c in rows],
        "map50": [c.map50 for c in rows],
        "map50_95": [c.map50_95 for c in rows],
        "map75": [c.map75 for c in rows],
        "iou": [c.iou for c in rows],
        "precision": [c.precision for c in rows],
        "recall": [c.recall for c in rows],
        "f1": [c.f1 for c in rows],
        "optimal_threshold": [c.optimalThreshold for c in rows],
    })
    return {"class_metrics": batch}


_CLASS_NAME = attrgetter("className")

CODEC = PanelCodec(decoder(PerformanceByClass), normalize)
