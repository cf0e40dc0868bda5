"""map-results → ``split_metrics`` and ``size_metrics``.

Both task-type shapes decode into one struct whose metrics are all optional: an unknown
``taskType`` keeps its name and whatever common fields it has. Size rows come from the mAP
figures: a split or class contributes an ``all`` row when it carries any mAP field or
``byObjectSize``, null or not (a class without instances has null mAPs, and a class sent as
null is such a row too), and ``small``/``medium``/``large`` rows when ``byObjectSize`` is an
object, a null bucket being a row of NULLs. Semantic-segmentation classes (IoU, no mAP
field at all) give no size rows. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from msgspec import UNSET, UnsetType

from etl.normalize._common import (
    Batches,
    FetchContext,
    Header,
    PanelCodec,
    build,
    check_eval_id,
    task_type_of,
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


# UNSET tells a field left out (no size row) from one sent as null (a row of NULLs).
class _ClassMap(msgspec.Struct):
    map50: float | None | UnsetType = UNSET
    map50_95: float | None | UnsetType = UNSET
    map75: float | None | UnsetType = UNSET
    byObjectSize: _Sizes | None | UnsetType = UNSET


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
    task_type = task_type_of(payload.taskType)
    splits = sorted(payload.splits.items())
    n = len(splits)
    split_metrics = build("split_metrics", ctx, n, {
        "split": [name for name, _ in splits],
        "task_type": [task_type] * n,
        "map50": [_known(s.map50) for _, s in splits],
        "map50_95": [_known(s.map50_95) for _, s in splits],
        "map75": [_known(s.map75) for _, s in splits],
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
    if any(v is not UNSET for v in (m.map50, m.map50_95, m.map75, m.byObjectSize)):
        overall = _Map(_known(m.map50), _known(m.map50_95), _known(m.map75))
        yield split, class_name, "all", overall
    sizes = m.byObjectSize
    if isinstance(sizes, _Sizes):
        for size in SIZES:
            yield split, class_name, size, getattr(sizes, size)


def _known(value: float | None | UnsetType) -> float | None:
    return None if value is UNSET else value


CODEC = PanelCodec(decoder(MapResults), normalize)
