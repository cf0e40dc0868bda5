"""The HTML report in a real headless Chromium, opened from disk with the network cut off.

Every page of a report of the demo's workspace (with hostile class and image names) loads
without a console error or any request leaving the folder, draws every chart it embeds, and
is not blank; hostile names are text; a running eval and a missing vector analysis say
"not available"; and what plotly drew equals a query of the views. One screenshot per page
kind is kept under the session's pytest temp folder (``report-screenshots/``).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.report import build_report
from etl.simulator.images import HOSTILE_STEMS
from etl.simulator.workspace import HOSTILE_CLASSES
from tests.support.browser import Browser, Visit, browser, require_browser
from tests.support.report_data import MISSING_VECTOR, make_dataset

DRAWN = """return Array.from(document.querySelectorAll('.plot')).map(div => {
  const svg = div.querySelector('svg.main-svg'), box = svg ? svg.getBoundingClientRect() : null;
  return {id: div.id, width: box ? box.width : 0, height: box ? box.height : 0,
          marks: div.querySelectorAll('g.trace, g.hm image, g.heatmaplayer image').length,
          traces: (div.data || []).length};
});"""


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    folder = make_dataset(tmp_path_factory.mktemp("report-browser") / "out")
    build_report(folder)
    return folder


@pytest.fixture(scope="module")
def chrome(out: Path) -> Iterator[Browser]:
    with browser() as b:
        b.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__alerts = []; window.alert = m => window.__alerts.push(String(m));")})
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "report-screenshots"


def views(out: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(out / "evals.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == pytest.approx(b, rel=1e-9, abs=5e-7))  # pages round to 6 decimals


def kind(page: Path, out: Path) -> str:
    if page.parent.name == "evals":
        status = views(out, "select status from evaluations where eval_id = ?", page.stem)
        return f"eval-{status[0][0]}" if status else "eval"
    return {"projects": "project"}.get(page.parent.name, "index")


def check_visit(chrome: Browser, visit: Visit) -> None:
    assert visit.errors == [], visit.errors
    assert visit.external == [] and visit.failed == [], (visit.external, visit.failed)
    assert chrome.js("return window.__alerts") == []
    specs = chrome.js("return JSON.parse(document.getElementById('report-charts').textContent)")
    drawn = chrome.js(DRAWN)
    assert [d["id"] for d in drawn] == [s["id"] for s in specs]
    assert chrome.js("return document.body.dataset.chartsDrawn") == str(len(specs))
    for chart, spec in zip(drawn, specs):
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["marks"] > 0 and chart["traces"] == len(spec["variants"][0]["data"]), chart
    sections = chrome.js("return document.querySelectorAll('[data-chart-key]').length")
    unavailable = chrome.js("return document.querySelectorAll('.chart [data-unavailable]').length")
    assert sections == len(specs) + unavailable


def not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").resize((200, max(1, 200 * image.height // image.width)))
        colours = small.getcolors(maxcolors=200 * 2000) or []
        background = max(colours)[0] / (small.width * small.height)
    assert len(colours) > 50 and background < 0.9, (png, len(colours), background)


def test_every_page_opens_offline_draws_every_chart_and_is_not_blank(
        out: Path, chrome: Browser, shots: Path) -> None:
    kept: dict[str, Path] = {}
    pages = sorted((out / "report").rglob("*.html"))
    assert len(pages) == 1 + 3 + 24
    for page in pages:
        visit = chrome.open(page)
        check_visit(chrome, visit)
        name = kind(page, out)
        if name not in kept:
            kept[name] = shots / f"{name}.png"
            chrome.screenshot(kept[name])
            not_blank(kept[name])
    assert {"index", "project", "eval-done", "eval-running"} <= set(kept)
    print(f"\nscreenshots: {sorted(str(p) for p in kept.values())}")


def test_hostile_class_and_image_names_are_text(out: Path, chrome: Browser) -> None:
    eval_id = views(out, "select eval_id from class_metrics where class_name = ? and "
                    "eval_id in (select eval_id from worst_images) limit 1", HOSTILE_CLASSES[0])[0][0]
    check_visit(chrome, chrome.open(out / "report" / "evals" / f"{eval_id}.html"))
    assert chrome.js("return document.querySelectorAll('img, iframe, object, embed').length") == 0
    assert chrome.js("return document.scripts.length") == 3
    assert chrome.js("return Array.from(document.querySelectorAll('[onerror], [onload]')).length") == 0
    body = chrome.js("return document.body.innerText")
    assert any(stem in body for stem in HOSTILE_STEMS)  # worst images: names as typed
    ticks = chrome.js("return Array.from(document.querySelectorAll("
                      "'#chart-classes .ytick text')).map(t => t.textContent)")
    assert set(HOSTILE_CLASSES) <= set(ticks)
    hover = chrome.js("return document.getElementById('chart-embedding').data[0].text")
    assert all("<" not in t for t in hover)  # escaped for plotly, which shows them as typed


def test_a_running_eval_and_a_missing_vector_analysis_say_not_available(
        out: Path, chrome: Browser) -> None:
    running = views(out, "select eval_id from evaluations where status = 'running' limit 1")[0][0]
    check_visit(chrome, chrome.open(out / "report" / "evals" / f"{running}.html"))
    notes = chrome.js("return Array.from(document.querySelectorAll('[data-unavailable]'))"
                      ".map(n => n.innerText)")
    assert len(notes) == 6 + 2 and all(n.startswith("Not available:") for n in notes)
    assert all("the evaluation is running" in n for n in notes)
    assert chrome.js("return document.querySelectorAll('.plot').length") == 0
    check_visit(chrome, chrome.open(out / "report" / "evals" / f"{MISSING_VECTOR}.html"))
    clusters = chrome.js("return document.querySelector('#section-clusters').innerText")
    assert "Not available: the vector-analysis panel ended unavailable (HTTP 409" in clusters
    assert len(chrome.js(DRAWN)) == 5


def test_what_plotly_drew_equals_the_views(out: Path, chrome: Browser) -> None:
    eval_id = views(out, "select eval_id from eval_overview where status = 'done' and "
                    "panels_ok = panels_total and task_type = 'object-detection-like' "
                    "order by eval_id limit 1")[0][0]
    check_visit(chrome, chrome.open(out / "report" / "evals" / f"{eval_id}.html"))

    def drawn(chart: str) -> list[dict[str, Any]]:
        return list(chrome.js(f"return document.getElementById('chart-{chart}').data"))

    for trace in [t for t in drawn("sweep-f1") if t["mode"] == "lines"]:
        rows = views(out, "select threshold, f1 from confidence_sweep where eval_id = ? and "
                     "split = ? and class_name is null order by threshold", eval_id, trace["name"])
        assert [(close(x, t), close(y, f)) for x, y, (t, f) in zip(trace["x"], trace["y"], rows)] \
            == [(True, True)] * 100
    counts = drawn("confusion")[0]
    for a, p, c in views(out, "select actual_idx, predicted_idx, count from confusion_matrix "
                         "where eval_id = ? and split = 'test' and confidence is null", eval_id):
        assert counts["z"][a][p] == c
    f1 = drawn("classes")[0]
    for name, value in views(out, "select class_name, f1 from class_leaderboard where eval_id = ?"
                             " and split = 'test' and map50 is not null", eval_id):
        assert close(f1["x"][[html.unescape(y) for y in f1["y"]].index(name)], value)
    points = {html.unescape(n): (x, y) for t in drawn("embedding")
              for n, x, y in zip(t["text"], t["x"], t["y"])}
    rows = views(out, "select image_name, embedding_x, embedding_y from image_predictions "
                 "where eval_id = ? and confidence is null", eval_id)
    assert len(points) == len(rows)
    assert all(close(points[n][0], x) and close(points[n][1], y) for n, x, y in rows)
    # a class on demand: the select redraws the chart with that class's curve
    cls = views(out, "select min(class_name) from confidence_sweep where eval_id = ? and "
                "class_name is not null", eval_id)[0][0]
    chrome.js("const s = document.querySelector('select[data-chart=\"chart-sweep-f1\"]');"
              "s.selectedIndex = 1; s.dispatchEvent(new Event('change'));")
    test = next(t for t in drawn("sweep-f1") if t["name"] == "test" and t["mode"] == "lines")
    rows = views(out, "select f1 from confidence_sweep where eval_id = ? and split = 'test' and "
                 "class_name = ? order by threshold", eval_id, cls)
    assert all(close(y, f) for y, (f,) in zip(test["y"], rows))


def test_the_overview_sorts_filters_and_matches_panel_health(out: Path, chrome: Browser) -> None:
    check_visit(chrome, chrome.open(out / "report" / "index.html"))
    health = {(t["name"], p): x for t in chrome.js(
        "return document.getElementById('chart-panel-health').data") for p, x in zip(t["y"], t["x"])}
    for panel, ok, not_done in views(out, "select panel, ok, not_done from panel_health"):
        assert (health.get(("ok", panel), 0), health.get(("not_done", panel), 0)) == (ok, not_done)
    regressed = views(out, "select count(*) from version_trends where regressed")[0][0]
    assert chrome.js("return document.querySelectorAll('#evals tr.regressed').length") == regressed
    chrome.js("const s = document.querySelector('[data-status-for=evals]'); s.value = 'running';"
              "s.dispatchEvent(new Event('change'));")
    shown = chrome.js("return Array.from(document.querySelectorAll('#evals tbody tr'))"
                      ".filter(r => !r.hidden).map(r => r.dataset.status)")
    assert shown == ["running"] * views(out, "select count(*) from evaluations "
                                        "where status = 'running'")[0][0]
    chrome.js("document.querySelectorAll('#evals th')[9].click();"  # F1, ascending
              "document.querySelector('[data-status-for=evals]').value = '';"
              "document.querySelector('[data-status-for=evals]').dispatchEvent(new Event('change'));")
    f1 = chrome.js("return Array.from(document.querySelectorAll('#evals tbody tr'))"
                   ".map(r => r.cells[9].dataset.value).filter(v => v !== '').map(Number)")
    assert f1 == sorted(f1) and len(f1) == views(
        out, "select count(*) from eval_overview where f1 is not null")[0][0]
