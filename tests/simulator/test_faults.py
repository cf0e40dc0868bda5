"""Fault injection: every kind over real HTTP, per-URL caps, outages, and determinism."""

from __future__ import annotations

import http.client
import random
import time
from collections import Counter, defaultdict
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import anyio
import pytest

from etl.simulator import SimHandle, SimOptions
from etl.simulator.faults import FaultPlan, Latency

from .client import KEY, fetch

FAULTY = {"fault_rate": 1.0, "fault_max_per_url": 1}


def a_done_eval_id(sim: SimHandle) -> str:
    return next(ev.eval_id for ev in sim.workspace.evals
                if ev.status == "done" and ev.missing_panel is None)


def test_plan_caps_a_url_streak() -> None:
    plan = FaultPlan(SimOptions(fault_rate=1.0, fault_max_per_url=3))
    kinds = ("503",)
    assert [plan.choose("GET /a", kinds, 0.0) for _ in range(8)] == [
        "503", "503", "503", None, "503", "503", "503", None]
    assert plan.choose("GET /b", kinds, 0.0) == "503"  # URLs are independent


def test_plan_ignores_interleaving() -> None:
    options = SimOptions(fault_rate=0.5, seed=9)
    urls = [f"GET /acme/model-evals/e{i}" for i in range(40)]
    kinds = options.fault_kinds
    one, two = FaultPlan(options), FaultPlan(options)
    sequential = {u: [one.choose(u, kinds, 0.0) for _ in range(5)] for u in urls}
    shuffled = [u for u in urls for _ in range(5)]
    random.Random(1).shuffle(shuffled)
    interleaved: dict[str, list[str | None]] = defaultdict(list)
    for u in shuffled:
        interleaved[u].append(two.choose(u, kinds, 0.0))
    assert sequential == interleaved
    assert any(any(v) for v in sequential.values()) and any(None in v for v in sequential.values())


def test_plan_transient_409_comes_once_per_url() -> None:
    plan = FaultPlan(SimOptions(fault_rate=1.0, fault_max_per_url=1))
    choices = [plan.choose("GET /p", ("409_transient",), 0.0) for _ in range(6)]
    assert choices == ["409_transient", None, None, None, None, None]


def test_plan_outage_window() -> None:
    plan = FaultPlan(SimOptions(down_after=2, down_seconds=5.0))
    times = [0.0, 1.0, 2.0, 4.0, 6.9, 7.1]
    assert [plan.choose("GET /x", (), t) for t in times] == [
        None, None, "outage", "outage", "outage", None]


def test_429_without_retry_after(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("429",), **FAULTY)
    reply = fetch(sim, "/acme/model-evals")
    assert reply.status == 429 and reply.code == "rate_limited"
    assert "Retry-After" not in reply.headers
    assert fetch(sim, "/acme/model-evals").status == 200  # the streak cap of 1 lets it through


def test_429_with_retry_after_seconds(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("429_retry_after",), retry_after_seconds=3, **FAULTY)
    reply = fetch(sim, "/acme/model-evals")
    assert reply.status == 429 and reply.headers["Retry-After"] == "3"


def test_429_with_retry_after_date(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("429_retry_after_date",), retry_after_seconds=2, **FAULTY)
    before = time.time()
    reply = fetch(sim, "/acme/model-evals")
    when = parsedate_to_datetime(reply.headers["Retry-After"]).timestamp()
    assert reply.status == 429 and before + 2 <= when <= before + 4


@pytest.mark.parametrize(("kind", "status", "content_type"), [
    ("500_html", 500, "text/html"), ("502_html", 502, "text/html"),
    ("503", 503, "application/json")])
def test_server_errors(make_sim: Any, kind: str, status: int, content_type: str) -> None:
    sim = make_sim(fault_kinds=(kind,), **FAULTY)
    reply = fetch(sim, "/acme/model-evals")
    assert reply.status == status and reply.headers.get_content_type() == content_type
    assert KEY.encode() not in reply.body


def test_drop_closes_without_an_answer(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("drop",), **FAULTY)
    with pytest.raises(http.client.RemoteDisconnected):
        fetch(sim, "/acme/model-evals")
    assert fetch(sim, "/acme/model-evals").status == 200
    snap = sim.stats.snapshot()
    assert snap.by_route == {("list", 0): 1, ("list", 200): 1}
    assert snap.faults == {"drop": 1}


def test_truncated_body(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("truncated",), **FAULTY)
    with pytest.raises(http.client.IncompleteRead) as caught:
        fetch(sim, "/acme/model-evals")
    partial, expected = caught.value.partial, caught.value.expected or 0
    assert partial and expected > 0
    whole = fetch(sim, "/acme/model-evals").body
    assert whole.startswith(partial) and len(whole) == len(partial) + expected


def test_slow_answers_late_but_right(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("slow",), slow_seconds=0.3, **FAULTY)
    started = time.perf_counter()
    reply = fetch(sim, "/acme/model-evals")
    assert time.perf_counter() - started >= 0.3
    assert reply.status == 200 and len(reply.json()["evals"]) == 24


def test_transient_409_only_on_a_done_evals_panel(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("409_transient",), **FAULTY)
    path = f"/acme/model-evals/{a_done_eval_id(sim)}/map-results"
    reply = fetch(sim, path)
    assert (reply.status, reply.code) == (409, "model_eval_not_done")
    assert [fetch(sim, path).status for _ in range(3)] == [200, 200, 200]  # once per URL
    assert fetch(sim, "/acme/model-evals").status == 200  # not a panel: never a 409
    running = next(ev.eval_id for ev in sim.workspace.evals if ev.status == "running")
    assert fetch(sim, f"/acme/model-evals/{running}").status == 200
    assert sim.stats.snapshot().faults == {"409_transient": 1}


def test_fault_log_leaves_the_key_out(make_sim: Any) -> None:
    sim = make_sim(fault_kinds=("503",), **FAULTY)
    fetch(sim, "/acme/model-evals", {"status": "done"}, key=None, query_key=KEY)
    assert sim.stats.snapshot().fault_log == (("503", "GET /acme/model-evals?status=done"),)


def test_outage(make_sim: Any) -> None:
    sim = make_sim(down_after=2, down_seconds=0.6)
    assert [fetch(sim, "/acme/model-evals").status for _ in range(4)] == [200, 200, 503, 503]
    time.sleep(0.65)
    assert fetch(sim, "/acme/model-evals").status == 200
    assert sim.stats.snapshot().faults == {"outage": 2}


async def _crawl(sim: SimHandle, urls: list[str], concurrency: int) -> None:
    """Fetch every URL until it succeeds, allowing 4 attempts (the cap is 3 faults in a row)."""
    limiter = anyio.CapacityLimiter(concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(sim.url, headers=headers, timeout=timeout) as session:

        async def one(url: str) -> None:
            async with limiter:
                for _ in range(4):
                    try:
                        async with session.get(url) as response:
                            await response.read()
                            if response.status == 200:
                                return
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                raise AssertionError(f"{url} still failing after 4 attempts")

        async with anyio.create_task_group() as tg:
            for url in urls:
                tg.start_soon(one, url)


@pytest.mark.anyio
async def test_same_faults_whatever_the_concurrency(make_sim: Any) -> None:
    kinds = ("429", "429_retry_after", "500_html", "502_html", "503", "drop", "truncated",
             "409_transient")
    options = {"fault_rate": 0.6, "fault_kinds": kinds, "seed": 5, "evals": 30}
    logs = []
    for concurrency in (1, 16):
        sim = make_sim(**options)
        urls = [f"/acme/model-evals/{ev.eval_id}/{panel}" for ev in sim.workspace.evals
                if ev.status == "done" and ev.missing_panel is None
                for panel in ("map-results", "confusion-matrix", "recommendations")]
        await _crawl(sim, urls, concurrency)
        logs.append(sorted(sim.stats.snapshot().fault_log))
    # The server's own record, not the client's attempt counts: aiohttp may silently
    # resend a request whose pooled connection was dropped.
    assert logs[0] == logs[1]
    assert {kind for kind, _ in logs[0]} == set(kinds)
    assert max(Counter(url for _, url in logs[0]).values()) == 3  # some URL hit the cap


# -- latency jitter, evals finishing mid-crawl, a done panel's first calls -------------------


def test_jitter_is_seeded_bounded_and_per_url() -> None:
    options = SimOptions(latency_ms=10, latency_jitter_ms=20, seed=4)
    one, two = Latency(options), Latency(options)
    delays = [one.seconds(f"GET /u{i % 5}") for i in range(200)]
    assert delays == [two.seconds(f"GET /u{i % 5}") for i in range(200)]
    assert all(0.010 <= d < 0.030 for d in delays) and len(set(delays)) == 200
    assert max(delays) - min(delays) > 0.015  # spread over the range, not bunched
    other = Latency(SimOptions(latency_ms=10, latency_jitter_ms=20, seed=5))
    assert [other.seconds(f"GET /u{i % 5}") for i in range(200)] != delays
    fixed = Latency(SimOptions(latency_ms=10))
    assert {fixed.seconds("GET /u") for _ in range(5)} == {0.010}


def test_jitter_over_http(make_sim: Any) -> None:
    sim = make_sim(latency_ms=20, latency_jitter_ms=250, seed=6)
    expected = Latency(sim.options)
    url = "/acme/model-evals"
    for _ in range(4):
        want = expected.seconds(f"GET {url}")
        started = time.perf_counter()
        assert fetch(sim, url).status == 200
        took = time.perf_counter() - started
        assert want <= took < want + 0.35, (want, took)


def test_running_evals_finish_after_n_requests(make_sim: Any) -> None:
    sim = make_sim(evals=30, seed=2, finish_after=3)
    running = sorted(ev.eval_id for ev in sim.workspace.evals if ev.status == "running")
    failed = {ev.eval_id for ev in sim.workspace.evals if ev.status == "failed"}
    assert running and failed

    def listed(status: str) -> list[str]:
        rows = fetch(sim, "/acme/model-evals", {"status": status, "limit": 200}).json()["evals"]
        return sorted(r["evalId"] for r in rows)

    assert [listed("running") for _ in range(3)] == [running] * 3
    assert fetch(sim, "/__sim__/stats", key=None).json()["finishedEvals"] == []  # not counted
    assert listed("running") == []  # request 4: time has passed
    assert set(running) <= set(listed("done")) and set(listed("failed")) == failed
    reply = fetch(sim, f"/acme/model-evals/{running[0]}/map-results")
    assert reply.status == 200 and "splits" in reply.json()
    assert "summary" in fetch(sim, f"/acme/model-evals/{running[0]}").json()
    for _ in range(5):
        fetch(sim, "/acme/model-evals")
    snap = sim.stats.snapshot()
    assert (snap.finished_evals, snap.finished_at_request) == (tuple(running), 4)  # just once
    served = fetch(sim, "/__sim__/stats", key=None).json()
    assert (served["finishedEvals"], served["finishedAtRequest"]) == (running, 4)
    truth = fetch(sim, "/__sim__/ground-truth", key=None).json()
    assert truth["status_counts"].get("running", 0) == 0
    assert {e["eval_id"]: e["rows"]["image_predictions"] > 0 for e in truth["evals"]
            if e["eval_id"] in running} == dict.fromkeys(running, True)


def test_finish_after_zero_finishes_before_the_first_answer(make_sim: Any) -> None:
    sim = make_sim(evals=20, finish_after=0)
    assert fetch(sim, "/acme/model-evals", {"status": "running"}).json() == {"evals": []}
    assert sim.stats.snapshot().finished_at_request == 1


def test_a_done_panel_refuses_its_first_calls(make_sim: Any) -> None:
    sim = make_sim(not_done_first_calls=2, confidences=(20, 50))
    eval_id = a_done_eval_id(sim)
    path = f"/acme/model-evals/{eval_id}/confusion-matrix"
    assert fetch(sim, path, {"split": "nope"}).status == 400  # refused earlier: not a call
    assert fetch(sim, path, key=None).status == 401
    first = [fetch(sim, path, {"split": "test"}) for _ in range(4)]
    assert [(r.status, r.code) for r in first[:2]] == [(409, "model_eval_not_done")] * 2
    assert [r.status for r in first[2:]] == [200, 200]
    other = [fetch(sim, path, {"split": "valid"}).status for _ in range(3)]
    assert other == [409, 409, 200]  # counted per URL
    # 409 comes before an unmaterialised variant's 404, as for a running eval.
    unmade = [fetch(sim, path, {"split": "test", "confidence": 77}) for _ in range(3)]
    assert [(r.status, r.code) for r in unmade] == [
        (409, "model_eval_not_done"), (409, "model_eval_not_done"), (404, "report_not_found")]
    assert fetch(sim, f"/acme/model-evals/{eval_id}").status == 200  # not a panel
    assert fetch(sim, "/acme/model-evals").status == 200
    snap = sim.stats.snapshot()
    assert snap.faults == {"409_first_calls": 6}
    assert Counter(url for _, url in snap.fault_log) == {
        f"GET {path}?split=test": 2, f"GET {path}?split=valid": 2,
        f"GET {path}?confidence=77&split=test": 2}


def test_first_calls_count_only_once_the_eval_is_done(make_sim: Any) -> None:
    sim = make_sim(evals=20, seed=3, not_done_first_calls=1, finish_after=2)
    running = next(ev.eval_id for ev in sim.workspace.evals if ev.status == "running")
    path = f"/acme/model-evals/{running}/recommendations"
    assert [fetch(sim, path).status for _ in range(4)] == [409, 409, 409, 200]
    assert sim.stats.snapshot().faults == {"409_first_calls": 1}
