"""Ground truth: the simulated workspace as one JSON-ready dict, with the rows an export owes.

Pure. Row counts are derived from the generator's own data (split sizes, classes, clusters,
recommendation items), never from ``etl.normalize``, so a test can hold an export against
them. They are what the default export plan gets from the routes: ``get`` and map-results,
confidence-sweep, vector-analysis, recommendations once; performance-by-class and
confusion-matrix for each of train, valid and test; confusion-matrix, vector-analysis and
image-predictions (``split=all``, every page) for the server's default confidence variant.
A panel that always answers 409 (a running or failed eval, a done eval's missing panel)
contributes no rows; every listed eval has its ``evaluations`` row. ``comparisons`` are the
compare bodies of every project version with a done eval (``model_comparison``: a row per
model). Per-image confusions, class-to-class pairs included, come from ``images.image``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from etl.simulator import images, metrics
from etl.simulator.common import SEMSEG, SPLITS, THRESHOLD_KEYS

if TYPE_CHECKING:
    from etl.simulator.workspace import SimEval, SimWorkspace

# The options that decide what the workspace holds (not how it is served).
DATA_OPTIONS = ("workspace", "seed", "projects", "versions", "evals", "images", "classes",
                "running_rate", "failed_rate", "deleted_project_rate", "semseg_rate",
                "missing_panel_rate", "recs_not_generated_rate", "model_id_null_rate",
                "default_confidence", "confidences", "image_default_split")
PLAN_SPLITS = SPLITS  # the exporter's default crawl.splits
# Data tables and the panel whose answer fills them (``evaluations``: the listing and get).
TABLE_PANELS = {
    "evaluations": None, "split_metrics": "map-results", "size_metrics": "map-results",
    "class_metrics": "performance-by-class", "confidence_sweep": "confidence-sweep",
    "optimal_thresholds": "confidence-sweep", "confusion_matrix": "confusion-matrix",
    "vector_analysis": "vector-analysis", "vector_clusters": "vector-analysis",
    "image_predictions": "image-predictions", "image_confusion": "image-predictions",
    "recommendation_summary": "recommendations", "recommendations": "recommendations"}
_SIZE_ROWS = 4  # object_size all, small, medium, large


def ground_truth(ws: SimWorkspace, *, image_confusion: bool = False) -> dict[str, Any]:
    """The workspace as served now (after any ``finish``), JSON-serialisable.

    ``image_confusion`` also counts the per-image confusion triples, which means building
    every image of every eval (about 25 µs each): off by default, and the key is then absent
    rather than wrong.
    """
    current = ws.evals  # read once: ``finish`` may swap the tuple while this runs
    evals = [eval_truth(ws, ev, image_confusion=image_confusion) for ev in current]
    totals = dict.fromkeys(_tables(image_confusion), 0)
    for record in evals:
        for table, n in record["rows"].items():
            totals[table] += n
    by_status: dict[str, int] = {}
    for ev in current:
        by_status[ev.status] = by_status.get(ev.status, 0) + 1
    return {
        "workspace": ws.options.workspace,
        "seed": ws.options.seed,
        "options": {name: _plain(getattr(ws.options, name)) for name in DATA_OPTIONS},
        "plan": {"splits": list(PLAN_SPLITS), "confidences": [None],
                 "image_split": "all"},
        "projects": [{"slug": p.slug, "name": p.name, "type": p.type, "versions": p.versions,
                      "classes": list(p.classes), "listed": p.listed}
                     for p in ws.all_projects],
        "status_counts": by_status,
        "rows": totals,
        "evals": evals,
        "comparisons": comparisons(ws),
    }


def comparisons(ws: SimWorkspace) -> list[dict[str, Any]]:
    """What the compare route serves for every (project, version) the export asks about:
    each listed project's versions that have a done eval, with the body (``models``: one
    ``model_comparison`` row each) and the server's default frontier metric."""
    versions = sorted({(ev.project, ev.version_id) for ev in ws.evals
                       if ev.status == "done" and ev.project is not None})
    return [{"project": project, "version": version,
             "body": ws.compare_body(project, version, None)}
            for project, version in versions]


def _tables(image_confusion: bool) -> list[str]:
    return [t for t in TABLE_PANELS if image_confusion or t != "image_confusion"]


def eval_truth(ws: SimWorkspace, ev: SimEval, *, image_confusion: bool = False) -> dict[str, Any]:
    """One eval: every :class:`SimEval` field, its confidence variants and its row counts."""
    record = {f.name: _plain(getattr(ev, f.name)) for f in fields(ev)}
    default = ws.default_confidence(ev)
    record.update({
        "present_splits": ev.present_splits(),
        "optimal_confidence": ws.optimal_pct(ev),
        "confidences": sorted(ws.materialized(ev)),
        "default_confidence": default,
        "rows": expected_rows(ev, default, image_confusion=image_confusion),
    })
    return record


def expected_rows(ev: SimEval, confidence: int, *,
                  image_confusion: bool = False) -> dict[str, int]:
    """Rows per data table the default plan gets for ``ev`` at variant ``confidence``."""
    k, present = len(ev.classes), len(ev.present_splits())
    detection = ev.task_type != SEMSEG
    rows = {
        "evaluations": 1,
        "split_metrics": present,
        # Detection: the split and each class carry mAPs and byObjectSize (all + 3 buckets,
        # a class without instances too, as nulls); semantic segmentation has neither.
        "size_metrics": present * (1 + k) * _SIZE_ROWS if detection else 0,
        "class_metrics": len(PLAN_SPLITS) * k,
        "confidence_sweep": present * (1 + k) * len(THRESHOLD_KEYS),
        "optimal_thresholds": present * (1 + k),
        "confusion_matrix": len(PLAN_SPLITS) * (k + 1) ** 2,  # trailing background class
        "vector_analysis": 1,
        "vector_clusters": len(images.clusters(ev).centers),  # noise (-1) included
        "image_predictions": ev.n_images,
        "image_confusion": _confusion_triples(ev, confidence) if image_confusion else 0,
        "recommendation_summary": 1,
        "recommendations": _recommendation_items(ev),
    }
    if not image_confusion:
        del rows["image_confusion"]
    for table, panel in TABLE_PANELS.items():
        if panel is not None and table in rows and not _served(ev, panel):
            rows[table] = 0
    return rows


def _served(ev: SimEval, panel: str) -> bool:
    return ev.status == "done" and ev.missing_panel != panel


def _recommendation_items(ev: SimEval) -> int:
    if not ev.recs_generated:
        return 0
    return int(metrics.recommendations(ev)["recommendations"]["summary"]["count"])


def _confusion_triples(ev: SimEval, confidence: int) -> int:
    return sum(len(images.image(ev, i, confidence)["confusion"]) for i in range(ev.n_images))


def _plain(value: object) -> object:
    """Tuples become lists, so the dict equals its own JSON round trip."""
    return list(value) if isinstance(value, tuple) else value
