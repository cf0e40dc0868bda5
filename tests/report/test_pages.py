"""The report's page builders against the views they read: every chart's figures equal a query,
panels that are not there say "not available" and why, every figure is valid plotly."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
import pytest

from etl.errors import ConfigError
from etl.report import data, pages
from etl.report.figures import Chart
from etl.report.model import EvalData, Row
from etl.simulator.workspace import HOSTILE_CLASSES
from tests.support.report_data import MISSING_VECTOR


@pytest.fixture(scope="module")
def con(dataset: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with data.open_dataset(dataset) as connection:
        yield connection


@pytest.fixture(scope="module")
def overview(con: duckdb.DuckDBPyConnection) -> dict[str, Row]:
    return {r["eval_id"]: r for r in data.overview(con, data.select(con, [], []))}


def eval_page(con: duckdb.DuckDBPyConnection, overview: dict[str, Row], eval_id: str,
              max_points: int = 5000) -> tuple[pages.Page, EvalData]:
    item = next(data.eval_batches(con, [eval_id], max_points=max_points))
    return pages.eval_page(overview[eval_id], item), item


def chart(page: pages.Page, key: str) -> Chart:
    return next(c for c in page.charts if c.key == key)


def query(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == pytest.approx(b, rel=1e-9, abs=5e-7))  # pages round to 6 decimals


def a_done_eval(overview: dict[str, Row], task: str = "object-detection-like") -> str:
    return next(e for e, r in overview.items() if r["status"] == "done" and r["task_type"] == task
                and r["panels_ok"] == r["panels_total"])


def test_the_sweep_curves_and_optima_equal_the_views(con: duckdb.DuckDBPyConnection,
                                                     overview: dict[str, Row]) -> None:
    eval_id = a_done_eval(overview)
    page, _ = eval_page(con, overview, eval_id)
    f1 = chart(page, "sweep-f1")
    assert f1.variants[0].label == "all classes (whole split)"
    lines = [t for t in f1.variants[0].figure["data"] if t["mode"] == "lines"]
    for trace in lines:
        expected = query(con, "select threshold, f1 from confidence_sweep where eval_id = ? "
                         "and split = ? and class_name is null order by threshold",
                         eval_id, trace["name"])
        assert len(expected) == len(trace["x"]) == 100
        assert all(close(x, t) and close(y, f) for x, y, (t, f) in zip(
            trace["x"], trace["y"], expected))
    stars = [t for t in f1.variants[0].figure["data"] if t["mode"] == "markers"]
    for star in stars:
        split = star["name"].removesuffix(" optimum")
        (best,) = query(con, "select optimal_threshold, f1 from optimal_thresholds where "
                        "eval_id = ? and split = ? and class_name is null", eval_id, split)
        assert close(star["x"][0], best[0]) and close(star["y"][0], best[1])
    classes = {v.label for v in f1.variants[1:]}
    assert classes == {r[0] for r in query(con, "select distinct class_name from "
                                           "confidence_sweep where eval_id = ? and class_name "
                                           "is not null", eval_id)}


def test_the_confusion_heatmaps_equal_the_matrix(con: duckdb.DuckDBPyConnection,
                                                 overview: dict[str, Row]) -> None:
    eval_id = a_done_eval(overview, "semantic-segmentation")
    page, _ = eval_page(con, overview, eval_id)
    confusion = chart(page, "confusion")
    assert "pixels" in (confusion.note or "")
    variants = query(con, "select distinct split, confidence from confusion_matrix "
                     "where eval_id = ?", eval_id)
    assert len(confusion.variants) == len(variants)
    assert confusion.variants[0].label.startswith("test · server default")
    counts, shares = confusion.variants[0].figure["data"]
    cells = query(con, "select actual_idx, predicted_idx, actual_class, count from "
                  "confusion_matrix where eval_id = ? and split = 'test' and confidence is null",
                  eval_id)
    for a, p, name, count in cells:
        assert counts["z"][a][p] == count
        assert html.unescape(counts["y"][a]) == name
        total = sum(c for a2, _, _, c in cells if a2 == a)
        assert close(shares["z"][a][p], count / total if total else None)
    assert html.unescape(counts["x"][-1]) == "background"


def test_per_class_bars_rank_by_f1_and_show_absent_classes_as_absent(
        con: duckdb.DuckDBPyConnection, overview: dict[str, Row]) -> None:
    absent = query(con, "select eval_id, split, class_name from class_metrics where map50 is "
                   "null and iou is null order by all limit 1")
    assert absent, "the seeded workspace has a class without instances in some split"
    eval_id, split, name = absent[0]
    page, _ = eval_page(con, overview, eval_id)
    variant = next(v for v in chart(page, "classes").variants if v.label == split)
    f1 = variant.figure["data"][0]
    expected = query(con, "select class_name, f1 from class_leaderboard where eval_id = ? and "
                     "split = ? and not (map50 is null and iou is null) order by rank",
                     eval_id, split)
    shown = [html.unescape(n) for n in f1["y"]]
    assert shown[:len(expected)] == [n for n, _ in expected]
    assert all(close(x, f) for x, (_, f) in zip(f1["x"], expected))
    assert f1["x"][shown.index(name)] is None  # no bar, not a zero
    notes = variant.figure["layout"]["annotations"]
    assert any(html.unescape(n["y"]) == name and "absent" in n["text"] for n in notes)


def test_the_scatter_is_every_image_or_a_bounded_stated_sample(
        con: duckdb.DuckDBPyConnection, overview: dict[str, Row]) -> None:
    eval_id = a_done_eval(overview)
    rows = {r[0]: r[1:] for r in query(
        con, "select image_name, embedding_x, embedding_y, cluster_id from image_predictions "
        "where eval_id = ? and confidence is null", eval_id)}
    page, _ = eval_page(con, overview, eval_id)
    scatter = chart(page, "embedding")
    by_cluster = scatter.variants[0].figure["data"]
    points = {html.unescape(n): (x, y) for t in by_cluster for n, x, y in zip(
        t["text"], t["x"], t["y"])}
    assert len(points) == len(rows) and f"all {len(rows):,} images" in (scatter.note or "")
    assert all(close(x, rows[n][0]) and close(y, rows[n][1]) for n, (x, y) in points.items())
    page, _ = eval_page(con, overview, eval_id, max_points=25)
    sample = chart(page, "embedding")
    f1 = sample.variants[1].figure["data"][0]
    assert len(f1["x"]) == 25 and f"a sample of 25 of {len(rows):,} images" in (sample.note or "")
    assert {html.unescape(n) for n in f1["text"]} <= set(rows)


def test_a_running_eval_shows_every_chart_as_not_available(
        con: duckdb.DuckDBPyConnection, overview: dict[str, Row]) -> None:
    eval_id = next(e for e, r in overview.items() if r["status"] == "running")
    page, _ = eval_page(con, overview, eval_id)
    assert page.charts and not any(c.available for c in page.charts)
    assert all("the evaluation is running" in (c.unavailable or "") for c in page.charts)
    assert page.context["worst"].unavailable and page.context["recommendations"].unavailable
    assert page.chart_specs() == []


def test_a_missing_vector_analysis_is_not_available_and_says_why(
        con: duckdb.DuckDBPyConnection, overview: dict[str, Row]) -> None:
    page, _ = eval_page(con, overview, MISSING_VECTOR)
    clusters = chart(page, "clusters")
    assert not clusters.available
    assert clusters.unavailable == ("the vector-analysis panel ended unavailable "
                                    "(HTTP 409, model_eval_not_done)")
    assert chart(page, "embedding").available  # image predictions are there


def test_every_figure_of_every_page_is_valid_plotly(con: duckdb.DuckDBPyConnection,
                                                    overview: dict[str, Row]) -> None:
    selection = data.select(con, [], [])
    built = [pages.index_page(list(overview.values()), data.panel_states(con, selection),
                              "acme", False)]
    built += [pages.project_page(p, data.trends(con, p),
                                 [r for r in overview.values() if r["project"] == p])
              for p in selection.projects]
    built += [pages.eval_page(overview[d.eval_id], d)
              for d in data.eval_batches(con, selection.eval_ids, max_points=5000, batch=7)]
    assert len(built) == 1 + len(selection.projects) + len(overview)
    for page in built:
        for c in page.charts:
            for v in c.variants:
                go.Figure(v.figure)  # raises on any property plotly does not know


def test_hostile_names_are_escaped_for_plotly(con: duckdb.DuckDBPyConnection,
                                              overview: dict[str, Row]) -> None:
    page, _ = eval_page(con, overview, a_done_eval(overview))
    labels = chart(page, "classes").variants[0].figure["data"][0]["y"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in labels
    assert not any(HOSTILE_CLASSES[0] in str(v.figure) for c in page.charts for v in c.variants)


def test_the_panel_health_and_trend_charts_equal_their_views(
        con: duckdb.DuckDBPyConnection, overview: dict[str, Row]) -> None:
    selection = data.select(con, [], [])
    index = pages.index_page(list(overview.values()), data.panel_states(con, selection), "acme",
                             False)
    health = {(html.unescape(t["name"]), html.unescape(p)): x for t in
              index.charts[0].variants[0].figure["data"] for p, x in zip(t["y"], t["x"])}
    for panel, ok, not_done, unavailable in query(
            con, "select panel, ok, not_done, unavailable from panel_health"):
        assert (health.get(("ok", panel), 0), health.get(("not_done", panel), 0),
                health.get(("unavailable", panel), 0)) == (ok, not_done, unavailable)
    project = next(p for p in selection.projects if any(
        r["regressed"] for r in overview.values() if r["project"] == p))
    page = pages.project_page(project, data.trends(con, project),
                              [r for r in overview.values() if r["project"] == project])
    line, _, regressions = page.charts[0].variants[0].figure["data"]
    expected = query(con, "select version_id, coalesce(map, miou), regressed from "
                     "version_trends where project = ? order by version_number", project)
    assert line["x"] == [f"v{v}" for v, _, _ in expected]
    assert all(close(y, h) for y, (_, h, _) in zip(line["y"], expected))
    assert regressions["x"] == [f"v{v}" for v, _, r in expected if r]


def test_selection_by_project_and_eval(con: duckdb.DuckDBPyConnection,
                                       overview: dict[str, Row]) -> None:
    project = next(r["project"] for r in overview.values() if r["project"])
    one = next(e for e, r in overview.items() if r["project"] != project)
    chosen = data.select(con, [project], [one])
    assert set(chosen.eval_ids) == {e for e, r in overview.items()
                                    if r["project"] == project} | {one}
    assert chosen.filtered and project in chosen.projects
    with pytest.raises(ConfigError, match="no project 'nope'"):
        data.select(con, ["nope"], [])
    with pytest.raises(ConfigError, match="no eval 'x'"):
        data.select(con, [], ["x"])


def test_file_names_and_links_are_safe() -> None:
    assert pages.file_name("huUF720inUcymARwqAGK") == "huUF720inUcymARwqAGK.html"
    for hostile in ("../../etc/passwd", "a/b", "<script>", "x" * 200, ".hidden", ""):
        name = pages.file_name(hostile)
        assert "/" not in name and not name.startswith(".") and len(name) < 80
    assert pages.file_name("a/b") != pages.file_name("a-b")
    assert pages.safe_url("https://app.roboflow.com/a/b") == "https://app.roboflow.com/a/b"
    for bad in ("javascript:alert(1)", "data:text/html,x", 'https://x" onmouseover="y', None):
        assert pages.safe_url(bad) is None
