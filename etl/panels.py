"""The fetch units of an export: which panel of which eval, with which parameters.

Pure values shared by the planner, the crawler, the ledger, the normalizers and the
publisher. A :class:`PanelRequest` is one *panel unit* (the thing ``panel_status`` has one
row for); image-predictions pages are requests inside one unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    "compare",
]
PANELS: tuple[Panel, ...] = get_args(Panel)

State = Literal["ok", "not_done", "unavailable", "not_materialized", "error"]


# Panels of a project version rather than of one eval (api-contract §9.5): their units
# have an empty ``eval_id`` and carry ``project`` and ``version_id`` instead.
VERSION_PANELS: frozenset[str] = frozenset({"compare"})


@dataclass(frozen=True, order=True)
class PanelRequest:
    """One panel unit of one eval: ``panel`` with its ``split`` and requested ``confidence``.

    ``confidence`` is the integer percent *requested*; ``None`` means the server's default
    variant (the parameter is not sent). A unit of a version panel (``compare``) has
    ``eval_id`` ``""`` and names its ``project`` and ``version_id``, and its ``workspace``:
    two workspaces may share a project slug, and eval ids are the only global keys. The
    workspace is part of ``params`` (the unit's key), never of the query sent.
    """

    eval_id: str
    panel: Panel
    split: str | None = None
    confidence: int | None = None
    project: str | None = None
    version_id: str | None = None
    workspace: str | None = None  # a version unit's; None for an eval's (its id is global)

    @classmethod
    def of_version(cls, panel: Panel, project: str, version_id: str,
                   workspace: str | None = None) -> PanelRequest:
        return cls("", panel, project=project, version_id=version_id, workspace=workspace)

    @property
    def label(self) -> str:
        """What the unit is about, for messages: ``eval 'x'`` or ``project 'p' version '3'``."""
        if self.panel in VERSION_PANELS:
            return f"project {self.project!r} version {self.version_id!r}"
        return f"eval {self.eval_id!r}"

    @property
    def params(self) -> str:
        """Canonical parameter string, the ``params`` column of ``panel_status``."""
        scope = [("workspace", self.workspace)] if self.workspace is not None else []
        return "&".join(f"{k}={v}" for k, v in [*scope, *self._pairs()])

    def query(self) -> dict[str, str]:
        """Query parameters to send (image pages add ``limit`` and ``offset``)."""
        return dict(self._pairs())

    def _pairs(self) -> list[tuple[str, str]]:
        pairs = [("project", self.project), ("version", self.version_id), ("split", self.split),
                 ("confidence", None if self.confidence is None else str(self.confidence))]
        return [(k, v) for k, v in pairs if v is not None]

    @classmethod
    def from_query(cls, eval_id: str, panel: Panel, split: str | None, confidence: int | None,
                   query: str, workspace: str | None = None) -> PanelRequest:
        """The unit an archived response answered (a version panel's scope is in its query;
        its workspace, which the query does not carry, is the run's)."""
        if panel not in VERSION_PANELS:
            return cls(eval_id, panel, split, confidence)
        fields = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        return cls(eval_id, panel, split, confidence, fields.get("project"), fields.get("version"),
                   workspace)


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
    unlisted: frozenset[str] = frozenset()  # evals no longer in the listing (kept as rows)
    # eval id -> its workspace, so a folder of several workspaces compares a project version
    # with its own workspace's evals only (two workspaces may share a project slug)
    workspace_of: dict[str, str] = field(default_factory=dict)
