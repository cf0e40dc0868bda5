"""``python -m bench.render``: how long ``evals-etl report`` takes and how big it is.

Exports two simulated workspaces (not timed): the demo's (seed 7, 24 evals) and a 1,000-eval
one, renders each report ``--repeats`` times (timed, the best and the median printed), sums
the HTML, and, when Chromium and selenium are there (the test extra), opens the overview and
the biggest eval page of the 1,000-eval report in headless Chromium, timing each until every
chart is drawn. ``--screenshot PATH`` also writes the README's screenshot (an eval page of
the demo report, top part, 256 colours). Prints markdown; see BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from etl.report import build_report
from tests.support.runs import export, simulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--evals", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp folder)")
    parser.add_argument("--screenshot", type=Path, help="write the README screenshot here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = args.work or Path(tmp)
        rows = [measure("demo workspace (seed 7)", work / "demo", {"seed": 7}, args.repeats),
                measure(f"{args.evals:,}-eval workspace", work / "big",
                        {"seed": 1, "evals": args.evals, "projects": 10, "versions": 6},
                        args.repeats)]
        print(table(rows))
        browser_rows = open_times(work / "big" / "report")
        if browser_rows:
            print("\n" + browser_table(browser_rows))
        if args.screenshot:
            readme_screenshot(work / "demo", args.screenshot)
            print(f"\nscreenshot: {args.screenshot} ({args.screenshot.stat().st_size:,} bytes)")
    return 0


def measure(name: str, out: Path, options: dict[str, Any], repeats: int) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with simulator(**options) as sim:
        export(sim, out, confidences=(None, 50))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = build_report(out)
        times.append(time.perf_counter() - started)
    pages = sorted((out / "report").rglob("*.html"), key=lambda p: p.stat().st_size)
    return {"name": name, "evals": result.evals, "pages": result.pages, "best": min(times),
            "median": statistics.median(times), "html": result.html_bytes,
            "assets": result.asset_bytes, "index": (out / "report" / "index.html").stat().st_size,
            "largest": pages[-1].stat().st_size, "largest_page": pages[-1],
            "mean_eval": statistics.mean(p.stat().st_size for p in pages
                                         if p.parent.name == "evals")}


def table(rows: list[dict[str, Any]]) -> str:
    out = [("| workspace | evals | pages | render (best / median) | HTML total | index.html | "
            "mean eval page | largest page | assets (once) |"),
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['name']} | {r['evals']:,} | {r['pages']:,} | {r['best']:.2f} s / "
                   f"{r['median']:.2f} s | {r['html'] / 1e6:.1f} MB | {r['index'] / 1e3:.0f} kB | "
                   f"{r['mean_eval'] / 1e3:.0f} kB | {r['largest'] / 1e3:.0f} kB | "
                   f"{r['assets'] / 1e6:.1f} MB |")
    return "\n".join(out)


def open_times(report: Path) -> list[tuple[str, float, int]]:
    """Seconds from navigation to every chart drawn, in headless Chromium (offline)."""
    from tests.support.browser import browser, missing_reason

    if missing_reason() is not None:
        return []
    evals = sorted((report / "evals").glob("*.html"), key=lambda p: p.stat().st_size)
    pages = [("overview (index.html)", report / "index.html"),
             ("a project page", min((report / "projects").glob("*.html"))),
             ("the largest eval page", evals[-1]), ("a median eval page", evals[len(evals) // 2])]
    rows = []
    with browser() as b:
        b.open(report / "index.html")  # warm: the browser's own start-up is not the page's
        for name, page in pages:
            started = time.perf_counter()
            visit = b.open(page)
            seconds = time.perf_counter() - started
            assert not visit.errors and not visit.external, (visit.errors, visit.external)
            rows.append((name, seconds, page.stat().st_size))
    return rows


def browser_table(rows: list[tuple[str, float, int]]) -> str:
    out = ["| page of the 1,000-eval report | size | open until every chart is drawn |",
           "| --- | ---: | ---: |"]
    out += [f"| {name} | {size / 1e3:.0f} kB | {seconds:.2f} s |" for name, seconds, size in rows]
    return "\n".join(out)


def readme_screenshot(out: Path, path: Path) -> None:
    """The top of a done detection eval page of the demo report, as a small PNG."""
    import duckdb
    from PIL import Image

    from tests.support.browser import browser

    with duckdb.connect(str(out / "evals.duckdb"), read_only=True) as con:
        row = con.execute("select eval_id from eval_overview where status = 'done' and "
                          "panels_ok = panels_total and task_type = 'object-detection-like' "
                          "and project is not null order by f1 desc limit 1").fetchone()
    assert row is not None
    with browser(width=1280, height=1000) as b:
        b.open(out / "report" / "evals" / f"{row[0]}.html")
        b.screenshot(path, full_page=False)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


if __name__ == "__main__":
    raise SystemExit(main())
