"""map-results → ``split_metrics`` and ``size_metrics``.

Both task-type shapes decode into one struct whose metrics are all optional: an unknown
``taskType`` keeps its name and whatever common fields it has. Size rows come from the mAP
figures: a split or class contributes an ``all`` row when it carries any mAP field (or is
itself null), and ``small``/``medium``/``large`` rows when it has ``byObjectSize``, a null
bucket being a row of NULLs. Semantic-segmentation classes (IoU, no mAP) give no size rows.
No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from etl.normalize._common import (
    OBJECT_DETECTION,
    Batches,
    FetchContext,
    Header,
    PanelCodec,
    build,
    check_eval_id,
)
from etl.normalize._decode import decoder

PANEL = "map-results"
SIZES = ("small", "medium", "large")


class _Map(msgspec.Struct):
    map50: float | None = None
    map50_95: float | None = None
    map75: float | None = None


class _Sizes(msgspec.Struct):
    small: _Map | None = None
    medium: _Map | None = None
    large: _Map | None = None


class _ClassMap(_Map):
    byObjectSize: _Sizes | None = None


class _Split(_ClassMap):
    mIoU: float | None = None
    miou: float | None = None  # the semseg casing is not documented (§15.8): take either
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    perClass: dict[str, _ClassMap | None] | None = None


class MapResults(Header, kw_only=True):
    splits: dict[str, _Split]
    taskType: str | None = None


def normalize(payload: MapResults, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    task_type = payload.taskType or OBJECT_DETECTION
    splits = sorted(payload.splits.items())
    n = len(splits)
    split_metrics = build("split_metrics", ctx, n, {
        "split": [name for name, _ in splits],
        "task_type": [task_type] * n,
        "map50": [s.map50 for _, s in splits],
        "map50_95": [s.map50_95 for _, s in splits],
        "map75": [s.map75 for _, s in splits],
        "miou": [s.mIoU if s.mIoU is not None else s.miou for _, s in splits],
        "precision": [s.precision for _, s in splits],
        "recall": [s.recall for _, s in splits],
        "f1": [s.f1 for _, s in splits],
    })
    rows = [row for name, split in splits for row in _size_rows(name, split)]
    size_metrics = build("size_metrics", ctx, len(rows), {
        "split": [r[0] for r in rows],
        "class_name": [r[1] for r in rows],
        "object_size": [r[2] for r in rows],
        "map50": [r[3].map50 if r[3] else None for r in rows],
        "map50_95": [r[3].map50_95 if r[3] else None for r in rows],
        "map75": [r[3].map75 if r[3] else None for r in rows],
    })
    return {"split_metrics": split_metrics, "size_metrics": size_metrics}


_Row = tuple[str, str | None, str, _Map | None]


def _size_rows(split: str, metrics: _Split) -> Iterable[_Row]:
    yield from _entity_rows(split, None, metrics)
    for class_name, class_metrics in (metrics.perClass or {}).items():
        if class_metrics is None:
            yield split, class_name, "all", None
        else:
            yield from _entity_rows(split, class_name, class_metrics)


def _entity_rows(split: str, class_name: str | None, m: _ClassMap) -> Iterable[_Row]:
    if any(v is not None for v in (m.map50, m.map50_95, m.map75, m.byObjectSize)):
        yield split, class_name, "all", m
    if m.byObjectSize is not None:
        for size in SIZES:
            yield split, class_name, size, getattr(m.byObjectSize, size)


CODEC = PanelCodec(decoder(MapResults), normalize)
