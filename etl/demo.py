"""``evals-etl demo``: the whole pipeline against an in-process simulator, on one screen.

Starts the simulator on a free localhost port with a small seeded workspace, exports it into
``out`` (full refresh), and prints the top rows of a few analyst views.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import anyio

from etl import history, views
from etl.config import ApiConfig, Config, CrawlConfig, OutputConfig, Secret
from etl.export import run_export
from etl.progress import Reporter, resolve_format
from etl.simulator import SimOptions, serve_in_thread

DEMO_SEED = 7

SHOWCASE = {
    "eval_overview": "select eval_id, project, version_id, task_type, round(map50, 3) as map50, "
    "round(miou, 3) as miou, round(f1, 3) as f1, image_count, app_panels_ok, app_panels_total "
    "from eval_overview order by created_at desc limit 8",
    "class_leaderboard": "select eval_id, project, version_id, class_name, rank, has_instances, "
    "round(f1, 3) as f1, round(precision, 3) as precision, round(recall, 3) as recall "
    "from class_leaderboard where split = 'test' and is_latest_in_project "
    "order by eval_id, rank limit 8",
    "operating_thresholds": "select eval_id, split, class_name, threshold, source, "
    "round(precision, 3) as precision, round(recall, 3) as recall, round(f1, 3) as f1 "
    "from operating_thresholds where split = 'test' and is_latest_in_project "
    "order by eval_id, class_name limit 8",
    "top_confusions": "select eval_id, split, actual_class, predicted_class, cell_kind, count, "
    "count_unit from top_confusions where split = 'test' and is_default_variant "
    "and is_latest_in_project order by eval_id, rank limit 8",
    "version_trends": "select project, version_id, previous_version_id, regression_metric, "
    "round(headline_delta, 3) as delta, tolerance, regressed "
    "from version_trends order by project, version_number limit 8",
    "model_leaderboard": "select project, version_id, model_id, frontier_metric, "
    "round(frontier_value, 3) as frontier_value, frontier_rank, median_latency_ms, on_frontier "
    "from model_leaderboard order by project, version_id, frontier_rank nulls last limit 8",
}


def demo_config(url: str, key: str, out: Path) -> Config:
    return Config(
        workspace=SimOptions().workspace,
        api=ApiConfig(url=url, key=Secret(key)),
        crawl=CrawlConfig(concurrency=16, confidences=(None, 50), backoff_base=0.05, backoff_max=0.5),
        output=OutputConfig(out=out, keep=2),
        log_format="auto",
        full_refresh=True,
    )


def run_demo(out: Path) -> int:
    """The demo's exit code is its export's: 0 when complete, 3 when partial, and so on."""
    # No panel is made to fail on purpose: a demo that reports "partial" and exits 0 would
    # teach a new user to ignore the very signals a nightly run depends on.
    options = replace(SimOptions(), seed=DEMO_SEED, missing_panel_rate=0.0)
    started = datetime.now(UTC)
    with serve_in_thread(options) as sim:
        print(f"simulated Roboflow API at {sim.url} (workspace {options.workspace!r}, seed {DEMO_SEED})")
        config = demo_config(sim.url, options.api_key, out)
        reporter = Reporter(resolve_format("text", sys.stderr))
        summary = anyio.run(run_export, config, reporter)
    history.record(out, history.finished(started, summary, config.workspace))
    print(summary.line())
    if summary.status != "success":
        print(f"The export was {summary.status} (exit code {summary.exit_code}): "
              f"see `evals-etl status --out {out}` for the panels not ok.")
    db = out / "evals.duckdb"
    for name, sql in SHOWCASE.items():
        print(f"\n== {name}")
        print(views.query(db, sql, "table"))
    _write_report(out)
    print(
        f"\nThe export is in {out}/: open {db} with any DuckDB client (read-only), or try\n"
        f"  evals-etl query --out {out} \"select * from worst_images limit 10\"\n"
        f"Tables: {out}/tables/<table>/data.parquet. Views: docs/views.md."
    )
    return summary.exit_code


def _write_report(out: Path) -> None:
    """The HTML report of the demo's dataset, when the report extra is installed."""
    from etl.report import build_report, missing_extra

    if (why := missing_extra()) is not None:
        print(f"\n(no HTML report: {why})")
        return
    result = build_report(out)
    print(f"\nHTML report: {result.index} (open it in a browser; it needs no network)")
