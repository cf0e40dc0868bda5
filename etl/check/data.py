"""The values a rule compares, read from the published views (read-only, parameters bound).

Whole split: mAPs and mIoU from ``split_metrics``; precision, recall and F1 from
``optimal_thresholds`` (the split's F1-optimal point: the headline figures, for detection and
segmentation alike). One class: ``class_metrics``, where a class with no instances in the
split (no mAP, no IoU: the API's zeros) has no value rather than a zero that would read as a
regression. Only done evals still listed, of a project that still exists, are candidates.
"""

from __future__ import annotations

import math
from pathlib import Path

from etl import views
from etl.check.evaluate import Observation
from etl.check.rules import Rule

_EVALS = ("select e.eval_id, e.project, e.version_id, e.created_at, {value} as value, "
          "e.workspace from evaluations e left join {source} m "
          "on m.workspace = e.workspace and m.eval_id = e.eval_id and {match} "
          "where e.status = 'done' and e.listed and e.project is not null")
_SPLIT_MAPS = {"map50", "map50_95", "map75", "miou", "iou"}


def _query(rule: Rule) -> tuple[str, list[object]]:
    column = "miou" if rule.metric == "iou" else rule.metric  # both from a fixed list
    if rule.class_name is not None:
        column = "iou" if column == "miou" else column
        value = f"case when coalesce(m.map50, m.iou) is null then null else m.{column} end"
        match = "m.split = ? and m.class_name = ?"
        return _EVALS.format(value=value, source="class_metrics", match=match), [
            rule.split, rule.class_name]
    if column in _SPLIT_MAPS:
        return _EVALS.format(value=f"m.{column}", source="split_metrics",
                             match="m.split = ?"), [rule.split]
    return _EVALS.format(value=f"m.{column}", source="optimal_thresholds",
                         match="m.split = ? and m.class_name is null"), [rule.split]


def observations(db: Path, rule: Rule) -> list[Observation]:
    sql, params = _query(rule)
    with views.connect(db) as con:
        con.execute("set TimeZone = 'UTC'")
        rows = con.execute(sql, params).fetchall()
    return [Observation(str(eval_id), str(project), version, created,
                        None if value is None or math.isnan(value) else float(value),
                        str(workspace))
            for eval_id, project, version, created, value, workspace in rows]


def workspace(db: Path) -> str | None:
    """The dataset's workspace(s), comma-separated (for the webhook's message), if any."""
    with views.connect(db) as con:
        rows = con.execute("select distinct workspace from evaluations "
                           "where workspace is not null order by 1").fetchall()
    return ", ".join(str(r[0]) for r in rows) or None
