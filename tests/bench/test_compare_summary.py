"""bench.compare's summary on made-up runs: the request-count check and the baseline ratios."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import compare
from bench.baseline import KEY as BASELINE
from bench.baseline import Baseline
from bench.compare import Run
from bench.contenders import CONTENDERS
from bench.measure import Usage
from bench.workload import Workload

WORKLOAD = Workload(evals=3, images=(40, 300), latency_ms=50.0)
BASE = Baseline("HEAD~3", "0123456789abcdef0123456789abcdef01234567", "0123456",
                Path("/tmp/x/baseline-tree"))
MACHINE: dict[str, Any] = {"nproc": 2, "cpu": "cpu", "ram_gb": 1.0, "python": "3.11",
                           "load_average": [1.0], "commit": "fedcba9"}


def _run(key: str, requests: int, wall: float = 1.0, cpu: float = 0.5, rss: float = 100.0,
         repeat: int = 0) -> Run:
    return Run(key, repeat, Usage(wall, cpu, rss, rss, 0), requests, None, 0.0)


def _result(runs: list[Run], planned: int | None,
            profiled: dict[str, Any] | None = None) -> dict[str, Any]:
    contenders = {**CONTENDERS, BASELINE: BASE.contender()}
    summary = compare.summarize(WORKLOAD, runs, planned, contenders, profiled)
    summary["baseline"] = compare.baseline_ratios(summary, BASE, MACHINE["commit"])
    return {"summary": summary, "workload": asdict(WORKLOAD), "machine": MACHINE,
            "sim": {"compare_versions": 3}, "baseline": BASE.as_dict(), "incremental": None,
            "profile": None}


def test_every_run_is_held_to_the_plan_the_profiled_one_too() -> None:
    runs = [_run("etl", 100), _run(BASELINE, 97), _run("probe", 100)]
    profiled = {"requests": 101, "usage": {"exit_code": 0}}
    result = _result(runs, 100, profiled)
    summary = result["summary"]
    assert summary["mismatch"]
    assert summary["mismatched_runs"] == [f"{BASELINE}#0: 97", "etl-profile: 101"]
    text = compare.markdown(result)
    assert "**REQUEST COUNT MISMATCH**: the plan predicts 100 requests" in text
    assert f"{BASELINE}#0: 97, etl-profile: 101" in text

    fine = _result([_run("etl", 100), _run(BASELINE, 100), _run("probe", 100)], 100)
    assert not fine["summary"]["mismatch"]
    assert "MISMATCH" not in compare.markdown(fine)


def test_without_a_plan_the_runs_must_agree() -> None:
    assert compare.mismatched_runs([_run("etl", 400), _run("probe", 400)], None) == []
    assert compare.mismatched_runs([_run("etl", 400), _run("probe", 401)], None) == [
        "etl#0: 400", "probe#0: 401"]


def test_baseline_ratios_and_their_line() -> None:
    runs = [_run("etl", 100, wall=1.0, cpu=0.5, rss=100.0),
            _run(BASELINE, 100, wall=2.0, cpu=2.0, rss=200.0),
            _run("etl", 100, wall=3.0, cpu=1.5, rss=120.0, repeat=1),
            _run(BASELINE, 100, wall=4.0, cpu=2.0, rss=150.0, repeat=1)]
    result = _result(runs, 100)
    b = result["summary"]["baseline"]
    assert b["wall_s"] == {"etl": 2.0, "baseline": 3.0}  # medians
    assert b["wall_ratio"] == 2.0 / 3.0
    assert b["cpu_per_request_ms"] == {"etl": 10.0, "baseline": 20.0}
    assert b["cpu_per_request_ratio"] == 0.5
    assert b["peak_rss_mb"] == {"etl": 120.0, "baseline": 200.0}  # maxima
    assert b["commit"] == BASE.commit and b["etl_commit"] == "fedcba9"
    text = compare.markdown(result)
    assert ("evals-etl (fedcba9) vs evals-etl at 0123456: wall 3.00 → 2.00 s (0.67x), "
            "CPU 2.00 → 1.00 s (0.50x), CPU per request 20.00 → 10.00 ms (0.50x), "
            "peak RSS 200 → 120 MB (0.60x).") in text
    assert "| evals-etl at 0123456 | 2 |" in text
