"""The page models of the report: what each page shows, before any HTML is written.

Pure. Three kinds of page: the workspace overview (``index.html``), one page per project
(``projects/<slug>.html``) and one per evaluation (``evals/<id>.html``). A page holds raw
values from the views; the templates escape every one of them, and the figures were built
with their text escaped for plotly.js (:mod:`etl.report.figures`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from etl.report import eval_charts, image_charts, workspace_charts
from etl.report.figures import Chart, Table
from etl.report.model import EvalData, Row

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
PANELS = ("get", "map-results", "confidence-sweep", "performance-by-class", "confusion-matrix",
          "vector-analysis", "image-predictions", "recommendations")


@dataclass(frozen=True)
class Page:
    path: str  # inside the report folder, with forward slashes
    kind: str  # index, project or eval: the template's name
    title: str
    charts: list[Chart] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The way back from this page to the report folder (``../`` or nothing)."""
        return "../" * self.path.count("/")

    def chart_specs(self) -> list[dict[str, Any]]:
        return [c.spec() for c in self.charts if c.available]


def file_name(name: str) -> str:
    """A file name for an eval id or project slug: itself when plainly safe, else hashed."""
    if _SAFE_NAME.match(name):
        return f"{name}.html"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "x"
    return f"{stem}-{hashlib.sha256(name.encode()).hexdigest()[:12]}.html"


def eval_path(eval_id: str) -> str:
    return f"evals/{file_name(eval_id)}"


def project_path(project: str) -> str:
    return f"projects/{file_name(project)}"


def safe_url(url: str | None) -> str | None:
    """A link target from the dataset only when it is plainly http(s): never javascript:."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url, re.IGNORECASE):
        return url
    return None


def index_page(overview: list[Row], states: list[Row], workspace: str | None,
               filtered: bool) -> Page:
    rows = [{**r, "href": eval_path(r["eval_id"]), "app": safe_url(r["app_url"]),
             "project_href": project_path(r["project"]) if r["project"] else None}
            for r in overview]
    regressions = [r for r in rows if r["regressed"]]
    context = {
        "rows": rows, "regressions": regressions, "workspace": workspace, "filtered": filtered,
        "statuses": sorted({r["status"] for r in rows if r["status"]}),
        "projects": sorted({r["project"] for r in rows if r["project"]}),
        "counts": {s: sum(r["status"] == s for r in rows) for s in ("done", "running", "failed")},
    }
    title = f"Evaluations of {workspace}" if workspace else "Evaluations"
    return Page("index.html", "index", title, [workspace_charts.panel_health_chart(states)],
                context)


def project_page(project: str, trends: list[Row], evals: list[Row]) -> Page:
    rows = [{**r, "href": eval_path(r["eval_id"])} for r in evals]
    charts = [workspace_charts.trend_chart(trends), workspace_charts.history_chart(evals)]
    latest = {r["eval_id"] for r in trends}
    versions = [{**t, "href": eval_path(t["eval_id"]) if t["eval_id"] in
                 {r["eval_id"] for r in evals} else None} for t in trends]
    context = {"project": project, "rows": rows, "versions": versions, "latest": latest,
               "metric": workspace_charts.headline_name(trends or evals)}
    return Page(project_path(project), "project", f"Project {project}", charts, context)


def eval_page(meta: Row, data: EvalData) -> Page:
    status, task = meta["status"], meta["task_type"]
    charts = [*eval_charts.sweep_charts(data, status),
              eval_charts.confusion_chart(data, status, task),
              eval_charts.class_chart(data, status),
              image_charts.scatter_chart(data, status),
              image_charts.cluster_chart(data, status)]
    context = {
        "meta": meta, "app_url": safe_url(meta.get("app_url")),
        "project_href": f"../{project_path(meta['project'])}" if meta["project"] else None,
        "worst": _worst(data, status), "recommendations": _recommendations(data, status),
        "rec_summary": data.rec_summary, "status_rows": sorted(
            data.status, key=lambda r: (_panel_rank(r["panel"]), r["params"])),
    }
    label = meta["project"] or "deleted project"
    return Page(eval_path(meta["eval_id"]), "eval",
                f"{label} v{meta['version_id']} · {meta['eval_id']}", charts, context)


def _panel_rank(panel: str) -> int:
    return PANELS.index(panel) if panel in PANELS else len(PANELS)


def _worst(data: EvalData, status: str | None) -> Table:
    columns = ("f1_rank", "image_name", "split", "f1", "precision", "recall", "true_positives",
               "false_positives", "false_negatives", "cluster_id", "cluster_f1_mean")
    if data.worst:
        return Table("worst", columns, data.worst)
    if data.images:  # image predictions are there: no image has an error
        return Table("worst", columns, [], unavailable="no image has a false positive or "
                     "a false negative")
    return Table("worst", columns, [], unavailable=eval_charts.absence(
        data, status, "image-predictions"))


def _recommendations(data: EvalData, status: str | None) -> Table:
    columns = ("item_index", "type", "message", "details")
    summary = data.rec_summary
    if summary is None:
        why = eval_charts.absence(data, status, "recommendations")
        return Table("recommendations", columns, [], unavailable=why)
    if not summary.get("generated"):
        return Table("recommendations", columns, [],
                     unavailable="recommendations were never generated for this evaluation")
    rows = []
    for rec in data.recs:
        try:
            details = json.loads(rec["details"] or "{}")
        except ValueError:
            details = {"details": rec["details"]}
        if not isinstance(details, dict):
            details = {"details": details}
        message = details.pop("message", None)
        details.pop("type", None)
        rows.append({"item_index": rec["item_index"], "type": rec["type"], "message": message,
                     "details": details})
    return Table("recommendations", columns, rows)
