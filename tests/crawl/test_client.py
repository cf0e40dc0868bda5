"""etl.crawl.client.Client against the simulator over HTTP: every endpoint decodes, and each
kind of refusal arrives as its typed error from etl.errors (never retried when it cannot help).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from etl.config import CrawlConfig
from etl.crawl.client import LIST_LIMIT
from etl.crawl.plan import units_for
from etl.errors import (
    EXIT_API_DOWN,
    EXIT_AUTH,
    AuthError,
    BadRequestError,
    ContractError,
    NotDoneError,
    NotFoundError,
    RetryBudgetExhausted,
    TransientError,
)
from etl.normalize.evaluations import ProjectInfo
from etl.panels import PanelRequest
from etl.simulator import SimEval, SimHandle
from tests.support.api import api_client

pytestmark = pytest.mark.anyio

MakeSim = Callable[..., SimHandle]


def a_done_eval(sim: SimHandle) -> SimEval:
    return next(e for e in sim.workspace.evals if e.status == "done" and not e.missing_panel)


def calls(sim: SimHandle, route: str) -> dict[int, int]:
    """Requests the simulator answered on ``route``, by status."""
    return {s: n for (r, s), n in sim.stats.snapshot().by_route.items() if r == route}


# -- every endpoint decodes ------------------------------------------------------------------


async def test_projects_are_the_workspaces_listed_projects(sim: SimHandle) -> None:
    async with api_client(sim) as client:
        projects = await client.projects()
    assert projects == [ProjectInfo(p.slug, p.versions, p.type) for p in sim.workspace.projects]


async def test_list_evals_decodes_every_row_and_applies_the_filters(sim: SimHandle) -> None:
    evals = sim.workspace.evals
    project = next(e.project for e in evals if e.project is not None)
    async with api_client(sim) as client:
        everything = await client.list_evals()
        done = await client.list_evals(status="done")
        mine = await client.list_evals(project=project, status="done")
    assert everything.rows == len(everything.evals) == len(evals) and not everything.problems
    assert {e.eval_id for e in everything.evals} == {e.eval_id for e in evals}
    assert {e.eval_id for e in done.evals} == {e.eval_id for e in evals if e.status == "done"}
    assert {e.eval_id for e in mine.evals} == {
        e.eval_id for e in evals if e.project == project and e.status == "done"}


async def test_list_evals_asks_for_the_cap_not_the_servers_default_page(
    make_sim: MakeSim,
) -> None:
    # The server's default page is 50 rows (api-contract §15); the client always sends the cap.
    sim = make_sim(seed=2, evals=250)
    async with api_client(sim) as client:
        page = await client.list_evals()
    assert page.rows == LIST_LIMIT == 200


async def test_every_panel_unit_of_a_done_eval_decodes(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, evals=6, missing_panel_rate=0, header_fields=True)
    ev = a_done_eval(sim)
    async with api_client(sim) as client:
        for unit in units_for(ev.eval_id, CrawlConfig()):
            if unit.panel == "image-predictions":
                continue  # paged: see below
            response = await client.panel(unit)
            assert response.status == 200 and response.attempts == 1, unit
            assert response.value is not None and response.body, unit
            assert isinstance(response.fetched_at, datetime) and response.fetched_at.tzinfo
            if unit.panel == "get":
                assert response.value.evalId == ev.eval_id and response.value.status == "done"
                assert response.value.summary is not None
            else:
                assert response.value.evalId == ev.eval_id, unit


async def test_image_pages_decode_with_their_offset_and_total(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, evals=3, images=(25, 30), missing_panel_rate=0)
    ev = a_done_eval(sim)
    request = PanelRequest(ev.eval_id, "image-predictions", "all")
    async with api_client(sim) as client:
        first = (await client.image_page(request, 0, 10)).value
        last = (await client.image_page(request, 20, 10)).value
    assert first.total_images == last.total_images == ev.n_images
    assert len(first.images) == 10
    assert len(last.images) == ev.n_images - 20
    assert not {im.imageId for im in first.images} & {im.imageId for im in last.images}


async def test_a_running_evals_get_has_no_summary(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, evals=10, running_rate=0.5)
    ev = next(e for e in sim.workspace.evals if e.status == "running")
    async with api_client(sim) as client:
        response = await client.panel(PanelRequest(ev.eval_id, "get"))
    assert response.value.status == "running" and response.value.summary is None


# -- refusals arrive typed ---------------------------------------------------------------------


async def test_a_refused_key_is_an_auth_error_at_once(sim: SimHandle) -> None:
    async with api_client(sim, key="wrong-key") as client:
        with pytest.raises(AuthError) as caught:
            await client.list_evals()
    assert caught.value.status == 401 and caught.value.exit_code == EXIT_AUTH
    assert "wrong-key" not in str(caught.value)
    assert calls(sim, "list") == {401: 1}  # not retried


async def test_a_key_without_the_model_eval_scope_is_an_auth_error(make_sim: MakeSim) -> None:
    sim = make_sim(evals=3, scopeless_key="no-scope-key")
    async with api_client(sim, key="no-scope-key") as client:
        assert await client.projects()  # the workspace route needs no model-eval scope
        with pytest.raises(AuthError) as caught:
            await client.list_evals()
    assert caught.value.status == 403


async def test_an_unknown_eval_is_not_found(sim: SimHandle) -> None:
    async with api_client(sim) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.panel(PanelRequest("no-such-eval", "get"))
    assert (caught.value.status, caught.value.code) == (404, "model_eval_not_found")
    assert calls(sim, "get") == {404: 1}


async def test_an_eval_id_cannot_step_out_of_its_path_segment(sim: SimHandle) -> None:
    async with api_client(sim) as client:
        for eval_id in ("..", "../x", "a/b"):
            with pytest.raises(NotFoundError) as caught:
                await client.panel(PanelRequest(eval_id, "map-results"))
            assert caught.value.code == "model_eval_not_found", eval_id


async def test_a_confidence_never_materialized_is_not_found(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, evals=6, missing_panel_rate=0)
    ev = a_done_eval(sim)
    missing = next(c for c in range(101) if c not in sim.workspace.materialized(ev))
    async with api_client(sim) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.panel(PanelRequest(ev.eval_id, "vector-analysis", None, missing))
    assert (caught.value.status, caught.value.code) == (404, "report_not_found")


async def test_a_bad_parameter_or_filter_combination_is_a_bad_request_never_retried(
    sim: SimHandle,
) -> None:
    ev = a_done_eval(sim)
    project = next(e.project for e in sim.workspace.evals if e.project is not None)
    async with api_client(sim) as client:
        with pytest.raises(BadRequestError) as split:
            await client.panel(PanelRequest(ev.eval_id, "performance-by-class", "bogus"))
        with pytest.raises(BadRequestError) as combined:
            await client.list_evals(project=project, version="1")
    assert (split.value.status, split.value.code) == (400, "invalid_split")
    assert (combined.value.status, combined.value.code) == (400, "invalid_filter_combination")
    assert calls(sim, "list") == {400: 1}


async def test_a_panel_of_a_running_eval_is_not_done_after_its_own_small_budget(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(seed=4, evals=10, running_rate=0.5)
    ev = next(e for e in sim.workspace.evals if e.status == "running")
    async with api_client(sim, not_done_attempts=2, retry_budget=0) as client:
        with pytest.raises(NotDoneError) as caught:
            await client.panel(PanelRequest(ev.eval_id, "map-results"))
    # Retried within the not-done budget, and without spending the run-wide one (it is 0).
    assert (caught.value.status, caught.value.code) == (409, "model_eval_not_done")
    assert caught.value.attempts == 2


async def test_transient_faults_are_retried_through(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, evals=4, fault_rate=1.0, fault_kinds=("500_html", "503"),
                   fault_max_per_url=2)
    async with api_client(sim) as client:
        projects = await client.projects()
    assert projects == [ProjectInfo(p.slug, p.versions, p.type) for p in sim.workspace.projects]
    answered = calls(sim, "workspace")
    assert answered.pop(200) == 1 and sum(answered.values()) == 2  # two faults, then the answer


async def test_an_api_that_stays_down_is_a_transient_error_then_an_exhausted_budget(
    make_sim: MakeSim,
) -> None:
    sim = make_sim(evals=4, down_after=0, down_seconds=60)
    async with api_client(sim, max_attempts=2) as client:
        with pytest.raises(TransientError) as capped:
            await client.list_evals()
    assert capped.value.status == 503 and capped.value.attempts == 2
    assert capped.value.exit_code == EXIT_API_DOWN
    async with api_client(sim, retry_budget=0) as client:
        with pytest.raises(RetryBudgetExhausted):
            await client.list_evals()


async def test_a_body_that_is_not_json_is_retried_then_transient(make_sim: MakeSim) -> None:
    def html(kind: str, eval_id: str, body: dict[str, Any]) -> object:
        return b"<html>upstream hiccup</html>" if kind == "map-results" else None

    sim = make_sim(seed=4, evals=6, missing_panel_rate=0, mutate=html)
    ev = a_done_eval(sim)
    async with api_client(sim, max_attempts=3) as client:
        with pytest.raises(TransientError) as caught:
            await client.panel(PanelRequest(ev.eval_id, "map-results"))
    assert caught.value.attempts == 3
    assert calls(sim, "map-results") == {200: 3}


async def test_a_listing_or_workspace_of_the_wrong_shape_is_a_contract_error(
    make_sim: MakeSim,
) -> None:
    def wrong_shape(kind: str, eval_id: str, body: dict[str, Any]) -> object:
        if kind == "list":
            return {"evals": "not a list"}
        if kind == "workspace":
            return {"workspace": {"projects": [{"versions": 2}]}}  # no id
        return None

    sim = make_sim(evals=3, mutate=wrong_shape)
    async with api_client(sim) as client:
        with pytest.raises(ContractError) as listing:
            await client.list_evals()
        with pytest.raises(ContractError) as workspace:
            await client.projects()
    assert listing.value.panel == "list" and "evals" in listing.value.field
    assert workspace.value.panel == "workspace"
