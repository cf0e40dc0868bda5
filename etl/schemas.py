"""Every table of the data contract: Arrow schema, grain and fetch unit, in one place.

This module is the single source for the Parquet files, the DuckDB base views, the
warehouse DDL and the table reference in ``docs/tables.md``. A column's type comes from
here, never from the data, so an all-null column keeps its declared type. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from etl.panels import Panel

TIMESTAMP = pa.timestamp("ms", tz="UTC")

# Lineage columns every table carries (``runs`` has no eval_id).
LINEAGE: tuple[pa.Field, ...] = (
    pa.field("workspace", pa.string(), nullable=False, metadata={"doc": "workspace URL slug"}),
    pa.field("eval_id", pa.string(), nullable=False, metadata={"doc": "evaluation id"}),
    pa.field("run_id", pa.string(), nullable=False, metadata={"doc": "export run that fetched the row"}),
    pa.field("fetched_at", TIMESTAMP, nullable=False, metadata={"doc": "when the row's response was received (UTC)"}),
)


def _f(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    return pa.field(name, type_, metadata={"doc": doc})


S, D, I, B = pa.string(), pa.float64(), pa.int64(), pa.bool_()


@dataclass(frozen=True)
class Table:
    """One table of the export.

    ``grain`` identifies a current row. ``unit`` are the columns that identify the fetch a
    row came from: publishing replaces, per unit, the previous rows by the new fetch's rows.
    """

    name: str
    panel: Panel | None
    grain: tuple[str, ...]
    unit: tuple[str, ...]
    schema: pa.Schema
    doc: str

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def _table(
    name: str,
    panel: Panel | None,
    grain: tuple[str, ...],
    unit: tuple[str, ...],
    doc: str,
    *columns: pa.Field,
    lineage: tuple[pa.Field, ...] = LINEAGE,
) -> Table:
    return Table(name, panel, grain, unit, pa.schema([*lineage, *columns]), doc)


EVALUATIONS = _table(
    "evaluations", "get", ("eval_id",), ("eval_id",),
    "One row per evaluation: the list row plus the get summary.",
    _f("status", S, "running, done or failed"),
    _f("project", S, "project URL slug; NULL when the project was deleted"),
    _f("version_id", S, "version number as a string"),
    _f("model_id", S, "internal model id"),
    _f("model_url", S, "public model id such as project/3, when the API sends it"),
    _f("created_at", TIMESTAMP, "when the evaluation was created (UTC)"),
    _f("task_type", S, "object-detection-like or semantic-segmentation (from map-results)"),
    _f("map", D, "summary mAP@0.5; NULL for non-detection tasks"),
    _f("miou", D, "summary foreground mean IoU; semantic segmentation only"),
    _f("precision", D, "summary precision at the F1-optimal threshold, test split"),
    _f("recall", D, "summary recall at the F1-optimal threshold, test split"),
    _f("app_url", S, "deep link to the evaluation page of the Roboflow app"),
    _f("listed", B, "false when the eval no longer appears in the workspace listing"),
)
SPLIT_METRICS = _table(
    "split_metrics", "map-results", ("eval_id", "split"), ("eval_id",),
    "One row per evaluation and split: overall metrics.",
    _f("split", S, "train, valid or test"),
    _f("task_type", S, "object-detection-like or semantic-segmentation"),
    _f("map50", D, "mAP at IoU 0.5"),
    _f("map50_95", D, "mAP averaged over IoU 0.5:0.95"),
    _f("map75", D, "mAP at IoU 0.75"),
    _f("miou", D, "mean IoU (semantic segmentation)"),
    _f("precision", D, "precision (semantic segmentation: pixel level)"),
    _f("recall", D, "recall (semantic segmentation: pixel level)"),
    _f("f1", D, "F1 (semantic segmentation: pixel level)"),
)
SIZE_METRICS = _table(
    "size_metrics", "map-results", ("eval_id", "split", "class_name", "object_size"), ("eval_id",),
    "One row per evaluation, split, class (NULL = all classes) and object size bucket.",
    _f("split", S, "train, valid or test"),
    _f("class_name", S, "class name; NULL = all classes"),
    _f("object_size", S, "all, small, medium or large"),
    _f("map50", D, "mAP at IoU 0.5; NULL when the API sent the bucket as null"),
    _f("map50_95", D, "mAP averaged over IoU 0.5:0.95"),
    _f("map75", D, "mAP at IoU 0.75"),
)
CLASS_METRICS = _table(
    "class_metrics", "performance-by-class", ("eval_id", "split", "class_name"), ("eval_id", "split"),
    "One row per evaluation, split and class.",
    _f("split", S, "train, valid or test"),
    _f("class_name", S, "class name, byte-exact"),
    _f("task_type", S, "object-detection-like or semantic-segmentation"),
    _f("class_id", I, "class index (semantic segmentation classID)"),
    _f("map50", D, "mAP at IoU 0.5; NULL when the class has no instances"),
    _f("map50_95", D, "mAP averaged over IoU 0.5:0.95"),
    _f("map75", D, "mAP at IoU 0.75"),
    _f("iou", D, "IoU (semantic segmentation)"),
    _f("precision", D, "precision at the class's optimal threshold"),
    _f("recall", D, "recall at the class's optimal threshold"),
    _f("f1", D, "F1 at the class's optimal threshold"),
    _f("optimal_threshold", D, "the class's F1-optimal confidence threshold (fraction)"),
)
CONFIDENCE_SWEEP = _table(
    "confidence_sweep", "confidence-sweep", ("eval_id", "split", "class_name", "threshold"), ("eval_id",),
    "One row per evaluation, split, class (NULL = whole split) and confidence threshold.",
    _f("split", S, "train, valid or test"),
    _f("class_name", S, "class name; NULL = the whole split"),
    _f("threshold", D, "confidence threshold as a fraction (the API's \"0.37\" key)"),
    _f("precision", D, "precision at this threshold"),
    _f("recall", D, "recall at this threshold"),
    _f("f1", D, "F1 at this threshold"),
)
OPTIMAL_THRESHOLDS = _table(
    "optimal_thresholds", "confidence-sweep", ("eval_id", "split", "class_name"), ("eval_id",),
    "One row per evaluation, split and class (NULL = whole split): the F1-optimal threshold.",
    _f("split", S, "train, valid or test"),
    _f("class_name", S, "class name; NULL = the whole split"),
    _f("optimal_threshold", D, "threshold maximising F1 (fraction)"),
    _f("precision", D, "precision at the optimal threshold"),
    _f("recall", D, "recall at the optimal threshold"),
    _f("f1", D, "F1 at the optimal threshold"),
)
CONFUSION_MATRIX = _table(
    "confusion_matrix", "confusion-matrix",
    ("eval_id", "split", "confidence", "actual_class", "predicted_class"),
    ("eval_id", "split", "confidence"),
    "One row per cell of a confusion matrix (zeros included), per split and confidence variant.",
    _f("split", S, "train, valid, test or all"),
    _f("confidence", I, "requested confidence percent; NULL = the server's default variant"),
    _f("actual_class", S, "ground-truth class (background last)"),
    _f("predicted_class", S, "predicted class (background last)"),
    _f("confidence_threshold", D, "confidence threshold the server reported (fraction)"),
    _f("actual_idx", I, "row index into the matrix's classes"),
    _f("predicted_idx", I, "column index into the matrix's classes"),
    _f("count", I, "instances (semantic segmentation: pixels)"),
)
VECTOR_ANALYSIS = _table(
    "vector_analysis", "vector-analysis", ("eval_id", "confidence"), ("eval_id", "confidence"),
    "One row per evaluation and confidence variant: how the embedding clusters were made.",
    _f("confidence", I, "requested confidence percent; NULL = the server's default variant"),
    _f("clustering_method", S, "clustering algorithm, e.g. hdbscan"),
    _f("n_clusters", I, "number of clusters (noise excluded)"),
    _f("noise_ratio", D, "share of images in the noise cluster"),
    _f("silhouette_score", D, "clustering silhouette score"),
    _f("clustering_parameters", S, "clustering parameters as JSON text"),
    _f("processing_time_seconds", D, "clustering time"),
    _f("preprocessing_method", S, "dimensionality reduction, e.g. umap"),
    _f("original_dimensions", I, "embedding dimensions before reduction"),
    _f("target_dimensions", I, "dimensions after reduction"),
    _f("n_neighbors", I, "UMAP n_neighbors"),
    _f("min_distance", D, "UMAP min_dist"),
)
VECTOR_CLUSTERS = _table(
    "vector_clusters", "vector-analysis", ("eval_id", "confidence", "cluster_id"), ("eval_id", "confidence"),
    "One row per embedding cluster (id -1 = noise) per evaluation and confidence variant.",
    _f("confidence", I, "requested confidence percent; NULL = the server's default variant"),
    _f("cluster_id", I, "cluster id; -1 = HDBSCAN noise"),
    _f("num_images", I, "images in the cluster"),
    _f("train_images", I, "images from train (0 when the API omits the split)"),
    _f("valid_images", I, "images from valid"),
    _f("test_images", I, "images from test"),
    _f("f1_mean", D, "mean per-image F1"),
    _f("f1_std", D, "standard deviation of per-image F1"),
    _f("f1_min", D, "lowest per-image F1"),
    _f("f1_max", D, "highest per-image F1"),
    _f("precision_mean", D, "mean per-image precision"),
    _f("recall_mean", D, "mean per-image recall"),
    _f("sample_images", pa.list_(S), "sample image file names"),
)
IMAGE_PREDICTIONS = _table(
    "image_predictions", "image-predictions", ("eval_id", "confidence", "image_id"), ("eval_id", "confidence"),
    "One row per image per evaluation and confidence variant (all splits).",
    _f("confidence", I, "requested confidence percent; NULL = the server's default variant"),
    _f("image_id", S, "Roboflow source image id"),
    _f("confidence_threshold", D, "confidence threshold the server reported (fraction)"),
    _f("image_name", S, "image file name"),
    _f("split", S, "the image's split: train, valid or test"),
    _f("augmentations", I, "augmented copies of the image"),
    _f("cluster_id", I, "embedding cluster (-1 = noise)"),
    _f("embedding_x", D, "2-D embedding, x"),
    _f("embedding_y", D, "2-D embedding, y"),
    _f("true_positives", I, "true positives"),
    _f("false_positives", I, "false positives"),
    _f("false_negatives", I, "false negatives"),
    _f("precision", D, "per-image precision"),
    _f("recall", D, "per-image recall"),
    _f("f1", D, "per-image F1"),
)
IMAGE_CONFUSION = _table(
    "image_confusion", "image-predictions",
    ("eval_id", "confidence", "image_id", "actual_idx", "predicted_idx"), ("eval_id", "confidence"),
    "One row per (actual, predicted) class pair seen in one image; indices point into confusion_matrix classes.",
    _f("confidence", I, "requested confidence percent; NULL = the server's default variant"),
    _f("image_id", S, "Roboflow source image id"),
    _f("actual_idx", I, "ground-truth class index"),
    _f("predicted_idx", I, "predicted class index"),
    _f("count", I, "instances"),
)
RECOMMENDATION_SUMMARY = _table(
    "recommendation_summary", "recommendations", ("eval_id",), ("eval_id",),
    "One row per evaluation: whether recommendations were generated, and their summary.",
    _f("generated", B, "false when recommendations were never generated"),
    _f("generated_at", TIMESTAMP, "when they were generated (UTC)"),
    _f("confidence_threshold", D, "recommended confidence threshold as a fraction"),
    _f("confidence_pct", I, "the same threshold as the API's integer percent"),
    _f("split", S, "split the summary was computed on"),
    _f("item_count", I, "number of recommendation items"),
    _f("f1", D, "F1 at the recommended threshold"),
    _f("precision", D, "precision at the recommended threshold"),
    _f("recall", D, "recall at the recommended threshold"),
)
RECOMMENDATIONS = _table(
    "recommendations", "recommendations", ("eval_id", "item_index"), ("eval_id",),
    "One row per recommendation item.",
    _f("item_index", I, "position of the item in the API's list"),
    _f("type", S, "missed_detection, wrong_class, class_imbalance, overconfident_fp, dataset_health, ..."),
    _f("details", S, "the whole item as JSON text, so no field is lost"),
)
MODEL_COMPARISON = _table(
    # One row per (project, version_id, model_id, frontier_metric); eval_id (a function of
    # those) closes the grain so that a warehouse replacing rows eval by eval never holds a
    # model's old and new row under one key mid-load (its unique constraint is the grain).
    "model_comparison", "compare",
    ("workspace", "project", "version_id", "model_id", "frontier_metric", "eval_id"),
    ("workspace", "project", "version_id"),
    "One row per model compared on a project version (the compare route, fetched once per "
    "version with done evals), for the frontier metric the server chose. eval_id is the "
    "model's evaluationId (empty when the API names none).",
    _f("project", S, "project URL slug, as requested"),
    _f("version_id", S, "version number as a string, as requested"),
    _f("model_id", S, "the compared model's id (modelId), e.g. workspace/model or project/3"),
    _f("frontier_metric", S, "the metric the frontier was computed on (mAP, mAP5095, mAP75, "
       "mIoU, precision, recall or f1); NULL when the server named none"),
    _f("map50", D, "test-set mAP@0.5 (metric mAP)"),
    _f("map50_95", D, "test-set mAP@0.5:0.95 (metric mAP5095)"),
    _f("map75", D, "test-set mAP@0.75 (metric mAP75)"),
    _f("miou", D, "test-set mean IoU (metric mIoU; semantic segmentation)"),
    _f("precision", D, "test-set precision"),
    _f("recall", D, "test-set recall"),
    _f("f1", D, "test-set F1"),
    _f("metrics", S, "every metric the API sent for the model, as JSON text (none is lost)"),
    _f("available_metrics", pa.list_(S), "the metrics the server offers for this version"),
    _f("median_latency_ms", D, "median inference latency in milliseconds; NULL when unknown"),
    _f("on_frontier", B, "on the accuracy/latency frontier: no other model is at least as "
       "accurate and as fast"),
    _f("exclusion_reason", S, "why the model is left out of the frontier (e.g. "
       "latency_unavailable, unsupported_project_type); NULL when it is not"),
)
PANEL_STATUS = _table(
    "panel_status", None, ("eval_id", "panel", "params"), ("eval_id", "panel", "params"),
    "One row per planned panel unit of each current evaluation: how its latest fetch ended.",
    _f("panel", S, "get, map-results, confidence-sweep, performance-by-class, confusion-matrix, vector-analysis, image-predictions, recommendations, compare"),
    _f("params", S, "canonical request parameters, e.g. split=test&confidence=50 "
       "(compare: project=p&version=3, with an empty eval_id)"),
    _f("state", S, "ok, not_done, unavailable, not_materialized or error"),
    _f("http_status", I, "last HTTP status; NULL when no response was received"),
    _f("error_code", S, "the API's error code, or the exporter's (e.g. contract_error)"),
    _f("message", S, "what went wrong, naming the eval, panel and field"),
    _f("attempts", I, "HTTP attempts made for this unit, retries included"),
    _f("requests", I, "requests the unit needed (image-predictions: one per page)"),
)
RUNS = _table(
    "runs", None, ("run_id",), ("run_id",),
    "One row per export run.",
    _f("started_at", TIMESTAMP, "run start (UTC)"),
    _f("finished_at", TIMESTAMP, "run end (UTC)"),
    _f("mode", S, "full or incremental"),
    _f("status", S, "success, partial or failed"),
    _f("evals_listed", I, "evaluations the listing returned"),
    _f("evals_exported", I, "evaluations fetched in this run"),
    _f("requests", I, "HTTP requests sent, retries included"),
    _f("retries", I, "retried attempts"),
    _f("errors", I, "panel units that ended in error or unavailable"),
    _f("units_not_attempted", I, "panel units the run did not finish (deadline, interruption, "
       "API down); they kept their previous state. NULL for runs before it was counted"),
    _f("workspaces", pa.list_(S), "every workspace the run covered, in config order (`workspace` "
       "is the first); NULL for runs before several workspaces were possible"),
    _f("workspace_outcomes", S, "JSON list, one object per workspace: workspace, status "
       "(success, partial, failed, refused), exit_code, reason, evals_listed, evals_exported"),
    lineage=(LINEAGE[0], LINEAGE[2], LINEAGE[3]),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        EVALUATIONS, SPLIT_METRICS, SIZE_METRICS, CLASS_METRICS, CONFIDENCE_SWEEP,
        OPTIMAL_THRESHOLDS, CONFUSION_MATRIX, VECTOR_ANALYSIS, VECTOR_CLUSTERS,
        IMAGE_PREDICTIONS, IMAGE_CONFUSION, RECOMMENDATION_SUMMARY, RECOMMENDATIONS,
        PANEL_STATUS, RUNS, MODEL_COMPARISON,
    )
}

# Tables whose rows come from each panel; publishing replaces them per unit.
TABLES_BY_PANEL: dict[str, tuple[Table, ...]] = {
    panel: tuple(t for t in TABLES.values() if t.panel == panel)
    for panel in dict.fromkeys(t.panel for t in TABLES.values() if t.panel is not None)
}


def empty_batch(table: str) -> pa.RecordBatch:
    """A zero-row batch in ``table``'s schema."""
    return pa.RecordBatch.from_pylist([], schema=TABLES[table].schema)
