"""Every route of the simulator over real HTTP: auth, validation, check order, readings."""

from __future__ import annotations

import json
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from etl.simulator import SimEval, SimHandle
from etl.simulator.common import PANEL_NAMES
from etl.simulator.workspace import AWKWARD_CLASS

from .client import KEY, fetch

PANEL_PARAMS: dict[str, dict[str, Any]] = {"performance-by-class": {"split": "valid"},
                "confusion-matrix": {"split": "train", "confidence": 50},
                "vector-analysis": {"confidence": 50},
                "image-predictions": {"split": "test", "confidence": 50, "limit": 5, "offset": 2}}


def evals(sim: SimHandle, suffix: str = "") -> str:
    return f"/acme/model-evals{suffix}"


def a_done_eval(sim: SimHandle) -> SimEval:
    return next(ev for ev in sim.workspace.evals
                if ev.status == "done" and ev.missing_panel is None)


def an_eval(sim: SimHandle, status: str) -> SimEval:
    return next(ev for ev in sim.workspace.evals if ev.status == status)


# -- auth -------------------------------------------------------------------------------------


def test_key_check_names_the_workspace(sim: SimHandle) -> None:
    reply = fetch(sim, "/", method="POST", key=None, query_key=KEY)  # how the SDK asks
    assert reply.status == 200 and reply.json()["workspace"] == "acme"
    assert fetch(sim, "/", method="POST", key="wrong").status == 401


@pytest.mark.parametrize(("header", "query", "status"), [
    (KEY, None, 200), (None, KEY, 200), (None, None, 401), ("wrong", None, 401),
    ("wrong", KEY, 401), (KEY, "wrong", 200)])  # the header wins over ?api_key=
def test_auth_header_or_query(sim: SimHandle, header: str | None, query: str | None,
                              status: int) -> None:
    reply = fetch(sim, evals(sim), key=header, query_key=query)
    assert reply.status == status
    if status == 401:
        assert reply.json() == {"error": "unauthenticated",
                                "message": "API key is missing or invalid"}
        assert b"wrong" not in reply.body


def test_another_workspace_is_forbidden(sim: SimHandle) -> None:
    for path in ["/other", "/other/model-evals", f"/other/model-evals/{a_done_eval(sim).eval_id}"]:
        reply = fetch(sim, path)
        assert (reply.status, reply.code) == (403, "forbidden")


def test_a_key_without_the_evals_scope(make_sim: Any) -> None:
    sim = make_sim(scopeless_key="narrow-key")
    assert fetch(sim, "/", method="POST", key="narrow-key").status == 200
    assert fetch(sim, "/acme", key="narrow-key").status == 200
    reply = fetch(sim, evals(sim), key="narrow-key")
    assert (reply.status, reply.code) == (403, "forbidden")


def test_unknown_routes(sim: SimHandle) -> None:
    reply = fetch(sim, "/acme/model-evals/x/everything")
    assert reply.status == 404 and reply.json() == {
        "error": "not_found",
        "message": "Unsupported request. GET /acme/model-evals/x/everything does not exist"}
    assert fetch(sim, "/acme/model-evals/x/everything", key=None).status == 401


# -- workspace and list -------------------------------------------------------------------------


def test_workspace_lists_live_projects(sim: SimHandle) -> None:
    reply = fetch(sim, "/acme")
    assert reply.status == 200 and reply.json() == sim.workspace.workspace_body()


def test_list_rows_are_the_builders_rows(sim: SimHandle) -> None:
    rows = fetch(sim, evals(sim)).json()["evals"]
    assert rows == [sim.workspace.list_row(ev) for ev in sim.workspace.evals]
    assert reply_type(sim) == "application/json"


def reply_type(sim: SimHandle) -> str:
    return fetch(sim, evals(sim)).headers.get_content_type()


@pytest.mark.parametrize(("params", "count"), [
    ({}, 50), ({"limit": 7}, 7), ({"limit": 200}, 200), ({"limit": 500}, 200)])
def test_list_limit_default_and_cap(make_sim: Any, params: dict[str, Any], count: int) -> None:
    sim = make_sim(evals=230)
    rows = fetch(sim, evals(sim), params).json()["evals"]
    assert [r["evalId"] for r in rows] == [ev.eval_id for ev in sim.workspace.evals[:count]]


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "1.5", ""])
def test_list_bad_limit(sim: SimHandle, limit: str) -> None:
    reply = fetch(sim, evals(sim), {"limit": limit})
    assert (reply.status, reply.code) == (400, "invalid_limit")


def test_list_limit_over_max_can_be_rejected(make_sim: Any) -> None:
    sim = make_sim(limit_over_max="reject")
    assert fetch(sim, evals(sim), {"limit": 200}).status == 200
    assert fetch(sim, evals(sim), {"limit": 201}).code == "invalid_limit"


def test_list_filters(make_sim: Any) -> None:
    sim = make_sim(evals=120)
    ws = sim.workspace
    ev = next(e for e in ws.evals if e.model_id and e.project)
    cases: list[tuple[dict[str, Any], list[SimEval]]] = [
        ({"project": ev.project}, ws.select(project=ev.project)),
        ({"version": ev.version_id}, ws.select(version=ev.version_id)),
        ({"versionId": ev.version_id}, ws.select(version=ev.version_id)),
        ({"model": ev.model_id}, ws.select(model=ev.model_id)),
        ({"modelId": ev.model_id}, ws.select(model=ev.model_id)),
        ({"status": "failed"}, ws.select(status="failed")),
        ({"project": ev.project, "status": "done"}, ws.select(project=ev.project, status="done")),
        ({"project": "nope"}, [])]
    for params, expected in cases:
        rows = fetch(sim, evals(sim), {**params, "limit": 200}).json()["evals"]
        assert [r["evalId"] for r in rows] == [e.eval_id for e in expected], params


def test_list_bad_status(sim: SimHandle) -> None:
    reply = fetch(sim, evals(sim), {"status": "finished"})
    assert (reply.status, reply.code) == (400, "invalid_status")


def test_filter_combinations(make_sim: Any) -> None:
    strict, lenient = make_sim(evals=60), make_sim(evals=60, filter_combination="most_specific")
    ev = next(e for e in strict.workspace.evals if e.model_id and e.project)
    both = {"project": ev.project, "version": ev.version_id, "model": ev.model_id}
    assert fetch(strict, evals(strict), both).code == "invalid_filter_combination"
    assert fetch(strict, evals(strict), {"version": 1, "model": "m"}).status == 400
    rows = fetch(lenient, evals(lenient), {**both, "project": "ignored"}).json()["evals"]
    assert [r["evalId"] for r in rows] == [
        e.eval_id for e in lenient.workspace.select(model=ev.model_id)]  # model wins
    rows = fetch(lenient, evals(lenient), {"project": "ignored", "version": "2"}).json()["evals"]
    assert {r["versionId"] for r in rows} == {"2"}  # version beats project


def test_list_orders(make_sim: Any) -> None:
    newest = [ev.eval_id for ev in make_sim(evals=30).workspace.evals]
    oldest = make_sim(evals=30, list_order="oldest")
    assert [r["evalId"] for r in fetch(oldest, evals(oldest)).json()["evals"]] == newest[::-1]
    shuffled = make_sim(evals=30, list_order="random")
    orders = [[r["evalId"] for r in fetch(shuffled, evals(shuffled)).json()["evals"]]
              for _ in range(2)]
    assert sorted(orders[0]) == sorted(newest) and newest not in orders and orders[0] != orders[1]


def test_partitioned_listing_recovers_a_big_workspace(make_sim: Any) -> None:
    """The §12 algorithm against 700 evals: each finer filter returns exactly its share."""
    sim = make_sim(evals=700, seed=4)
    ws = sim.workspace

    def ids(**params: Any) -> list[str]:
        return [r["evalId"] for r in fetch(sim, evals(sim), {**params, "limit": 200}).json()[
            "evals"]]

    assert len(ids()) == 200
    found: set[str] = set()
    for status in ("running", "done", "failed"):
        bucket = ids(status=status)
        assert bucket == [e.eval_id for e in ws.select(status=status)][:200]
        found.update(bucket)
        if len(bucket) < 200:
            continue
        for project in ws.projects:
            sub = ids(project=project.slug, status=status)
            assert sub == [e.eval_id for e in ws.select(project=project.slug, status=status)][
                :200]
            found.update(sub)
            if len(sub) == 200:
                for version in range(1, project.versions + 1):
                    found.update(ids(version=version, status=status))
        for version in range(1, 5):  # deleted projects are reachable by version only
            rows = fetch(sim, evals(sim), {"version": version, "status": status,
                                           "limit": 200}).json()["evals"]
            found.update(r["evalId"] for r in rows if r["project"] is None)
    assert found == set(ws.by_id)


# -- get and panels -----------------------------------------------------------------------------


def test_get(sim: SimHandle) -> None:
    for ev in sim.workspace.evals:
        reply = fetch(sim, evals(sim, f"/{ev.eval_id}"))
        assert reply.status == 200 and reply.json() == sim.workspace.get_body(ev)
    reply = fetch(sim, evals(sim, "/doesNotExist"))
    assert reply.json() == {"error": "model_eval_not_found",
                            "message": "Eval 'doesNotExist' not found"}


@pytest.mark.parametrize("panel", PANEL_NAMES)
def test_panels_serve_the_builders_bodies(sim: SimHandle, panel: str) -> None:
    ev, ws = a_done_eval(sim), sim.workspace
    reply = fetch(sim, evals(sim, f"/{ev.eval_id}/{panel}"))
    assert reply.status == 200 and reply.json() == ws.panel_body(ev, panel)
    params = PANEL_PARAMS.get(panel, {})
    reply = fetch(sim, evals(sim, f"/{ev.eval_id}/{panel}"), params)
    if panel == "image-predictions":
        assert reply.json() == ws.image_page(ev, "test", 50, 2, 5)
    else:
        assert reply.json() == ws.panel_body(ev, panel, params.get("split"),
                                             params.get("confidence"))


@pytest.mark.parametrize("panel", PANEL_NAMES)
def test_panels_of_unfinished_evals_answer_409(sim: SimHandle, panel: str) -> None:
    for status in ("running", "failed"):
        reply = fetch(sim, evals(sim, f"/{an_eval(sim, status).eval_id}/{panel}"))
        assert (reply.status, reply.code) == (409, "model_eval_not_done")


def test_a_done_eval_with_a_missing_panel(make_sim: Any) -> None:
    sim = make_sim(evals=40, missing_panel_rate=0.2)
    ev = next(e for e in sim.workspace.evals if e.missing_panel)
    for panel in PANEL_NAMES:
        status = fetch(sim, evals(sim, f"/{ev.eval_id}/{panel}")).status
        assert status == (409 if panel == ev.missing_panel else 200)


def test_recommendations_not_generated(sim: SimHandle) -> None:
    ev = next(e for e in sim.workspace.evals if e.status == "done" and not e.recs_generated)
    reply = fetch(sim, evals(sim, f"/{ev.eval_id}/recommendations"))
    assert reply.status == 200 and reply.json() == {"generated": False}


@pytest.mark.parametrize(("panel", "params", "code"), [
    ("performance-by-class", {"split": "all"}, "invalid_split"),
    ("performance-by-class", {"split": "TEST"}, "invalid_split"),
    ("confusion-matrix", {"split": "holdout"}, "invalid_split"),
    ("image-predictions", {"split": ""}, "invalid_split"),
    ("confusion-matrix", {"confidence": "101"}, "invalid_confidence"),
    ("confusion-matrix", {"confidence": "-1"}, "invalid_confidence"),
    ("vector-analysis", {"confidence": "0.5"}, "invalid_confidence"),
    ("vector-analysis", {"confidence": "abc"}, "invalid_confidence"),
    ("image-predictions", {"confidence": "+5"}, "invalid_confidence"),
    ("image-predictions", {"limit": "0"}, "invalid_limit"),
    ("image-predictions", {"limit": "many"}, "invalid_limit"),
    ("image-predictions", {"offset": "-1"}, "invalid_offset")])
def test_parameter_validation(sim: SimHandle, panel: str, params: dict[str, str],
                              code: str) -> None:
    reply = fetch(sim, evals(sim, f"/{a_done_eval(sim).eval_id}/{panel}"), params)
    assert (reply.status, reply.code) == (400, code)
    assert set(reply.json()) == {"error", "message"}


def test_parameters_a_panel_does_not_take_are_ignored(sim: SimHandle) -> None:
    ev = a_done_eval(sim)
    reply = fetch(sim, evals(sim, f"/{ev.eval_id}/map-results"), {"split": "bogus"})
    assert reply.status == 200


def test_check_order(sim: SimHandle) -> None:
    running, done_eval = an_eval(sim, "running"), a_done_eval(sim)
    bad_split = {"split": "all"}
    path = "/performance-by-class"
    assert fetch(sim, evals(sim, f"/nope{path}"), bad_split, key="x").status == 401  # auth first
    assert fetch(sim, evals(sim, f"/nope{path}"), bad_split).code == "model_eval_not_found"
    assert fetch(sim, evals(sim, f"/{running.eval_id}{path}"), bad_split).code == "invalid_split"
    unmade = {"confidence": 33}
    cm = "/confusion-matrix"
    assert fetch(sim, evals(sim, f"/{running.eval_id}{cm}"), unmade).code == "model_eval_not_done"
    reply = fetch(sim, evals(sim, f"/{done_eval.eval_id}{cm}"), unmade)
    assert (reply.status, reply.code) == (404, "report_not_found")


def test_materialised_confidences(make_sim: Any) -> None:
    sim = make_sim(confidences=(30,))
    ev = a_done_eval(sim)
    for confidence, status in [(30, 200), (20, 200), (50, 404)]:
        for panel in ("confusion-matrix", "vector-analysis", "image-predictions"):
            reply = fetch(sim, evals(sim, f"/{ev.eval_id}/{panel}"), {"confidence": confidence})
            assert reply.status == status


def test_optimal_default_confidence(make_sim: Any) -> None:
    sim = make_sim(default_confidence="optimal")
    ev = a_done_eval(sim)
    body = fetch(sim, evals(sim, f"/{ev.eval_id}/confusion-matrix")).json()
    assert body["confidenceThreshold"] == sim.workspace.optimal_pct(ev) / 100


# -- image pages ----------------------------------------------------------------------------------


def test_image_pages_end_exactly_at_total(sim: SimHandle) -> None:
    ev = a_done_eval(sim)
    path = evals(sim, f"/{ev.eval_id}/image-predictions")
    seen, offset = [], 0
    while True:
        page = fetch(sim, path, {"split": "test", "limit": 6, "offset": offset}).json()
        assert (page["offset"], page["limit"], page["split"]) == (offset, 6, "test")
        if offset >= page["totalImages"]:
            assert page["images"] == []
            break
        seen += [im["imageId"] for im in page["images"]]
        offset += len(page["images"])
    assert offset == page["totalImages"] == ev.split_sizes[2] == len(set(seen))


def test_image_page_defaults(make_sim: Any) -> None:
    for reading, split in [("all", "all"), ("test", "test")]:
        sim = make_sim(image_default_split=reading)
        ev = a_done_eval(sim)
        page = fetch(sim, evals(sim, f"/{ev.eval_id}/image-predictions")).json()
        lo, hi = ev.split_range(split)
        assert (page["split"], page["totalImages"], page["offset"]) == (split, hi - lo, 0)
        assert page["limit"] == 200 and page["confidenceThreshold"] == 0.2


def test_image_limit_over_max(make_sim: Any) -> None:
    clamp, reject = make_sim(images=(1500, 1500)), make_sim(limit_over_max="reject")
    ev = a_done_eval(clamp)
    page = fetch(clamp, evals(clamp, f"/{ev.eval_id}/image-predictions"), {"limit": 5000}).json()
    assert page["limit"] == 1000 and len(page["images"]) == 1000
    ev = a_done_eval(reject)
    reply = fetch(reject, evals(reject, f"/{ev.eval_id}/image-predictions"), {"limit": 1001})
    assert reply.code == "invalid_limit"


# -- compare, bytes, hooks, stats ----------------------------------------------------------------


def test_compare(sim: SimHandle) -> None:
    ev = next(e for e in sim.workspace.evals if e.status == "done" and e.project)
    params = {"project": ev.project or "", "version": ev.version_id}
    reply = fetch(sim, evals(sim, "/compare"), params)
    assert reply.status == 200
    assert reply.json() == sim.workspace.compare_body(params["project"], ev.version_id, None)
    assert ev.eval_id in {m["evaluationId"] for m in reply.json()["models"]}
    assert any(m["onFrontier"] for m in reply.json()["models"])
    assert fetch(sim, evals(sim, "/compare"), {"project": ev.project}).status == 400
    assert fetch(sim, evals(sim, "/compare"), {**params, "frontierMetric": "speed"}).status == 400
    assert fetch(sim, evals(sim, "/compare"), {"project": "gone", "version": "1"}).status == 404


def test_class_names_travel_byte_exact(sim: SimHandle) -> None:
    ev = next(e for e in sim.workspace.evals
              if e.status == "done" and AWKWARD_CLASS in e.classes and e.missing_panel is None)
    reply = fetch(sim, evals(sim, f"/{ev.eval_id}/confusion-matrix"))
    assert reply.headers.get_content_charset() == "utf-8"
    assert json.dumps(AWKWARD_CLASS, ensure_ascii=False).encode() in reply.body
    assert AWKWARD_CLASS in reply.json()["classes"]


BROKEN = b'{"taskType": 7, "splits": '  # broken JSON: bytes are sent as they are


def test_mutate_hook(make_sim: Any) -> None:
    calls: list[tuple[str, str]] = []

    def mutate(kind: str, eval_id: str, body: dict[str, Any]) -> object:
        calls.append((kind, eval_id))
        if kind == "map-results":
            return BROKEN
        if kind == "list":
            body["evals"].append({"evalId": None})
            return None
        return {"replaced": kind}

    sim = make_sim(mutate=mutate)
    ev = a_done_eval(sim)
    assert fetch(sim, evals(sim, f"/{ev.eval_id}/map-results")).body == BROKEN
    assert fetch(sim, evals(sim)).json()["evals"][-1] == {"evalId": None}
    assert fetch(sim, evals(sim, f"/{ev.eval_id}")).json() == {"replaced": "get"}
    assert fetch(sim, "/acme").json() == {"replaced": "workspace"}
    assert calls == [("map-results", ev.eval_id), ("list", ""), ("get", ev.eval_id),
                     ("workspace", "")]


def test_stats_and_latency(make_sim: Any) -> None:
    sim = make_sim(latency_ms=150)
    started = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: fetch(sim, evals(sim)), range(6)))
    assert time.perf_counter() - started >= 0.15
    assert all(r.status == 200 for r in replies)
    fetch(sim, evals(sim, "/nope"), key=None, query_key=KEY)
    fetch(sim, evals(sim), key=None)
    snap = sim.stats.snapshot()
    assert snap.requests == 8 and snap.query_key_requests == 1
    assert snap.by_route == {("list", 200): 6, ("get", 404): 1, ("list", 401): 1}
    assert snap.max_in_flight >= 2
    served = fetch(sim, "/__sim__/stats", key=None).json()
    assert served["requests"] == 8 and sim.stats.snapshot().requests == 8  # not counted itself


def test_a_huge_eval_pages_quickly_over_http(make_sim: Any) -> None:
    sim = make_sim(evals=1, images=(200_000, 200_000), running_rate=0.0, failed_rate=0.0,
                   missing_panel_rate=0.0)
    path = evals(sim, f"/{sim.workspace.evals[0].eval_id}/image-predictions")
    tracemalloc.start()
    try:
        started = time.perf_counter()
        page = fetch(sim, path, {"split": "all", "offset": 199_000, "limit": 1000}).json()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert page["totalImages"] == 200_000 and len(page["images"]) == 1000
    assert elapsed < 2.0 and peak < 30_000_000


@pytest.mark.parametrize("images", [(1, 1), (2, 2), (4, 6)])
def test_tiny_evals_still_answer(make_sim: Any, images: tuple[int, int]) -> None:
    sim = make_sim(evals=4, images=images, classes=(1, 2), running_rate=0.0, failed_rate=0.0,
                   missing_panel_rate=0.0)
    for ev in sim.workspace.evals:
        for panel in PANEL_NAMES:
            for params in ({}, {"split": "test"}) if panel in PANEL_PARAMS else ({},):
                reply = fetch(sim, evals(sim, f"/{ev.eval_id}/{panel}"), params)
                assert reply.status == 200, (panel, params, reply.body)


def test_an_empty_workspace(make_sim: Any) -> None:
    sim = make_sim(evals=0)
    assert fetch(sim, evals(sim)).json() == {"evals": []}
    assert fetch(sim, evals(sim), {"status": "done"}).json() == {"evals": []}
