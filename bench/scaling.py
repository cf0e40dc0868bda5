"""How evals-etl's cost grows with work: a growing workspace, and one growing eval.

Each size gets its own simulator process (a new workspace) and one full ``evals-etl
export`` (``--repeats`` for more). Big workspaces use 12 projects x 10 versions so the
partitioned listing can reach every eval past the list endpoint's 200-row cap; the table
shows evals listed next to evals generated, so an incomplete listing cannot hide.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import report
from bench.contenders import CONCURRENCY, CONTENDERS, child_env, etl_argv, etl_rows, etl_summary
from bench.measure import run_measured
from bench.sim_process import sim_process
from bench.workload import Workload


def workspace_series(sizes: Sequence[int], images: tuple[int, int],
                     latency_ms: float) -> list[Workload]:
    return [Workload(n, images, latency_ms, projects=12, versions=10) for n in sizes]


def eval_series(sizes: Sequence[int], latency_ms: float) -> list[Workload]:
    return [Workload(1, (n, n), latency_ms) for n in sizes]


def measure_export(workload: Workload, work: Path, repeats: int,
                   timeout: float) -> dict[str, Any]:
    name = f"scale-{workload.evals}x{workload.images[1]}"
    runs: list[dict[str, Any]] = []
    with sim_process(workload, work / f"{name}-simulator.log") as sim:
        print(f"{workload.describe()}: simulator ready ({sim.info['bodies']} bodies encoded "
              f"in {sim.info['prebuild_s']} s)", file=sys.stderr, flush=True)
        for repeat in range(repeats):
            out, log = work / f"{name}-{repeat}", work / f"{name}-{repeat}.log"
            before = sim.requests()
            usage = run_measured(etl_argv(sim, out), env=child_env(sim, CONTENDERS["etl"]),
                                 log=log, timeout=timeout)
            requests = sim.requests() - before
            runs.append({"usage": asdict(usage), "requests": requests, "rows": etl_rows(out),
                         "summary": etl_summary(log), "log": str(log)})
            print(f"  #{repeat}: {usage.wall_s:.2f} s wall, {usage.cpu_s:.2f} s CPU, "
                  f"{usage.peak_rss_mb:.1f} MB, {requests} requests, exit {usage.exit_code}",
                  file=sys.stderr, flush=True)
            shutil.rmtree(out, ignore_errors=True)
        info = {k: v for k, v in sim.info.items() if k != "api_key"}
    ok = [r for r in runs if r["usage"]["exit_code"] == 0]
    wall = statistics.median(r["usage"]["wall_s"] for r in ok) if ok else None
    made: int | None = ok[-1]["requests"] if ok else None
    bound = made * workload.latency_ms / 1000 / CONCURRENCY if made else None
    return {"workload": asdict(workload), "sim": info, "runs": runs, "wall_s": wall,
            "cpu_s": statistics.median(r["usage"]["cpu_s"] for r in ok) if ok else None,
            "peak_rss_mb": max(r["usage"]["peak_rss_mb"] for r in ok) if ok else None,
            "requests": made, "bound_s": bound,
            "bound_ratio": bound / wall if bound and wall else None,
            "rows": ok[-1]["rows"] if ok else None,
            "evals_listed": (ok[-1]["summary"] or {}).get("evals_listed") if ok else None,
            "crawl_s": (ok[-1]["summary"] or {}).get("crawl_s") if ok else None,
            "failed": len(runs) - len(ok)}


def scaling(workspaces: list[Workload], evals: list[Workload], repeats: int,
            timeout: float, work: Path | None = None) -> dict[str, Any]:
    work = work or Path(tempfile.mkdtemp(prefix="evals-bench-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = report.machine()
    return {"kind": "scaling", "machine": machine, "work": str(work), "repeats": repeats,
            "timeout_s": timeout,
            "workspace": [measure_export(w, work, repeats, timeout) for w in workspaces],
            "one_eval": [measure_export(w, work, repeats, timeout) for w in evals]}


def markdown(result: dict[str, Any]) -> str:
    headers = ["evals", "images", "requests", "wall s", "crawl s", "CPU s", "peak RSS MB",
               "rows", "bound s", "bound / wall", "evals listed", "failed"]

    def rows(series: list[dict[str, Any]]) -> list[list[object]]:
        out = []
        for s in series:
            w = s["workload"]
            out.append([w["evals"], s["sim"]["images"], s["requests"], s["wall_s"],
                        s["crawl_s"], s["cpu_s"], s["peak_rss_mb"], s["rows"], s["bound_s"],
                        None if s["bound_ratio"] is None else f"{s['bound_ratio']:.0%}",
                        s["evals_listed"], s["failed"]])
        return out

    latency = {s["workload"]["latency_ms"] for s in result["workspace"] + result["one_eval"]}
    lines = [(f"Machine: {report.machine_line(result['machine'])}; latency "
             f"{', '.join(f'{x:g}' for x in sorted(latency))} ms, concurrency {CONCURRENCY}, "
             f"{result['repeats']} run(s) per size (median wall, max RSS)."), ""]
    if result["workspace"]:
        w = result["workspace"][0]["workload"]
        lines += [(f"Growing workspace ({w['images'][0]}-{w['images'][1]} images per eval, "
                  f"{w['projects']} projects x {w['versions']} versions):"), "",
                  report.table(headers, rows(result["workspace"])), ""]
    if result["one_eval"]:
        lines += ["One growing eval:", "", report.table(headers, rows(result["one_eval"]))]
    return "\n".join(lines)
