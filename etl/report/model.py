"""The values the report's data module hands the pure page builders: rows, columns, evals.

Pure (no I/O): :mod:`etl.report.data` fills them from the views.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
Columns = dict[str, list[Any]]  # column name -> its values, in row order


@dataclass(frozen=True)
class Selection:
    """The evals a report covers (``eval_ids``, in overview order) and their projects."""

    eval_ids: tuple[str, ...]
    projects: tuple[str, ...]
    filtered: bool


@dataclass
class EvalData:
    """Everything one eval page draws, as read from the views."""

    eval_id: str
    sweep: Columns = field(default_factory=dict)  # confidence_sweep
    optimal: list[Row] = field(default_factory=list)  # optimal_thresholds
    confusion: Columns = field(default_factory=dict)  # confusion_matrix
    classes: list[Row] = field(default_factory=list)  # class_leaderboard (+ absent flag)
    images: Columns = field(default_factory=dict)  # image_predictions, sampled
    image_total: int = 0  # images of the shown variant (the sample's population)
    clusters: list[Row] = field(default_factory=list)  # vector_clusters, shown variant
    vector: Row | None = None  # vector_analysis, shown variant
    worst: list[Row] = field(default_factory=list)  # worst_images, shown variant
    rec_summary: Row | None = None  # recommendation_summary
    recs: list[Row] = field(default_factory=list)  # recommendations
    status: list[Row] = field(default_factory=list)  # panel_status
