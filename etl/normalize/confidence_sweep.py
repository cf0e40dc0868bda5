"""confidence-sweep → ``confidence_sweep`` and ``optimal_thresholds``.

``perThreshold`` keys are decimal strings (``"0.37"``) that become the double 0.37. Rows
with ``class_name`` NULL are the whole split; per-class rows follow. A split or class gets
an ``optimal_thresholds`` row when it reports an optimal threshold or optimal metrics.
No I/O.
"""

from __future__ import annotations

from itertools import pairwise

import msgspec
import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    FetchContext,
    Fraction,
    Header,
    PanelCodec,
    build,
    check_eval_id,
    fraction_key,
)
from etl.normalize._decode import decoder, key_segment

PANEL = "confidence-sweep"


class _Metrics(msgspec.Struct):
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


class _Sweep(msgspec.Struct):
    perThreshold: dict[str, _Metrics]
    optimalThreshold: Fraction | None = None
    optimalMetrics: _Metrics | None = None


class _Split(_Sweep):
    perClass: dict[str, _Sweep | None] | None = None


class ConfidenceSweep(Header, kw_only=True):
    splits: dict[str, _Split]


_NONE = _Metrics()
# (split, class name or None for the whole split, its sweep, its JSON path)
_Entity = tuple[str, str | None, _Sweep, str]


def normalize(payload: ConfidenceSweep, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    entities: list[_Entity] = []
    for split, s in payload.splits.items():
        where = f"$.splits{key_segment(split)}"
        entities.append((split, None, s, where))
        for name, c in (s.perClass or {}).items():
            if c is not None:
                entities.append((split, name, c, f"{where}.perClass{key_segment(name)}"))
    # In grain order (split, then the whole split before its classes, then class name), so
    # neither batch is sorted in Arrow: Python's order of str is that of their UTF-8 bytes.
    entities.sort(key=_grain)
    sweep = _sweep_batch(entities, ctx)
    best = [e for e in entities if _has_optimum(e[2])]
    optimal = build("optimal_thresholds", ctx, len(best), sort=False, columns={
        "split": [e[0] for e in best],
        "class_name": [e[1] for e in best],
        "optimal_threshold": [e[2].optimalThreshold for e in best],
        "precision": [(e[2].optimalMetrics or _NONE).precision for e in best],
        "recall": [(e[2].optimalMetrics or _NONE).recall for e in best],
        "f1": [(e[2].optimalMetrics or _NONE).f1 for e in best],
    })
    return {"confidence_sweep": sweep, "optimal_thresholds": optimal}


def _grain(entity: _Entity) -> tuple[str, bool, str]:
    return entity[0], entity[1] is not None, entity[1] or ""


def _has_optimum(sweep: _Sweep) -> bool:
    return sweep.optimalThreshold is not None or sweep.optimalMetrics is not None


def _sweep_batch(entities: list[_Entity], ctx: FetchContext) -> pa.RecordBatch:
    splits: list[str] = []
    classes: list[str | None] = []
    thresholds: list[float] = []
    metrics: list[_Metrics] = []
    for split, class_name, sweep, where in entities:
        keys = _thresholds(sweep.perThreshold, f"{where}.perThreshold", ctx)
        values = list(sweep.perThreshold.values())
        if any(a > b for a, b in pairwise(keys)):  # a payload need not list them in order
            order = sorted(range(len(keys)), key=keys.__getitem__)
            keys, values = [keys[i] for i in order], [values[i] for i in order]
        splits += [split] * len(keys)
        classes += [class_name] * len(keys)
        thresholds += keys
        metrics += values
    return build("confidence_sweep", ctx, len(thresholds), sort=False, columns={
        "split": splits,
        "class_name": classes,
        "threshold": thresholds,
        "precision": [m.precision for m in metrics],
        "recall": [m.recall for m in metrics],
        "f1": [m.f1 for m in metrics],
    })


def _thresholds(per_threshold: dict[str, _Metrics], where: str, ctx: FetchContext) -> list[float]:
    values = []
    for key in per_threshold:
        value = fraction_key(key)
        if value is None:
            raise ContractError(
                PANEL, f"{where}{key_segment(key)}",
                "threshold key is not a decimal fraction in [0, 1]", ctx.eval_id,
            )
        values.append(value)
    if len(set(values)) != len(values):
        raise ContractError(PANEL, where, "two keys name the same threshold", ctx.eval_id)
    return values


CODEC = PanelCodec(decoder(ConfidenceSweep), normalize)
