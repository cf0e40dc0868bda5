"""What the listing enumerates despite the 200-row cap: enumerate_evals against the simulator.

The same workspaces as the e2e listing tests (tests/e2e/test_export.py, test_nightly.py), but
only the list calls: no panel is fetched, nothing is published. The e2e tests keep the proof
that what is enumerated here is what reaches the ``evaluations`` table and the run's status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from etl.crawl.listing import Listing, enumerate_evals
from etl.panels import EvalListing
from etl.simulator import SimHandle
from tests.support.api import api_client

pytestmark = pytest.mark.anyio

MakeSim = Callable[..., SimHandle]


async def listing_of(sim: SimHandle) -> Listing:
    async with api_client(sim, concurrency=16) as client:
        return await enumerate_evals(client)


def ids(listing: Listing) -> list[str]:
    return [e.eval_id for e in listing.evals]


def list_calls(sim: SimHandle) -> int:
    return sum(n for (route, _), n in sim.stats.snapshot().by_route.items() if route == "list")


async def test_a_workspace_under_the_cap_is_one_call_and_every_field_is_the_apis(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(seed=3, evals=30)
    listing = await listing_of(sim)
    assert listing.complete and not listing.warnings
    assert list_calls(sim) == 1
    assert ids(listing) == sorted(e.eval_id for e in sim.workspace.evals)  # sorted by id
    assert {e.eval_id: e for e in listing.evals} == {
        ev.eval_id: EvalListing(ev.eval_id, ev.status, ev.project, ev.version_id, ev.model_id,
                                ev.created_at, ev.model_url)
        for ev in sim.workspace.evals}


@pytest.mark.parametrize("order", ["newest", "oldest", "random"])
async def test_over_200_evals_in_one_project_and_status_are_all_listed(
    make_sim: MakeSim, order: str,
) -> None:
    sim = make_sim(seed=34, evals=330, projects=1, versions=3, images=(1, 2), list_order=order,
                   running_rate=0.0, failed_rate=0.0, deleted_project_rate=0.0)
    listing = await listing_of(sim)
    truth = {e.eval_id for e in sim.workspace.evals}
    assert len(ids(listing)) == len(set(ids(listing))) == 330  # deduplicated
    assert set(ids(listing)) == truth
    assert listing.complete and not listing.warnings
    assert list_calls(sim) > 1  # the full page was partitioned


async def test_listing_beyond_the_200_cap_is_complete(make_sim: MakeSim) -> None:
    # 450 evals: the unfiltered and "done" pages are full, so the listing partitions down
    # to project and version (every (version, status) bucket stays under the cap).
    sim = make_sim(seed=9, evals=450, projects=4, versions=3, images=(1, 2))
    listing = await listing_of(sim)
    truth = {e.eval_id for e in sim.workspace.evals}
    assert len(listing.evals) == 450
    assert set(ids(listing)) == truth
    assert listing.complete and not listing.warnings
    assert list_calls(sim) > 1
    # Evals of the deleted project (``project: null``) are reached through the version filter.
    orphans = {e.eval_id for e in sim.workspace.evals if e.project is None}
    assert orphans and orphans <= set(ids(listing))


async def test_a_partition_full_at_the_finest_level_is_a_recorded_warning(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(seed=1, evals=260, projects=1, versions=1, images=(1, 2),
                   model_id_null_rate=1.0, running_rate=0, failed_rate=0)
    listing = await listing_of(sim)
    assert 200 <= len(listing.evals) < 260
    assert set(ids(listing)) <= {e.eval_id for e in sim.workspace.evals}
    assert not listing.complete
    assert any("cap" in w for w in listing.warnings)


async def test_evals_without_a_model_id_past_the_cap_are_a_warning_not_a_silent_gap(
    make_sim: MakeSim,
) -> None:
    # 3 projects share 2 versions: each workspace-wide (version, status) bucket is full, and
    # evals without a modelId in it cannot be reached by any finer filter.
    sim = make_sim(seed=12, evals=700, projects=3, versions=2, images=(1, 2), running_rate=0,
                   failed_rate=0, deleted_project_rate=0, model_id_null_rate=0.3)
    listing = await listing_of(sim)
    assert len(listing.evals) < 700
    assert not listing.complete
    assert any("without a modelId" in w for w in listing.warnings)
    # The gap is exactly where the warning says: every eval that has a modelId is listed.
    with_model = {e.eval_id for e in sim.workspace.evals if e.model_id is not None}
    assert with_model <= set(ids(listing))


async def test_a_bad_row_costs_its_eval_and_makes_the_listing_incomplete(
    make_sim: MakeSim,
) -> None:
    def break_one_row(kind: str, eval_id: str, body: dict[str, Any]) -> object:
        if kind == "list" and body["evals"]:
            body["evals"][0]["status"] = 7  # wrong type
        return None

    sim = make_sim(seed=5, evals=10, mutate=break_one_row)
    listing = await listing_of(sim)
    assert len(listing.evals) == 9
    assert not listing.complete
    assert [w for w in listing.warnings if "row skipped" in w]

