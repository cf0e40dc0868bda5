"""The metric panels of one simulated eval: map-results, confidence-sweep,
performance-by-class, confusion-matrix, recommendations, and the get ``summary``.

Pure. Precision/recall curves are closed forms of the threshold, so every panel reads the
same numbers: performance-by-class equals the sweep's per-class optimum and map-results'
per-class maps; the summary equals the test split's ``optimalMetrics``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from etl.simulator.common import DETECTION, SEMSEG, SPLITS, THRESHOLD_KEYS, rng_for

if TYPE_CHECKING:
    from etl.simulator.workspace import SimEval

Curve = tuple[float, float, float, float, float, float]  # quality, p0, pmax, pa, rmax, rk
ZERO = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
_RECOMMENDATION_TYPES = ("missed_detection", "wrong_class", "class_imbalance",
                         "overconfident_fp", "dataset_health")


@lru_cache(maxsize=65536)
def _curve(seed: int, eval_id: str, split: str, cls: str | None) -> Curve:
    quality = rng_for(seed, eval_id, "quality").uniform(0.55, 0.92)
    rng = rng_for(seed, eval_id, "curve", split, cls)
    quality += {"train": 0.05, "valid": 0.0, "test": -0.02}[split] + rng.uniform(-0.03, 0.03)
    if cls is not None:
        quality += rng.uniform(-0.15, 0.08)
    quality = min(0.97, max(0.1, quality))
    p0, pmax = rng.uniform(0.02, 0.25) * quality, min(0.995, quality + rng.uniform(0.02, 0.1))
    rmax = min(0.999, quality + rng.uniform(0.03, 0.12))
    return quality, p0, pmax, rng.uniform(0.4, 0.9), rmax, rng.uniform(2.0, 6.0)


def split_curve(ev: SimEval, split: str) -> Curve:
    return _curve(ev.seed, ev.eval_id, split, None)


def class_curve(ev: SimEval, split: str, cls: str) -> Curve | None:
    """A class's curve in a split; None when the class has no instances there."""
    return None if cls in absent(ev, split) else _curve(ev.seed, ev.eval_id, split, cls)


def point(curve: Curve, t: float) -> dict[str, float]:
    """Precision, recall and F1 at threshold ``t`` (a fraction)."""
    _, p0, pmax, pa, rmax, rk = curve
    p = p0 + (pmax - p0) * t ** pa
    r = rmax * (1 - t ** rk)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def optimal(curve: Curve | None) -> tuple[float, dict[str, float]]:
    """The F1-optimal threshold (one of the sweep's keys, as a fraction) and its metrics."""
    if curve is None:  # a class without instances: the docs' example shows 0.5 and zeros
        return 0.5, dict(ZERO)
    best = _best_step(curve)
    return best / 100, point(curve, best / 100)


@lru_cache(maxsize=65536)
def _best_step(curve: Curve) -> int:
    return max(range(100), key=lambda i: (point(curve, i / 100)["f1"], -i))


def absent(ev: SimEval, split: str) -> frozenset[str]:
    return _absent(ev.seed, ev.eval_id, split, ev.classes)


@lru_cache(maxsize=65536)
def _absent(seed: int, eval_id: str, split: str, classes: tuple[str, ...]) -> frozenset[str]:
    """Classes with no instances in a split (never all of them)."""
    rng = rng_for(seed, eval_id, "absent", split)
    gone = [c for c in classes if rng.random() < 0.06]
    return frozenset(gone[: len(classes) - 1])


def optimal_pct(ev: SimEval) -> int:
    """The eval's F1-optimal threshold as an integer percent (test split when it has one)."""
    splits = ev.present_splits()
    return round(optimal(split_curve(ev, "test" if "test" in splits else splits[0]))[0] * 100)


def _maps(rng: random.Random, quality: float) -> dict[str, float]:
    map50 = min(0.999, quality * rng.uniform(0.9, 1.06))
    map50_95 = map50 * rng.uniform(0.55, 0.8)
    return {"map50": map50, "map50_95": map50_95,
            "map75": map50_95 + (map50 - map50_95) * rng.uniform(0.3, 0.7)}


def _sizes(rng: random.Random, quality: float) -> dict[str, dict[str, float] | None]:
    return {size: None if rng.random() < 0.2 else _maps(rng, quality)
            for size in ("small", "medium", "large")}


def _class_metrics(ev: SimEval, split: str, cls: str) -> dict[str, Any] | None:
    """Everything about one class in one split, or None when it has no instances there."""
    curve = class_curve(ev, split, cls)
    if curve is None:
        return None
    rng = rng_for(ev.seed, ev.eval_id, "class", split, cls)
    threshold, best = optimal(curve)
    return {"classID": ev.classes.index(cls) + 1, "iou": curve[0] * rng.uniform(0.75, 0.95),
            **_maps(rng, curve[0]), "byObjectSize": _sizes(rng, curve[0]),
            **best, "optimalThreshold": threshold}


def _split_metrics(ev: SimEval, split: str) -> dict[str, Any]:
    rows = [r for c in ev.classes if (r := _class_metrics(ev, split, c)) is not None]
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("map50", "map50_95", "map75")}
    curve = split_curve(ev, split)
    return {**mean, "mIoU": sum(r["iou"] for r in rows) / len(rows),
            "byObjectSize": _sizes(rng_for(ev.seed, ev.eval_id, "sizes", split), curve[0]),
            **optimal(curve)[1]}


def summary(ev: SimEval) -> dict[str, Any]:
    test = _split_metrics(ev, "test") if "test" in ev.present_splits() else None
    best = optimal(split_curve(ev, "test"))[1]
    return {"mAP": test["map50"] if test and ev.task_type == DETECTION else None,
            "mIoU": test["mIoU"] if test and ev.task_type == SEMSEG else None,
            "precision": best["precision"], "recall": best["recall"]}


def _semseg_class(ev: SimEval, cls: str, row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"classID": ev.classes.index(cls) + 1, "iou": None, **ZERO,
                "optimalThreshold": 0.5}
    return {k: row[k] for k in ("classID", "iou", "precision", "recall", "f1",
                                "optimalThreshold")}


def _detection_class(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"map50": None, "map50_95": None, "map75": None,
                "byObjectSize": {"small": None, "medium": None, "large": None}}
    return {k: row[k] for k in ("map50", "map50_95", "map75", "byObjectSize")}


def map_results(ev: SimEval) -> dict[str, Any]:
    splits: dict[str, Any] = {}
    for split in ev.present_splits():
        metrics = _split_metrics(ev, split)
        rows = {c: _class_metrics(ev, split, c) for c in ev.classes}
        if ev.task_type == SEMSEG:
            splits[split] = {k: metrics[k] for k in ("mIoU", "precision", "recall", "f1")}
            splits[split]["perClass"] = {c: _semseg_class(ev, c, r) for c, r in rows.items()}
        else:
            splits[split] = {k: metrics[k] for k in ("map50", "map50_95", "map75",
                                                     "byObjectSize")}
            splits[split]["perClass"] = {c: _detection_class(r) for c, r in rows.items()}
    return {"taskType": ev.task_type, "splits": splits}


def _sweep(curve: Curve | None) -> dict[str, Any]:
    threshold, best = optimal(curve)
    points = {key: dict(ZERO) if curve is None else point(curve, i / 100)
              for i, key in enumerate(THRESHOLD_KEYS)}
    return {"perThreshold": points, "optimalThreshold": threshold, "optimalMetrics": best}


def confidence_sweep(ev: SimEval) -> dict[str, Any]:
    splits = {}
    for split in ev.present_splits():
        body = _sweep(split_curve(ev, split))
        body["perClass"] = {c: _sweep(class_curve(ev, split, c)) for c in ev.classes}
        splits[split] = body
    return {"splits": splits}


def performance_by_class(ev: SimEval, split: str) -> dict[str, Any]:
    rows = []
    for cls in ev.classes:
        row = _class_metrics(ev, split, cls)
        if ev.task_type == SEMSEG:
            rows.append({"className": cls, **_semseg_class(ev, cls, row)})
            continue
        maps = {k: None if row is None else row[k] for k in ("map50", "map50_95", "map75")}
        rest = row or {**ZERO, "optimalThreshold": 0.5}
        rows.append({"className": cls, **maps, **{
            k: rest[k] for k in ("precision", "recall", "f1", "optimalThreshold")}})
    return {"taskType": ev.task_type, "split": split, "classes": rows}


def miss_weights(ev: SimEval, split: str, confidence: int,
                 cls: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where a missed object of class index ``cls`` goes: the matrix row's other columns
    (background last) and their counts, for per-image confusions drawn at the matrix's rates."""
    row = _split_matrix(ev, split, confidence)[cls]
    columns = tuple(j for j in range(len(row)) if j != cls and row[j] > 0)
    if not columns:  # a row with no misses in the matrix: a miss is a missed object
        return (len(ev.classes),), (1,)
    return columns, tuple(row[j] for j in columns)


def _split_matrix(ev: SimEval, split: str, confidence: int) -> list[list[int]]:
    return _matrix(ev.seed, ev.eval_id, split, confidence, ev.classes, ev.split_sizes,
                   ev.task_type)


@lru_cache(maxsize=4096)
def _matrix(seed: int, eval_id: str, split: str, confidence: int, classes: tuple[str, ...],
            split_sizes: tuple[int, int, int], task_type: str) -> list[list[int]]:
    """One split's matrix; cached, as every image of the split reads its rows (treat as
    read-only: callers copy before changing it)."""
    k = len(classes)
    matrix = [[0] * (k + 1) for _ in range(k + 1)]
    size = split_sizes[SPLITS.index(split)]
    if size == 0:
        return matrix
    rng = rng_for(seed, eval_id, "matrix", split, confidence)
    scale = 900 if task_type == SEMSEG else 1  # semantic segmentation counts pixels
    at = point(_curve(seed, eval_id, split, None), confidence / 100)
    gone = _absent(seed, eval_id, split, classes)
    for i, cls in enumerate(classes):
        if cls in gone:
            continue
        instances = round(size * rng.uniform(0.3, 3.0) * scale)
        hit = round(instances * at["recall"])
        for j in range(k):
            matrix[i][j] = hit if j == i else rng.randint(0, max(1, (instances - hit) // 4))
        matrix[i][k] = max(0, instances - sum(matrix[i][:k]))
        false_positives = hit * (1 / max(at["precision"], 0.05) - 1)
        matrix[k][i] = round(false_positives * rng.uniform(0.6, 1.4))
    return matrix


def confusion_matrix(ev: SimEval, split: str, confidence: int) -> dict[str, Any]:
    """``split=all`` sums the raw counts of the three splits, as the docs say."""
    parts = [_split_matrix(ev, s, confidence) for s in (SPLITS if split == "all" else (split,))]
    size = len(ev.classes) + 1
    matrix = [[sum(m[r][c] for m in parts) for c in range(size)] for r in range(size)]
    return {"split": split, "confidenceThreshold": confidence / 100,
            "classes": ev.cm_classes, "matrix": matrix}


def recommendations(ev: SimEval) -> dict[str, Any]:
    if not ev.recs_generated:
        return {"generated": False}
    rng = rng_for(ev.seed, ev.eval_id, "recommendations")
    created = datetime.strptime(ev.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    generated_at = iso_ms(created + timedelta(milliseconds=rng.randint(5_000, 600_000)))
    items = [_recommendation(ev, rng, kind)
             for kind in rng.sample(_RECOMMENDATION_TYPES, rng.randint(1, 4))]
    best = optimal(split_curve(ev, "test"))[1]
    # The one place the API reports a threshold as an integer percent.
    summary = {"confidenceThreshold": optimal_pct(ev), "split": "test",
               "generatedAt": generated_at, "count": len(items), "f1": best["f1"],
               "precision": best["precision"], "recall": best["recall"]}
    return {"generated": True, "generatedAt": generated_at,
            "recommendations": {"summary": summary, "items": items}}


def _recommendation(ev: SimEval, rng: random.Random, kind: str) -> dict[str, Any]:
    cls, other = rng.choice(ev.classes), rng.choice(ev.cm_classes)
    details: dict[str, Any]
    if kind == "missed_detection":
        details = {"className": cls, "falseNegatives": rng.randint(5, 400)}
    elif kind == "wrong_class":  # the most common off-diagonal pair of the test matrix
        count = rng.randint(3, 200)
        pair = _top_confusion(ev)
        if pair is not None:
            (cls, other), count = pair
        details = {"actualClass": cls, "predictedClass": other, "count": count}
    elif kind == "class_imbalance":
        details = {"className": cls, "instances": rng.randint(1, 29)}
    elif kind == "overconfident_fp":
        details = {"className": cls, "predictions": rng.randint(30, 900),
                   "falsePositives": rng.randint(30, 300),
                   "precision": round(rng.uniform(0.2, 0.64), 3)}
    else:
        details = {"split": "test", "images": ev.split_sizes[2]}
    return {"type": kind, **details, "message": f"{kind.replace('_', ' ')}: {cls}"}


def _top_confusion(ev: SimEval) -> tuple[tuple[str, str], int] | None:
    """The test split's most frequent class-to-class confusion at the eval's optimum."""
    matrix = _split_matrix(ev, "test", optimal_pct(ev))
    k = len(ev.classes)
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    if not pairs:
        return None
    i, j = max(pairs, key=lambda p: (matrix[p[0]][p[1]], -p[0], -p[1]))  # ties: first cell
    return None if matrix[i][j] == 0 else ((ev.classes[i], ev.classes[j]), matrix[i][j])


def iso_ms(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, as the API writes times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


LATENCY_UNAVAILABLE_RATE = 0.15  # models whose latency was never measured


def compare_model_id(ev: SimEval) -> str:
    """The model an eval scored, as compare names it: its model id, else the version's own
    trained model (``project/3``, the eval's modelUrl)."""
    return ev.model_id or ev.model_url or f"{ev.project_slug}/{ev.version_id}"


def compare(evals: list[SimEval], project: str, version: str,
            frontier_metric: str | None) -> dict[str, Any]:
    """The SDK-only compare endpoint (§9.5): the models of one project version's done evals.

    One entry per model (``evals`` newest first: a model evaluated twice shows its newest
    eval), with the test split's metrics. A model without a measured latency is excluded
    from the frontier (``latency_unavailable``), as the contract's example reasons say.
    """
    semseg = any(ev.task_type == SEMSEG for ev in evals)
    available = (["mIoU", "precision", "recall", "f1"] if semseg
                 else ["mAP", "mAP5095", "mAP75", "precision", "recall", "f1"])
    metric = frontier_metric or available[0]
    keys = {"mAP": "map50", "mAP5095": "map50_95", "mAP75": "map75", "mIoU": "mIoU",
            "precision": "precision", "recall": "recall", "f1": "f1"}
    models: list[dict[str, Any]] = []
    for ev in evals:
        if any(m["modelId"] == compare_model_id(ev) for m in models):
            continue  # an older eval of a model already listed
        test = _split_metrics(ev, "test") if "test" in ev.present_splits() else None
        rng = rng_for(ev.seed, ev.eval_id, "latency")
        latency = round(rng.uniform(4, 80), 2)
        unmeasured = rng.random() < LATENCY_UNAVAILABLE_RATE
        models.append({
            "modelId": compare_model_id(ev), "evaluationId": ev.eval_id,
            "metrics": {m: None if test is None else test[keys[m]] for m in available},
            "medianLatencyMs": None if unmeasured else latency,
            "onFrontier": False,
            "exclusionReason": "latency_unavailable" if unmeasured else None})
    ranked = [m for m in models if m["exclusionReason"] is None]
    for m in ranked:  # on the frontier: no other model is at least as good and as fast
        m["onFrontier"] = m["metrics"].get(metric) is not None and not any(
            _dominates(o, m, metric) for o in ranked if o is not m)
    return {"project": project, "version": version, "frontierMetric": metric,
            "availableMetrics": available, "models": models}


def _dominates(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
    va, vb = a["metrics"].get(metric), b["metrics"].get(metric)
    if va is None or vb is None:
        return False
    la, lb = a["medianLatencyMs"], b["medianLatencyMs"]
    return bool(va >= vb and la <= lb and (va > vb or la < lb))
