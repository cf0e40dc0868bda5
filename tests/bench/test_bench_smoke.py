"""The benchmark harness end to end on a tiny workspace (soak: run with --soak).

Not a benchmark: it checks that every contender runs against the simulator process, makes
exactly the requests the plan predicts, and writes output, so a broken harness shows up
before someone waits twenty minutes for a real comparison.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("dlt")
pytest.importorskip("psutil")
pytest.importorskip("roboflow")

from bench import compare, micro
from bench.baseline import KEY as BASELINE
from bench.baseline import baseline_tree
from bench.contenders import ROOT, child_env
from bench.sim_process import SimProcess
from bench.workload import Workload

pytestmark = pytest.mark.soak


@pytest.mark.timeout(300)
def test_every_contender_makes_the_planned_requests(tmp_path: Path) -> None:
    workload = Workload(evals=4, images=(1200, 2100), latency_ms=1.0)
    repeats = {"etl": 1, "probe": 1, "dlt-tuned": 1, "dlt-default": 1, "sdk": 1}
    result = compare.compare(workload, repeats, tmp_path)
    summary = result["summary"]
    # 1 list call, 11 fixed panels per eval, 2 or 3 image pages per eval, and one compare
    # call per project version with a done eval (3 projects x 4 versions)
    versions = result["sim"]["compare_versions"]
    assert 1 <= versions <= 4
    assert 4 * 13 + 1 + versions <= summary["planned_requests"] <= 4 * 14 + 1 + versions
    assert not summary["failed"]
    assert not summary["mismatch"], summary["mismatched_runs"]
    assert summary["request_counts"] == [summary["planned_requests"]]
    assert set(summary["contenders"]) == set(repeats)
    for key in ("etl", "dlt-tuned", "dlt-default"):
        assert summary["contenders"][key]["rows"] > 0
    assert summary["contenders"]["sdk"]["output_mb"] > 0
    assert result["incremental"]["requests"] < summary["requests"]
    assert "| evals-etl export |" in compare.markdown(result)


@pytest.mark.timeout(300)
def test_a_baseline_commit_and_a_profiled_run(tmp_path: Path) -> None:
    """evals-etl at HEAD from a worktree, interleaved with the working tree's, and one
    profiled run: the same requests, ratios near 1, a stage table, the worktree gone."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an exported tree): no worktree to make")
    workload = Workload(evals=3, images=(40, 1100), latency_ms=1.0)
    result = compare.compare(workload, {"etl": 2, "probe": 1}, tmp_path, baseline="HEAD",
                             profile=True)
    summary = result["summary"]
    assert not summary["failed"] and not summary["mismatch"], summary["mismatched_runs"]
    assert [(r["contender"], r["repeat"]) for r in result["runs"]] == [
        ("etl", 0), (BASELINE, 0), ("probe", 0), ("etl", 1), (BASELINE, 1)]
    tree = Path(result["baseline"]["tree"])
    assert not tree.exists()
    assert str(tree) not in subprocess.run(["git", "worktree", "list"], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout
    ratios = summary["baseline"]
    assert ratios["commit"] == subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                                              check=True, capture_output=True,
                                              text=True).stdout.strip()
    assert 0.2 < ratios["wall_ratio"] < 5 and ratios["cpu_per_request_ms"]["baseline"] > 0
    stages = result["profile"]["summary"]["stages"]
    assert result["profile"]["requests"] == summary["planned_requests"]
    assert all(stages[s]["s"] > 0 for s in ("decode", "normalize", "staging writes",
                                             "publish merge", "views", "HTTP and event loop"))
    text = compare.markdown(result)
    assert f"vs evals-etl at {ratios['short']}: wall " in text
    assert "| publish merge |" in text


def test_the_baseline_contender_imports_the_worktrees_etl(tmp_path: Path) -> None:
    """cwd and PYTHONPATH at the worktree: ``import etl`` finds its copy, not this one."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an exported tree): no worktree to make")
    with baseline_tree("HEAD", tmp_path) as base:
        contender = base.contender()
        sim = SimProcess("http://127.0.0.1:1", {"workspace": "acme", "api_key": "k"})
        done = subprocess.run([sys.executable, "-c", "import etl; print(etl.__file__)"],
                              cwd=contender.root, env=child_env(sim, contender),
                              capture_output=True, text=True, check=True)
        assert Path(done.stdout.strip()).is_relative_to(base.tree)
        assert contender.argv(sim, tmp_path / "out")[1:3] == ["-m", "etl"]
    assert not base.tree.exists()


def test_normalize_micro_benchmark_counts_rows() -> None:
    result = micro.micro(pages=3, sweeps=4, passes=1)
    cases = result["cases"]
    assert cases["image-predictions: decode + normalize"]["rows"]["image_predictions"] == 3000
    assert cases["confidence-sweep: decode + normalize"]["rows"]["confidence_sweep"] > 0
    assert all(c["cpu_s"] > 0 for c in cases.values())
