"""Normalization micro-benchmark: rows per CPU second on one core, no network, no disk.

Bodies come from the simulator's own builders, encoded to JSON bytes once, then decoded
and normalized the way the crawler does (decode and normalize with the collector paused):
image-prediction pages through ``decode_page`` + ``normalize_page`` (1,000 images a page, a fresh ``seen`` set per eval), confidence sweeps
through ``normalize_body``. Time is ``time.process_time`` of this single-threaded process,
so the figures are per core; each pass is repeated and the median pass is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from bench import report
from bench.workload import PAGE, Workload
from etl.normalize import (
    PANELS,
    FetchContext,
    decode_page,
    gc_paused,
    normalize_body,
    normalize_page,
)
from etl.panels import PanelRequest
from etl.simulator import generate

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def image_bodies(pages: int, seed: int) -> list[tuple[str, int, bytes]]:
    """``pages`` 1,000-image pages of split ``all``, from as many evals as it takes."""
    ws = generate(Workload(max(1, pages // 3), (3000, 3000), 0, seed=seed).sim_options())
    out: list[tuple[str, int, bytes]] = []
    for ev in ws.evals:
        conf = ws.default_confidence(ev)
        for offset in range(0, ev.n_images, PAGE):
            if len(out) == pages:
                return out
            body = ws.image_page(ev, "all", conf, offset, PAGE)
            out.append((ev.eval_id, offset, msgspec.json.encode(body)))
    return out


def sweep_bodies(count: int, seed: int) -> list[tuple[str, bytes]]:
    ws = generate(Workload(count, (40, 40), 0, seed=seed).sim_options())
    return [(ev.eval_id, msgspec.json.encode(ws.panel_body(ev, "confidence-sweep")))
            for ev in ws.evals]


def _ctx(eval_id: str, panel: Any, split: str | None = None) -> FetchContext:
    return FetchContext("acme", "bench", NOW, PanelRequest(eval_id, panel, split))


def normalize_images(bodies: list[tuple[str, int, bytes]]) -> dict[str, int]:
    rows = {"image_predictions": 0, "image_confusion": 0}
    seen: dict[str, set[str]] = {}
    for eval_id, _, body in bodies:
        page = decode_page(body)
        with gc_paused():  # as the crawler calls it (etl/crawl/images.py)
            batches = normalize_page(page, _ctx(eval_id, "image-predictions", "all"),
                                     seen.setdefault(eval_id, set()))
        for table, batch in batches.items():
            rows[table] = rows.get(table, 0) + batch.num_rows
    return rows


def decode_images(bodies: list[tuple[str, int, bytes]]) -> dict[str, int]:
    return {"images": sum(len(decode_page(body).images) for _, _, body in bodies)}


def normalize_sweeps(bodies: list[tuple[str, bytes]]) -> dict[str, int]:
    rows: dict[str, int] = {}
    for eval_id, body in bodies:
        with gc_paused():
            batches = normalize_body(_ctx(eval_id, "confidence-sweep"), body)
        for table, batch in batches.items():
            rows[table] = rows.get(table, 0) + batch.num_rows
    return rows


def decode_sweeps(bodies: list[tuple[str, bytes]]) -> dict[str, int]:
    decode = PANELS["confidence-sweep"].decode
    for _, body in bodies:
        decode(body)
    return {"bodies": len(bodies)}


def timed(fn: Callable[[Any], dict[str, int]], bodies: Any, passes: int) -> dict[str, Any]:
    fn(bodies)  # warm-up: imports, caches, first allocations
    seconds, rows = [], {}
    for _ in range(passes):
        started = time.process_time()
        rows = fn(bodies)
        seconds.append(time.process_time() - started)
    return {"cpu_s": statistics.median(seconds), "passes": seconds, "rows": rows,
            "bytes": sum(len(b[-1]) for b in bodies)}


def micro(pages: int, sweeps: int, passes: int, seed: int = 7) -> dict[str, Any]:
    images, sweep = image_bodies(pages, seed), sweep_bodies(sweeps, seed)
    cases: dict[str, tuple[Callable[[Any], dict[str, int]], Any, str | None]] = {
        "image-predictions: decode + normalize": (normalize_images, images, "image_predictions"),
        "image-predictions: decode only": (decode_images, images, "images"),
        "confidence-sweep: decode + normalize": (normalize_sweeps, sweep, "confidence_sweep"),
        "confidence-sweep: decode only": (decode_sweeps, sweep, None),
    }
    results = {}
    for name, (fn, bodies, main_table) in cases.items():
        r = timed(fn, bodies, passes)
        r["main_table"] = main_table
        r["rows_per_s"] = r["rows"][main_table] / r["cpu_s"] if main_table else None
        r["mb_per_s"] = r["bytes"] / 2**20 / r["cpu_s"]
        results[name] = r
    return {"kind": "normalize", "machine": report.machine(), "pages": len(images),
            "sweeps": len(sweep), "passes": passes, "cases": results}


def markdown(result: dict[str, Any]) -> str:
    headers = ["case", "bodies", "JSON MB", "CPU s (median pass)", "rows (main table)",
               "rows/s per core", "JSON MB/s", "other rows"]
    rows = []
    for name, r in result["cases"].items():
        main = r["main_table"]
        others = ", ".join(f"{t} {n:,}" for t, n in r["rows"].items() if t != main) or None
        n_bodies = result["pages"] if name.startswith("image") else result["sweeps"]
        rows.append([name, n_bodies, r["bytes"] / 2**20, r["cpu_s"],
                     r["rows"][main] if main else None, r["rows_per_s"], r["mb_per_s"], others])
    return "\n".join([(f"Machine: {report.machine_line(result['machine'])}; "
                      f"{result['passes']} passes, median reported."), "",
                      report.table(headers, rows)])
