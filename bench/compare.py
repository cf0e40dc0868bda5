"""The side-by-side comparison: every contender on one simulated workspace, interleaved.

Repeat ``i`` runs each contender that still owes a repeat, in a fixed order, so slow drifts
of a shared machine spread over all of them. Each run gets a fresh output folder and is
measured by :mod:`bench.measure`; the simulator's request counter, read before and after,
says how many requests it made. Before anything is compared, every run must have made the
same number of requests (and, when it is known, the number the plan predicts).
After the last full evals-etl run, an incremental run on the same output and the unchanged
workspace shows what a nightly run costs.

With a baseline (``--baseline REV``), evals-etl at that commit runs from a detached git
worktree (:mod:`bench.baseline`) as one more contender, as often as evals-etl and interleaved
with it, and the summary gives evals-etl's ratios to it. With ``--profile``, one more
evals-etl run after all the others, under cProfile and not in the medians, says where its
main-thread time goes per stage (:mod:`bench.profile`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.baseline import KEY as BASELINE
from bench.baseline import Baseline, baseline_tree
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
                         cwd=contender.root)
    requests = sim.requests() - before
    run = Run(contender.key, repeat, usage, requests, contender.rows(out),
              output_mb(out), etl_crawl_seconds(log) if contender.etl else None,
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
                         env=child_env(sim, contender), log=log, cwd=contender.root)
    run = Run("etl-incremental", 0, usage, sim.requests() - before, None, output_mb(out),
              etl_crawl_seconds(log), round(load, 2))
    print(f"  {'evals-etl incremental':<24}   : {usage.wall_s:8.2f} s wall, "
          f"{run.requests} requests", file=sys.stderr, flush=True)
    return run


def run_profiled(sim: SimProcess, work: Path) -> dict[str, Any]:
    """One more full evals-etl run, under ``python -m cProfile -o FILE``: its stage summary."""
    from bench import profile

    contender = CONTENDERS["etl"]
    out, log, prof = work / "etl-profile", work / "etl-profile.log", work / "etl-profile.prof"
    before = sim.requests()
    usage = run_measured(etl_argv(sim, out, profile=prof), env=child_env(sim, contender),
                         log=log, cwd=contender.root)
    requests = sim.requests() - before
    shutil.rmtree(out, ignore_errors=True)
    print(f"  {'evals-etl under cProfile':<24}   : {usage.wall_s:8.2f} s wall, "
          f"{usage.cpu_s:7.2f} s CPU, {requests} requests, profile {prof}",
          file=sys.stderr, flush=True)
    summary, error = None, None
    if usage.exit_code == 0:
        try:
            summary = profile.summarize(profile.load(prof))
        except Exception as exc:  # noqa: BLE001 - the measured runs' results matter more
            error = f"{type(exc).__name__}: {exc}"
    return {"usage": asdict(usage), "requests": requests, "file": str(prof), "log": str(log),
            "summary": summary, "error": error}


def with_baseline(repeats: Mapping[str, int]) -> dict[str, int]:
    """``repeats`` with the baseline right after evals-etl, as many times."""
    out: dict[str, int] = {}
    for key, owed in repeats.items():
        out[key] = owed
        if key == "etl":
            out[BASELINE] = owed
    return out


@contextmanager
def _maybe_baseline(rev: str | None, work: Path) -> Iterator[Baseline | None]:
    if rev is None:
        yield None
        return
    with baseline_tree(rev, work) as baseline:
        yield baseline


def compare(workload: Workload, repeats: dict[str, int], work: Path | None = None, *,
            baseline: str | None = None, profile: bool = False) -> dict[str, Any]:
    """Run the contenders of ``repeats`` (key: runs), interleaved; measure and summarize.

    ``baseline``: a git revision; evals-etl at that commit runs as contender ``etl-base``,
    as many times as ``etl`` (which ``repeats`` must then hold), right after it in each
    round. ``profile``: one more evals-etl run under cProfile once the others are done.
    """
    work = work or Path(tempfile.mkdtemp(prefix="evals-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if baseline is not None and "etl" not in repeats:
        raise ValueError("a baseline is compared with the etl contender: run it too")
    machine = report.machine()
    runs: list[Run] = []
    incremental: Run | None = None
    profiled: dict[str, Any] | None = None
    with _maybe_baseline(baseline, work) as base, \
            sim_process(workload, work / "simulator.log") as sim:
        contenders: dict[str, Contender] = dict(CONTENDERS)
        if base is not None:
            contenders[BASELINE] = base.contender()
            repeats = with_baseline(repeats)
        planned = sim.info["planned_requests"]
        print(f"simulator at {sim.url}: {workload.describe()}, planned requests {planned} "
              f"({sim.info['compare_versions']} compare calls), "
              f"bodies encoded in {sim.info['prebuild_s']} s", file=sys.stderr, flush=True)
        last_etl: Path | None = None
        for repeat in range(max(repeats.values())):
            for key, owed in repeats.items():
                if repeat < owed:
                    keep = key == "etl" and repeat == repeats["etl"] - 1
                    run, out = run_one(sim, contenders[key], repeat, work, keep=keep)
                    runs.append(run)
                    if keep:
                        last_etl = out
        if last_etl is not None:
            incremental = run_incremental(sim, last_etl, work)
            shutil.rmtree(last_etl, ignore_errors=True)
        if profile:
            profiled = run_profiled(sim, work)
        sim_stats = sim.stats()
    summary = summarize(workload, runs, planned, contenders, profiled)
    if base is not None:
        summary["baseline"] = baseline_ratios(summary, base, machine.get("commit"))
    return {"kind": "compare", "machine": machine, "workload": asdict(workload),
            "sim": {k: v for k, v in sim.info.items() if k != "api_key"},
            "sim_stats": sim_stats, "repeats": repeats, "work": str(work),
            "baseline": base.as_dict() if base is not None else None,
            "runs": [asdict(r) for r in runs],
            "incremental": asdict(incremental) if incremental else None,
            "profile": profiled, "summary": summary}


def mismatched_runs(runs: Sequence[Run], planned: int | None,
                    profiled: Mapping[str, Any] | None = None) -> list[str]:
    """Every run (the profiled one too) whose request count is not the plan's, as
    ``key#repeat: N``; without a plan (a partitioned listing), every run once they differ."""
    made = [(f"{r.contender}#{r.repeat}", r.requests) for r in runs]
    if profiled is not None:
        made.append(("etl-profile", int(profiled["requests"])))
    if planned is None:
        return [] if len({n for _, n in made}) <= 1 else [f"{k}: {n}" for k, n in made]
    return [f"{k}: {n}" for k, n in made if n != planned]


def summarize(workload: Workload, runs: Sequence[Run], planned: int | None,
              contenders: Mapping[str, Contender] = CONTENDERS,
              profiled: Mapping[str, Any] | None = None) -> dict[str, Any]:
    counts = sorted({r.requests for r in runs})
    mismatched = mismatched_runs(runs, planned, profiled)
    failed = [f"{r.contender}#{r.repeat}" for r in runs if r.usage.exit_code != 0]
    if profiled is not None and profiled["usage"]["exit_code"] != 0:
        failed.append("etl-profile")
    requests = planned if planned is not None else (counts[0] if counts else 0)
    latency = workload.latency_ms / 1000
    bound = requests * latency / CONCURRENCY
    rows: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(r.contender for r in runs):
        mine = [r for r in runs if r.contender == key and r.usage.exit_code == 0]
        if not mine:
            continue
        wall = statistics.median(r.usage.wall_s for r in mine)
        contender = contenders[key]
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
            "mismatch": bool(mismatched), "mismatched_runs": mismatched, "failed": failed,
            "bound_s": bound,
            "sequential_bound_s": requests * latency, "contenders": rows}


def baseline_ratios(summary: Mapping[str, Any], base: Baseline,
                    commit: str | None) -> dict[str, Any] | None:
    """evals-etl's medians over the baseline's, from the same run; None if either failed."""
    etl, old = summary["contenders"].get("etl"), summary["contenders"].get(BASELINE)
    if not etl or not old:
        return None
    requests = summary["requests"]

    def per_request_ms(row: Mapping[str, Any]) -> float | None:
        return row["cpu_s"] / requests * 1000 if requests else None

    def ratio(new: float | None, before: float | None) -> float | None:
        return new / before if new is not None and before else None

    cpr = {"etl": per_request_ms(etl), "baseline": per_request_ms(old)}
    return {
        **base.as_dict(), "etl_commit": commit,
        "wall_s": {"etl": etl["wall_s"], "baseline": old["wall_s"]},
        "wall_ratio": ratio(etl["wall_s"], old["wall_s"]),
        "cpu_s": {"etl": etl["cpu_s"], "baseline": old["cpu_s"]},
        "cpu_ratio": ratio(etl["cpu_s"], old["cpu_s"]),
        "cpu_per_request_ms": cpr,
        "cpu_per_request_ratio": ratio(cpr["etl"], cpr["baseline"]),
        "peak_rss_mb": {"etl": etl["peak_rss_mb"], "baseline": old["peak_rss_mb"]},
        "peak_rss_ratio": ratio(etl["peak_rss_mb"], old["peak_rss_mb"]),
    }


def baseline_line(b: Mapping[str, Any]) -> str:
    def x(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}x"

    def pair(values: Mapping[str, float | None], fmt: str) -> str:
        old, new = ("–" if v is None else format(v, fmt)
                    for v in (values["baseline"], values["etl"]))
        return f"{old} → {new}"

    here = f" ({b['etl_commit']})" if b.get("etl_commit") else ""
    return (f"evals-etl{here} vs evals-etl at {b['short']}: "
            f"wall {pair(b['wall_s'], '.2f')} s ({x(b['wall_ratio'])}), "
            f"CPU {pair(b['cpu_s'], '.2f')} s ({x(b['cpu_ratio'])}), "
            f"CPU per request {pair(b['cpu_per_request_ms'], '.2f')} ms "
            f"({x(b['cpu_per_request_ratio'])}), "
            f"peak RSS {pair(b['peak_rss_mb'], '.0f')} MB ({x(b['peak_rss_ratio'])}). "
            f"Medians of the same run, both interleaved; ratios are evals-etl / baseline.")


def profile_section(profiled: Mapping[str, Any], etl: Mapping[str, Any] | None) -> list[str]:
    from bench import profile

    usage = profiled["usage"]
    measured = (f"; the measured runs' medians: {etl['wall_s']:.2f} s wall, "
                f"{etl['cpu_s']:.2f} s CPU" if etl else "")
    lines = ["", ("Where the time goes: one more evals-etl run under cProfile, after the "
                  f"others and not in the medians: {usage['wall_s']:.2f} s wall, "
                  f"{usage['cpu_s']:.2f} s CPU (process, bench.measure), "
                  f"{profiled['requests']:,} requests{measured}. Profile: `{profiled['file']}` "
                  "(`python -m bench.profile FILE` prints this table again)."), ""]
    if profiled.get("error"):
        return [*lines, f"**The profile could not be read**: {profiled['error']}"]
    if profiled["summary"] is None:
        return [*lines, (f"**The profiled run failed** (exit {usage['exit_code']}, see "
                         f"{profiled['log']}).")]
    return [*lines, profile.markdown(profiled["summary"])]


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    workload = Workload(**{**result["workload"], "images": tuple(result["workload"]["images"])})
    lines = [(f"Workload: {workload.describe()}; R = {s['requests']:,} requests; "
             f"bound R x L / C = {s['bound_s']:.2f} s (C = {CONCURRENCY}); "
             f"sequential R x L = {s['sequential_bound_s']:.1f} s."),
             f"Machine: {report.machine_line(result['machine'])}.", ""]
    compares = result.get("sim", {}).get("compare_versions")
    if compares is not None:
        lines += [(f"Every contender makes the same requests, the {compares} compare calls "
                  "(one per project version with a done eval) included."), ""]
    if s["mismatch"]:
        lines += [(f"**REQUEST COUNT MISMATCH**: the plan predicts {s['planned_requests']} "
                   f"requests; runs that made another number: "
                   f"{', '.join(s['mismatched_runs'])}. Do not compare these rows."), ""]
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
    if result.get("baseline") is not None:
        b = s.get("baseline")
        lines += ["", baseline_line(b) if b else (
            f"**No baseline ratios**: evals-etl or evals-etl at {result['baseline']['short']} "
            "has no successful run.")]
    if result.get("profile") is not None:
        lines += profile_section(result["profile"], etl)
    return "\n".join(lines)


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _times(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}x"
