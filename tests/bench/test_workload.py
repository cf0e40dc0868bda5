"""The benchmark's planned request count is what evals-etl and the bare probe really make.

An in-process simulator of a small benchmark workspace (one eval of a deleted project among
them, so the compare rule's "project known" part counts), one real ``export`` and one probe
run against it, the simulator's own request counter read before and after each.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench import probe
from bench.workload import (
    FIXED_PANELS_PER_EVAL,
    Workload,
    compare_versions,
    image_pages,
    planned_requests,
)
from etl.simulator import serve_in_thread
from tests.support.runs import export


def test_planned_requests_are_the_requests_made(tmp_path: Path) -> None:
    workload = Workload(evals=12, images=(40, 2300), latency_ms=0.0)
    with serve_in_thread(workload.sim_options()) as sim:
        ws = sim.workspace
        versions = compare_versions(ws)
        assert any(ev.project is None for ev in ws.evals), "a deleted project's eval"
        assert {(ev.project_slug, ev.version_id) for ev in ws.evals} > set(versions)
        assert len(versions) > 1
        planned = planned_requests(ws)
        assert planned == 1 + len(versions) + sum(
            FIXED_PANELS_PER_EVAL + image_pages(ev.n_images) for ev in ws.evals)

        before = sim.stats.snapshot().requests
        summary = export(sim, tmp_path / "out", full_refresh=True)
        made_by_etl = sim.stats.snapshot().requests - before
        assert summary.status == "success", summary.problems
        before = sim.stats.snapshot().requests
        asyncio.run(probe.run(sim.url, sim.options.workspace, sim.options.api_key))
        made_by_probe = sim.stats.snapshot().requests - before
    assert (made_by_etl, made_by_probe) == (planned, planned)
