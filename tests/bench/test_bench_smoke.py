"""The benchmark harness end to end on a tiny workspace (soak: run with --soak).

Not a benchmark: it checks that every contender runs against the simulator process, makes
exactly the requests the plan predicts, and writes output, so a broken harness shows up
before someone waits twenty minutes for a real comparison.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dlt")
pytest.importorskip("psutil")
pytest.importorskip("roboflow")

from bench import compare, micro
from bench.workload import Workload

pytestmark = pytest.mark.soak


@pytest.mark.timeout(300)
def test_every_contender_makes_the_planned_requests(tmp_path: Path) -> None:
    workload = Workload(evals=4, images=(1200, 2100), latency_ms=1.0)
    repeats = {"etl": 1, "probe": 1, "dlt-tuned": 1, "dlt-default": 1, "sdk": 1}
    result = compare.compare(workload, repeats, tmp_path)
    summary = result["summary"]
    # 1 list call, 11 fixed panels per eval, 2 or 3 image pages per eval
    assert 4 * 13 + 1 <= summary["planned_requests"] <= 4 * 14 + 1
    assert not summary["failed"]
    assert not summary["mismatch"], summary["request_counts"]
    assert set(summary["contenders"]) == set(repeats)
    for key in ("etl", "dlt-tuned", "dlt-default"):
        assert summary["contenders"][key]["rows"] > 0
    assert summary["contenders"]["sdk"]["output_mb"] > 0
    assert result["incremental"]["requests"] < summary["requests"]
    assert "| evals-etl export |" in compare.markdown(result)


def test_normalize_micro_benchmark_counts_rows() -> None:
    result = micro.micro(pages=3, sweeps=4, passes=1)
    cases = result["cases"]
    assert cases["image-predictions: decode + normalize"]["rows"]["image_predictions"] == 3000
    assert cases["confidence-sweep: decode + normalize"]["rows"]["confidence_sweep"] > 0
    assert all(c["cpu_s"] > 0 for c in cases.values())
