"""How evals-etl's cost grows with work: a growing workspace, and one growing eval.

Each size gets its own simulator process (a new workspace) and one full ``evals-etl
export`` (``--repeats`` for more). Big workspaces use 12 projects x 10 versions so the
partitioned listing can reach every eval past the list endpoint's 200-row cap; the table
shows evals listed next to evals generated, so an incomplete listing cannot hide. With a
baseline (``--baseline REV``, :mod:`bench.baseline`), evals-etl at that commit runs after each
evals-etl run on the same simulator, and the table adds its figures and the wall ratio; a
baseline that makes another number of requests than evals-etl is shown in bold and fails.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import report
from bench.baseline import Baseline, baseline_tree
from bench.contenders import (
    CONCURRENCY,
    CONTENDERS,
    Contender,
    child_env,
    etl_argv,
    etl_rows,
    etl_summary,
)
from bench.measure import run_measured
from bench.sim_process import SimProcess, sim_process
from bench.workload import Workload


def workspace_series(sizes: Sequence[int], images: tuple[int, int],
                     latency_ms: float) -> list[Workload]:
    return [Workload(n, images, latency_ms, projects=12, versions=10) for n in sizes]


def eval_series(sizes: Sequence[int], latency_ms: float) -> list[Workload]:
    return [Workload(1, (n, n), latency_ms) for n in sizes]


def measure_export(workload: Workload, work: Path, repeats: int, timeout: float,
                   baseline: Baseline | None = None) -> dict[str, Any]:
    """``repeats`` full exports on one new simulator; with a baseline, each evals-etl run is
    followed by one of the baseline, and ``baseline`` holds the baseline's own figures."""
    name = f"scale-{workload.evals}x{workload.images[1]}"
    runs: list[dict[str, Any]] = []
    base_runs: list[dict[str, Any]] = []
    with sim_process(workload, work / f"{name}-simulator.log") as sim:
        print(f"{workload.describe()}: simulator ready ({sim.info['bodies']} bodies encoded "
              f"in {sim.info['prebuild_s']} s)", file=sys.stderr, flush=True)
        for repeat in range(repeats):
            runs.append(_export(sim, CONTENDERS["etl"], work / f"{name}-{repeat}", repeat,
                                timeout))
            if baseline is not None:
                base_runs.append(_export(sim, baseline.contender(),
                                         work / f"{name}-base-{repeat}", repeat, timeout))
        info = {k: v for k, v in sim.info.items() if k != "api_key"}
    result = {"workload": asdict(workload), "sim": info, **_figures(runs, workload)}
    if baseline is not None:
        base = _figures(base_runs, workload)
        result["baseline"] = base
        result["wall_ratio"] = (result["wall_s"] / base["wall_s"]
                                if result["wall_s"] and base["wall_s"] else None)
        result["mismatch"] = (result["requests"] is not None and base["requests"] is not None
                              and result["requests"] != base["requests"])
    return result


def _export(sim: SimProcess, contender: Contender, out: Path, repeat: int,
            timeout: float) -> dict[str, Any]:
    log = out.with_name(out.name + ".log")
    before = sim.requests()
    usage = run_measured(etl_argv(sim, out), env=child_env(sim, contender), log=log,
                         cwd=contender.root, timeout=timeout)
    requests = sim.requests() - before
    run = {"usage": asdict(usage), "requests": requests, "rows": etl_rows(out),
           "summary": etl_summary(log), "log": str(log)}
    print(f"  {contender.label} #{repeat}: {usage.wall_s:.2f} s wall, {usage.cpu_s:.2f} s CPU, "
          f"{usage.peak_rss_mb:.1f} MB, {requests} requests, exit {usage.exit_code}",
          file=sys.stderr, flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return run


def _figures(runs: list[dict[str, Any]], workload: Workload) -> dict[str, Any]:
    ok = [r for r in runs if r["usage"]["exit_code"] == 0]
    wall = statistics.median(r["usage"]["wall_s"] for r in ok) if ok else None
    made: int | None = ok[-1]["requests"] if ok else None
    bound = made * workload.latency_ms / 1000 / CONCURRENCY if made else None
    return {"runs": runs, "wall_s": wall,
            "cpu_s": statistics.median(r["usage"]["cpu_s"] for r in ok) if ok else None,
            "peak_rss_mb": max(r["usage"]["peak_rss_mb"] for r in ok) if ok else None,
            "requests": made, "bound_s": bound,
            "bound_ratio": bound / wall if bound and wall else None,
            "rows": ok[-1]["rows"] if ok else None,
            "evals_listed": (ok[-1]["summary"] or {}).get("evals_listed") if ok else None,
            "crawl_s": (ok[-1]["summary"] or {}).get("crawl_s") if ok else None,
            "failed": len(runs) - len(ok)}


def scaling(workspaces: list[Workload], evals: list[Workload], repeats: int,
            timeout: float, work: Path | None = None,
            baseline: str | None = None) -> dict[str, Any]:
    work = work or Path(tempfile.mkdtemp(prefix="evals-bench-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = report.machine()
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(baseline_tree(baseline, work)) if baseline else None
        return {"kind": "scaling", "machine": machine, "work": str(work), "repeats": repeats,
                "timeout_s": timeout, "baseline": base.as_dict() if base else None,
                "workspace": [measure_export(w, work, repeats, timeout, base)
                              for w in workspaces],
                "one_eval": [measure_export(w, work, repeats, timeout, base) for w in evals]}


def markdown(result: dict[str, Any]) -> str:
    headers = ["evals", "images", "requests", "wall s", "crawl s", "CPU s", "peak RSS MB",
               "rows", "bound s", "bound / wall", "evals listed", "failed"]
    base = result.get("baseline")
    if base:
        headers += [f"{base['short']}: requests", f"{base['short']}: wall s",
                    f"{base['short']}: CPU s", f"{base['short']}: peak RSS MB", "wall ratio",
                    f"{base['short']}: failed"]

    def rows(series: list[dict[str, Any]]) -> list[list[object]]:
        out = []
        for s in series:
            w = s["workload"]
            row: list[object] = [
                w["evals"], s["sim"]["images"], s["requests"], s["wall_s"], s["crawl_s"],
                s["cpu_s"], s["peak_rss_mb"], s["rows"], s["bound_s"],
                None if s["bound_ratio"] is None else f"{s['bound_ratio']:.0%}",
                s["evals_listed"], s["failed"]]
            if base:
                b = s["baseline"]
                made = b["requests"] if not s["mismatch"] else f"**{b['requests']}**"
                row += [made, b["wall_s"], b["cpu_s"], b["peak_rss_mb"],
                        None if s["wall_ratio"] is None else f"{s['wall_ratio']:.2f}x",
                        b["failed"]]
            out.append(row)
        return out

    latency = {s["workload"]["latency_ms"] for s in result["workspace"] + result["one_eval"]}
    lines = [(f"Machine: {report.machine_line(result['machine'])}; latency "
             f"{', '.join(f'{x:g}' for x in sorted(latency))} ms, concurrency {CONCURRENCY}, "
             f"{result['repeats']} run(s) per size (median wall, max RSS)."), ""]
    if base:
        lines += [(f"Baseline: evals-etl at {base['short']}, run after each evals-etl run "
                   f"on the same simulator; wall ratio = evals-etl / baseline. A request "
                   "count in bold differs from evals-etl's."), ""]
    if result["workspace"]:
        w = result["workspace"][0]["workload"]
        lines += [(f"Growing workspace ({w['images'][0]}-{w['images'][1]} images per eval, "
                  f"{w['projects']} projects x {w['versions']} versions):"), "",
                  report.table(headers, rows(result["workspace"])), ""]
    if result["one_eval"]:
        lines += ["One growing eval:", "", report.table(headers, rows(result["one_eval"]))]
    return "\n".join(lines)
