"""The fetch units of an export: which panel of which eval, with which parameters.

Pure values shared by the planner, the crawler, the ledger, the normalizers and the
publisher. A :class:`PanelRequest` is one *panel unit* (the thing ``panel_status`` has one
row for); image-predictions pages are requests inside one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Panel = Literal[
    "get",
    "map-results",
    "confidence-sweep",
    "performance-by-class",
    "confusion-matrix",
    "vector-analysis",
    "image-predictions",
    "recommendations",
]
PANELS: tuple[Panel, ...] = get_args(Panel)

State = Literal["ok", "not_done", "unavailable", "not_materialized", "error"]


@dataclass(frozen=True, order=True)
class PanelRequest:
    """One panel unit of one eval: ``panel`` with its ``split`` and requested ``confidence``.

    ``confidence`` is the integer percent *requested*; ``None`` means the server's default
    variant (the parameter is not sent).
    """

    eval_id: str
    panel: Panel
    split: str | None = None
    confidence: int | None = None

    @property
    def params(self) -> str:
        """Canonical parameter string, the ``params`` column of ``panel_status``."""
        parts = []
        if self.split is not None:
            parts.append(f"split={self.split}")
        if self.confidence is not None:
            parts.append(f"confidence={self.confidence}")
        return "&".join(parts)

    def query(self) -> dict[str, str]:
        """Query parameters to send (image pages add ``limit`` and ``offset``)."""
        query = {}
        if self.split is not None:
            query["split"] = self.split
        if self.confidence is not None:
            query["confidence"] = str(self.confidence)
        return query


@dataclass(frozen=True)
class EvalListing:
    """One row of the list endpoint, as the planner compares it between runs."""

    eval_id: str
    status: str
    project: str | None
    version_id: str | None
    model_id: str | None
    created_at: str | None
    model_url: str | None = None


@dataclass(frozen=True)
class PreviousState:
    """What the published dataset already holds, for incremental planning.

    ``evals``: the listing fields of every eval in the current ``evaluations`` table.
    ``units``: the latest ``panel_status`` state of every (eval_id, panel, params).
    """

    evals: dict[str, EvalListing]
    units: dict[tuple[str, str, str], State]
