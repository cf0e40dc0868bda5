"""compare (api-contract §9.5) → ``model_comparison``: one row per model of a project version.

The route belongs to a project version, not to an eval: the unit's ``project`` and
``version_id`` are what was requested, and an echo that names another project or version
answers the wrong request. Each model's ``evaluationId`` becomes the row's ``eval_id`` (empty
when absent), so the rows join to ``evaluations``. The documented metric names become
columns; the whole ``metrics`` object is also kept as JSON text, so a metric the docs do not
name is not lost. No I/O.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    FetchContext,
    PanelCodec,
    assemble,
    duplicate_at,
    json_text,
    lineage_columns,
)
from etl.normalize._decode import decoder

PANEL = "compare"
# The API's metric names (the SDK's --frontier-metric choices) and their columns.
METRIC_COLUMNS = {"mAP": "map50", "mAP5095": "map50_95", "mAP75": "map75", "mIoU": "miou",
                  "precision": "precision", "recall": "recall", "f1": "f1"}


class _Model(msgspec.Struct):
    modelId: str
    evaluationId: str | None = None
    metrics: dict[str, float | None] | None = None
    medianLatencyMs: float | None = None
    onFrontier: bool | None = None
    exclusionReason: str | None = None


class Comparison(msgspec.Struct):
    models: list[_Model]
    project: str | None = None
    version: str | int | None = None
    frontierMetric: str | None = None
    availableMetrics: list[str] | None = None


def normalize(payload: Comparison, ctx: FetchContext) -> Batches:
    request = ctx.request
    where = f"{request.label}: "
    if payload.project is not None and payload.project != request.project:
        raise ContractError(PANEL, "$.project", f"{where}payload is for project "
                            f"{payload.project!r}, not the one requested")
    if payload.version is not None and str(payload.version) != request.version_id:
        raise ContractError(PANEL, "$.version", f"{where}payload is for version "
                            f"{payload.version!r}, not the one requested")
    models = payload.models
    try:  # two entries for one model would collapse into one row downstream
        duplicate_at([m.modelId for m in models], PANEL, "$.models[{}].modelId", "")
    except ContractError as exc:
        raise ContractError(PANEL, exc.field, where + exc.problem) from None
    n = len(models)
    lineage = lineage_columns(ctx.workspace, [m.evaluationId or "" for m in models],
                              ctx.run_id, ctx.fetched_at, n)
    columns: dict[str, list[object] | pa.Array] = {
        **lineage,
        "project": [request.project] * n,
        "version_id": [request.version_id] * n,
        "model_id": [m.modelId for m in models],
        "frontier_metric": [payload.frontierMetric] * n,
        "metrics": [None if m.metrics is None else json_text(m.metrics) for m in models],
        "available_metrics": [payload.availableMetrics] * n,
        "median_latency_ms": [m.medianLatencyMs for m in models],
        "on_frontier": [m.onFrontier for m in models],
        "exclusion_reason": [m.exclusionReason for m in models],
    }
    for name, column in METRIC_COLUMNS.items():
        columns[column] = [(m.metrics or {}).get(name) for m in models]
    return {"model_comparison": assemble("model_comparison", n, columns)}


CODEC = PanelCodec(decoder(Comparison), normalize)
