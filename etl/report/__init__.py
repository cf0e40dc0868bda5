"""``evals-etl report``: a static, offline HTML report of the published dataset.

Reads ``OUT``'s views read-only (:mod:`~etl.report.data`, the only module speaking SQL),
builds page models and plotly figures from them (:mod:`~etl.report.pages` and the ``*_charts``
modules, pure), and renders them with Jinja2 templates (:mod:`~etl.report.render`) into a
folder: ``index.html`` (every eval), ``projects/<slug>.html`` and ``evals/<id>.html``, with
plotly.js written once in ``assets/``. Needs the ``report`` extra (plotly, Jinja2).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etl import __version__
from etl.errors import ConfigError

DEFAULT_MAX_POINTS = 5000  # points of an embedding scatter; bigger evals are sampled


@dataclass(frozen=True)
class ReportResult:
    index: Path
    pages: int
    evals: int
    html_bytes: int  # the pages, without the shared assets
    asset_bytes: int
    seconds: float

    def line(self) -> str:
        return (f"report: {self.index} ({self.pages} pages for {self.evals} evals, "
                f"{self.html_bytes / 1e6:.1f} MB of HTML + {self.asset_bytes / 1e6:.1f} MB of "
                f"assets, {self.seconds:.1f} s)")


def missing_extra() -> str | None:
    """Why the report cannot be made here (its extra is not installed), or None."""
    for name in ("jinja2", "plotly"):
        if importlib.util.find_spec(name) is None:
            return (f"the report needs the report extra ({name} is missing): "
                    "pip install 'evals-etl[report]'")
    return None


def build_report(out: Path, to: Path | None = None, *, projects: Sequence[str] = (),
                 eval_ids: Sequence[str] = (),
                 max_points: int = DEFAULT_MAX_POINTS) -> ReportResult:
    """Render the report of ``out`` into ``to`` (default ``out/report``); returns what it wrote."""
    if (why := missing_extra()) is not None:
        raise ConfigError(why)
    from etl.report import data, pages, render

    started = time.perf_counter()
    target = to if to is not None else out / "report"
    with data.open_dataset(out) as con:
        selection = data.select(con, projects, eval_ids)
        overview = data.overview(con, selection)
        workspace = next((r["workspace"] for r in overview), None)
        js = render.plotly_js()
        generated = {"generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                     "version": __version__, "plotly_version": render.plotly_version(js),
                     "workspace": workspace}
        writer = render.Writer(target, generated)
        try:
            writer.assets(js)
            writer.page(pages.index_page(overview, data.panel_states(con, selection),
                                         workspace, selection.filtered))
            for project in selection.projects:
                evals = [r for r in overview if r["project"] == project]
                writer.page(pages.project_page(project, data.trends(con, project), evals))
            meta = {r["eval_id"]: r for r in overview}
            for item in data.eval_batches(con, selection.eval_ids, max_points=max_points):
                writer.page(pages.eval_page(meta[item.eval_id], item))
            writer.finish()
        except BaseException:
            writer.discard()
            raise
    assets = sum(p.stat().st_size for p in (target / "assets").iterdir())
    return ReportResult(target / "index.html", writer.pages, len(selection.eval_ids),
                        writer.bytes, assets, time.perf_counter() - started)
