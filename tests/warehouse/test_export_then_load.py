"""The real pipeline: export from the simulator, load, export again, load again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.runs import export, simulator

pytestmark = pytest.mark.postgres


def test_an_exported_dataset_loads_equal_to_its_views_and_then_incrementally(env: Any) -> None:
    # A missing panel is retried on each run (so the second export changes a few evals), but
    # its not-done budget is spent in seconds: keep the evals done.
    with simulator(seed=5, evals=6, running_rate=0.2, failed_rate=0, missing_panel_rate=0) as sim:
        export(sim, env.out)
        first = env.load()
        env.assert_matches_views()
        units = first.replaced

        export(sim, env.out)  # incremental: a new runs row, refetched units get the new run id
        second = env.load()

    assert first.run_id != second.run_id
    assert second.tables["runs"] == (1, 0)
    assert 0 < second.replaced < units and second.removed == 0
    env.assert_matches_views()
    assert env.load().noop
