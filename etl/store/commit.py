"""The value a run hands the store: what to publish, crossing the crawl → store boundary whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from etl.panels import PanelRequest


@dataclass(frozen=True)
class Commit:
    """What one run hands the store to publish: its staged units and their bookkeeping.

    Per data table, the new snapshot holds the current rows, minus every row of a unit in
    ``ok_units``, plus the rows staged for those units. ``panel_status`` replaces the rows of
    ``attempted_units``; ``run_row`` is added to ``runs``. ``listing`` (``evaluations`` rows
    built from a complete listing; None when the listing was incomplete, and in a replay) sets
    ``evaluations.listed`` and the listing fields, and adds a row per new listed eval; without
    it every eval keeps the ``listed`` it had.
    """

    run_id: str
    staging: Path
    ok_units: tuple[PanelRequest, ...]
    attempted_units: tuple[PanelRequest, ...]
    panel_status: pa.Table
    run_row: pa.Table
    listing: pa.Table | None
    # Units (also in ok_units) whose rows a killed run staged and this run took over
    # (staging/resumed/): only their rows are published from there.
    resumed_units: tuple[PanelRequest, ...] = ()
    # The workspaces whose complete listing ``listing`` holds: only their evals missing from
    # it become listed = false. None: every workspace in the listing (a one-workspace run).
    listed_workspaces: tuple[str, ...] | None = None
