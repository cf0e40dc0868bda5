"""The side-by-side comparison: every contender on one simulated workspace, interleaved.

Repeat ``i`` runs each contender that still owes a repeat, in a fixed order, so slow drifts
of a shared machine spread over all of them. Each run gets a fresh output folder and is
measured by :mod:`bench.measure`; the simulator's request counter, read before and after,
says how many requests it made. Before anything is compared, every run must have made the
same number of requests (and, when it is known, the number the plan predicts).
After the last full evals-etl run, an incremental run on the same output and the unchanged
workspace shows what a nightly run costs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.contenders import (
    CONCURRENCY,
    CONTENDERS,
    Contender,
    child_env,
    etl_argv,
    etl_crawl_seconds,
    output_mb,
)
from bench.measure import Usage, run_measured
from bench.sim_process import SimProcess, sim_process
from bench.workload import Workload


@dataclass(frozen=True)
class Run:
    contender: str
    repeat: int
    usage: Usage
    requests: int
    rows: int | None
    output_mb: float
    crawl_s: float | None = None
    load_average: float | None = None  # 1-minute load when the run started: others' work


def run_one(sim: SimProcess, contender: Contender, repeat: int, work: Path,
            keep: bool = False) -> tuple[Run, Path]:
    out = work / f"{contender.key}-{repeat}"
    log = work / f"{contender.key}-{repeat}.log"
    before, load = sim.requests(), os.getloadavg()[0]
    usage = run_measured(contender.argv(sim, out), env=child_env(sim, contender), log=log,
                         cwd=Path(__file__).resolve().parent.parent)
    requests = sim.requests() - before
    run = Run(contender.key, repeat, usage, requests, contender.rows(out),
              output_mb(out), etl_crawl_seconds(log) if contender.key == "etl" else None,
              round(load, 2))
    status = "ok" if usage.exit_code == 0 else f"EXIT {usage.exit_code} (see {log})"
    print(f"  {contender.label:<24} #{repeat}: {usage.wall_s:8.2f} s wall, "
          f"{usage.cpu_s:7.2f} s CPU, {usage.peak_rss_mb:7.1f} MB, {requests} requests, "
          f"load {load:.1f}  {status}", file=sys.stderr, flush=True)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return run, out


def run_incremental(sim: SimProcess, out: Path, work: Path) -> Run:
    """``export`` without --full-refresh on a published output: the nightly case."""
    contender = CONTENDERS["etl"]
    log = work / "etl-incremental.log"
    before, load = sim.requests(), os.getloadavg()[0]
    usage = run_measured(etl_argv(sim, out, full_refresh=False),
                         env=child_env(sim, contender), log=log)
    run = Run("etl-incremental", 0, usage, sim.requests() - before, None, output_mb(out),
              etl_crawl_seconds(log), round(load, 2))
    print(f"  {'evals-etl incremental':<24}   : {usage.wall_s:8.2f} s wall, "
          f"{run.requests} requests", file=sys.stderr, flush=True)
    return run


def compare(workload: Workload, repeats: dict[str, int], work: Path | None = None) -> dict[str, Any]:
    work = work or Path(tempfile.mkdtemp(prefix="evals-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    machine = report.machine()
    runs: list[Run] = []
    incremental: Run | None = None
    with sim_process(workload, work / "simulator.log") as sim:
        planned = sim.info["planned_requests"]
        print(f"simulator at {sim.url}: {workload.describe()}, planned requests {planned}, "
              f"bodies encoded in {sim.info['prebuild_s']} s", file=sys.stderr, flush=True)
        last_etl: Path | None = None
        for repeat in range(max(repeats.values())):
            for key, owed in repeats.items():
                if repeat < owed:
                    keep = key == "etl" and repeat == repeats["etl"] - 1
                    run, out = run_one(sim, CONTENDERS[key], repeat, work, keep=keep)
                    runs.append(run)
                    if keep:
                        last_etl = out
        if last_etl is not None:
            incremental = run_incremental(sim, last_etl, work)
            shutil.rmtree(last_etl, ignore_errors=True)
        sim_stats = sim.stats()
    return {"kind": "compare", "machine": machine, "workload": asdict(workload),
            "sim": {k: v for k, v in sim.info.items() if k != "api_key"}, "sim_stats": sim_stats, "repeats": repeats, "work": str(work),
            "runs": [asdict(r) for r in runs],
            "incremental": asdict(incremental) if incremental else None,
            "summary": summarize(workload, runs, planned)}


def summarize(workload: Workload, runs: Sequence[Run], planned: int | None) -> dict[str, Any]:
    counts = sorted({r.requests for r in runs})
    mismatch = len(counts) > 1 or (planned is not None and counts != [planned])
    failed = [f"{r.contender}#{r.repeat}" for r in runs if r.usage.exit_code != 0]
    requests = planned if planned is not None else (counts[0] if counts else 0)
    latency = workload.latency_ms / 1000
    bound = requests * latency / CONCURRENCY
    rows: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(r.contender for r in runs):
        mine = [r for r in runs if r.contender == key and r.usage.exit_code == 0]
        if not mine:
            continue
        wall = statistics.median(r.usage.wall_s for r in mine)
        contender = CONTENDERS[key]
        rows[key] = {
            "label": contender.label, "runs": len(mine), "wall_s": wall,
            "walls": [r.usage.wall_s for r in mine],
            "requests_per_s": requests / wall if wall else None,
            "cpu_s": statistics.median(r.usage.cpu_s for r in mine),
            "peak_rss_mb": max(r.usage.peak_rss_mb for r in mine),
            "rows": mine[-1].rows, "output_mb": mine[-1].output_mb,
            "bound_ratio": bound / wall if wall else None,
            "sequential_ratio": (requests * latency / wall
                                 if contender.concurrency == 1 and wall else None),
            "crawl_s": (statistics.median(r.crawl_s for r in mine if r.crawl_s is not None)
                        if any(r.crawl_s is not None for r in mine) else None),
        }
    etl_wall = rows.get("etl", {}).get("wall_s")
    for row in rows.values():
        row["times_etl"] = row["wall_s"] / etl_wall if etl_wall else None
    return {"requests": requests, "request_counts": counts, "planned_requests": planned,
            "mismatch": mismatch, "failed": failed, "bound_s": bound,
            "sequential_bound_s": requests * latency, "contenders": rows}


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    workload = Workload(**{**result["workload"], "images": tuple(result["workload"]["images"])})
    lines = [(f"Workload: {workload.describe()}; R = {s['requests']:,} requests; "
             f"bound R x L / C = {s['bound_s']:.2f} s (C = {CONCURRENCY}); "
             f"sequential R x L = {s['sequential_bound_s']:.1f} s."),
             f"Machine: {report.machine_line(result['machine'])}.", ""]
    if s["mismatch"]:
        lines += [(f"**REQUEST COUNT MISMATCH**: runs made {s['request_counts']} requests, "
                  f"the plan predicts {s['planned_requests']}. Do not compare these rows."), ""]
    if s["failed"]:
        lines += [f"**FAILED RUNS** (left out of the medians): {', '.join(s['failed'])}", ""]
    headers = ["contender", "runs", "median wall s", "req/s", "CPU s", "peak RSS MB",
               "rows written", "output MB", "bound / wall", "R x L / wall", "x evals-etl"]
    rows = [[c["label"], c["runs"], c["wall_s"], c["requests_per_s"], c["cpu_s"],
             c["peak_rss_mb"], c["rows"], c["output_mb"], _pct(c["bound_ratio"]),
             _pct(c["sequential_ratio"]), _times(c["times_etl"])]
            for c in s["contenders"].values()]
    lines.append(report.table(headers, rows))
    etl = s["contenders"].get("etl")
    if etl and etl["crawl_s"] is not None:
        lines += ["", f"evals-etl: crawl {etl['crawl_s']:.1f} s of {etl['wall_s']:.1f} s wall "
                  "(the rest is interpreter start-up, publish and views); walls: "
                  + ", ".join(f"{w:.2f}" for w in etl["walls"])]
    inc = result.get("incremental")
    if inc and etl:
        share = inc["usage"]["wall_s"] / etl["wall_s"]
        lines += ["", (f"Incremental run on the unchanged workspace: {inc['usage']['wall_s']:.2f} s "
                  f"wall, {inc['requests']} requests, {share:.1%} of the full run's median.")]
    return "\n".join(lines)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _times(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}x"
