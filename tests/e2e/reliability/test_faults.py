"""Transient faults and a downed API, judged against a clean export of the same seed.

The clean run is the ground truth: a run through faults must publish exactly its rows (none
missing, none twice) and end every planned unit in the same state. A run that loses the API
must stop on the retry budget, publish only whole units, and leave the next run to finish
the job. Run the long soak with ``pytest --soak tests/e2e/reliability/test_faults.py -s``.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etl.config import CrawlConfig
from etl.crawl.plan import units_for
from etl.errors import EXIT_API_DOWN, RetryBudgetExhausted, TransientError
from etl.simulator.common import FAULT_KINDS
from etl.simulator.truth import comparisons
from etl.store import publish
from tests.support.runs import dataset, simulator, table
from tests.support.truth import duplicate_grains, published_mismatches, run, states, statuses

# A slow answer is a failure only once it outlasts the read timeout (aiohttp's sock_read also
# covers the wait for the headers); below it, it is just slow. Equal would be a race, so the
# simulator sleeps well past the timeout and every "slow" fault is a timed-out attempt.
READ_TIMEOUT = 0.5
FAULTS: dict[str, Any] = {"fault_rate": 0.2, "fault_kinds": FAULT_KINDS, "slow_seconds": 0.8}
# At most 3 faults in a row per URL (fault_max_per_url), so 4 attempts always get through;
# the slack absorbs a healthy answer that a loaded CI machine delays past the short timeout.
ATTEMPTS = 8


def _soak(tmp_path: Path, workspace: dict[str, Any], crawl: dict[str, Any],
          min_requests: int) -> None:
    clean_out, faulty_out = tmp_path / "clean", tmp_path / "faulty"
    with simulator(**workspace) as sim:
        clean = run(sim, clean_out, **crawl)
        evals, versions = sim.workspace.evals, comparisons(sim.workspace)
    started = time.monotonic()
    with simulator(**workspace, **FAULTS) as sim:
        faulty = run(sim, faulty_out, api={"read_timeout": READ_TIMEOUT}, **crawl)
        served = sim.stats.snapshot()
    wall = time.monotonic() - started

    # The truth is itself complete: every image of every done eval is there.
    images = Counter(table(clean_out, "image_predictions").column("eval_id").to_pylist())
    assert images == {e.eval_id: e.n_images for e in evals
                      if e.status == "done" and e.missing_panel != "image-predictions"}

    assert dataset(faulty_out) == dataset(clean_out)  # no row missing, none extra
    assert duplicate_grains(faulty_out) == dict.fromkeys(duplicate_grains(faulty_out), 0)
    planned = {(u.eval_id, u.panel, u.params) for e in evals
               for u in units_for(e.eval_id, CrawlConfig())}
    planned |= {("", "compare",
                 f"workspace={sim.options.workspace}&project={c['project']}&version={c['version']}")
                for c in versions}  # one compare unit per project version with done evals
    assert set(states(faulty_out)) == planned
    assert states(faulty_out) == states(clean_out)
    assert faulty.status == clean.status

    faults = Counter(served.faults)
    assert set(faults) == set(FAULT_KINDS), f"not every kind was injected: {faults}"
    assert sum(faults.values()) >= 0.15 * served.requests
    # Every fault fails one attempt and the policy retries it, except a drop on a reused
    # keep-alive connection (aiohttp resends it unseen) and a fault on a panel that answers
    # 409 anyway (its retries are bounded by the 409 budget, faults or not).
    missing = [f"/{e.eval_id}/{e.missing_panel}" for e in evals if e.missing_panel]
    retried = [url for kind, url in served.fault_log
               if kind != "drop" and not any(m in url for m in missing)]
    assert faulty.retries >= len(retried) > 0.7 * sum(faults.values())
    assert served.requests >= min_requests
    attempts = [r["attempts"] for r in statuses(faulty_out).values() if r["state"] == "ok"]
    assert max(attempts) > 1
    runs = table(faulty_out, "runs").to_pylist()
    assert [(r["requests"], r["retries"]) for r in runs] == [(faulty.requests, faulty.retries)]
    print(f"\nfault soak: {served.requests} requests served, {sum(faults.values())} faults "
          f"injected {dict(sorted(faults.items()))}, {faulty.retries} retries, "
          f"{faulty.requests} client attempts, wall {wall:.1f} s; rows lost 0, duplicated 0")


def test_twenty_percent_transient_faults_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    _soak(tmp_path, {"seed": 7, "evals": 110, "images": (30, 120)},
          {"image_page_size": 40, "concurrency": 16, "retry_budget": 100_000,
           "max_attempts": ATTEMPTS},
          min_requests=1_400)


@pytest.mark.soak
def test_fault_soak_of_ten_thousand_requests(tmp_path: Path) -> None:
    _soak(tmp_path, {"seed": 8, "evals": 600, "images": (100, 400), "latency_ms": 0},
          {"image_page_size": 40, "concurrency": 32, "retry_budget": 100_000,
           "max_attempts": ATTEMPTS},
          min_requests=10_000)


DOWN_WORKSPACE: dict[str, Any] = {"seed": 5, "evals": 30, "images": (30, 120)}
BUDGET, CONCURRENCY = 20, 8


def test_api_down_stops_on_the_budget_publishes_whole_units_and_the_next_run_recovers(
    tmp_path: Path,
) -> None:
    clean_out, out = tmp_path / "clean", tmp_path / "out"
    with simulator(**DOWN_WORKSPACE) as sim:
        clean = run(sim, clean_out)
    # Down after ~a third of the run, for far longer than the run may take.
    with simulator(**DOWN_WORKSPACE, down_after=120, down_seconds=60) as sim:
        started = time.monotonic()
        down = run(sim, out, retry_budget=BUDGET, concurrency=CONCURRENCY)
        wall = time.monotonic() - started
        outage_answers = sim.stats.snapshot().faults.get("outage", 0)

    assert down.status == "failed" and down.exit_code == EXIT_API_DOWN
    assert "retry budget" in down.problems[0]
    assert wall < 10
    # Each 503 either spent the budget or ended a request in flight once it was spent.
    assert 0 < outage_answers <= BUDGET + CONCURRENCY

    truth, got = states(clean_out), statuses(out)
    assert set(got) == set(truth)  # every planned unit is accounted for
    changed = {k: r for k, r in got.items() if r["state"] != truth[k]}
    assert changed and any(r["state"] == "ok" for r in got.values())
    assert {(r["state"], r["error_code"]) for r in changed.values()} == {
        ("unavailable", "not_attempted")}
    assert published_mismatches(out, clean_out) == []
    assert [r["status"] for r in table(out, "runs").to_pylist()] == ["failed"]

    with simulator(**DOWN_WORKSPACE) as sim:
        again = run(sim, out)
    assert again.mode == "incremental" and again.status == clean.status
    assert dataset(out) == dataset(clean_out)
    assert states(out) == truth
    assert duplicate_grains(out) == dict.fromkeys(duplicate_grains(out), 0)


def test_a_first_list_call_that_fails_for_good_publishes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with (simulator(seed=5, evals=5, down_after=0, down_seconds=60) as sim,
          pytest.raises(RetryBudgetExhausted) as caught):
        run(sim, out, retry_budget=3)
    assert caught.value.exit_code == EXIT_API_DOWN
    assert publish.current_snapshot(out) is None
    assert not (out / "tables").exists() and not (out / "evals.duckdb").exists()


def test_a_failed_listing_leaves_the_previous_snapshot_current(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=5, evals=5) as sim:
        run(sim, out)
    before, snapshot = dataset(out), publish.current_snapshot(out)
    with (simulator(seed=5, evals=5, down_after=0, down_seconds=60) as sim,
          pytest.raises(TransientError)):
        run(sim, out, retry_budget=3)
    assert publish.current_snapshot(out) == snapshot
    assert dataset(out) == before


def test_an_api_down_from_the_start_exits_with_the_api_down_code(tmp_path: Path) -> None:
    # The per-request attempt cap ends the first list call before the run-wide budget does:
    # still the API is down, and the code must say so.
    with (simulator(seed=5, evals=5, down_after=0, down_seconds=60) as sim,
          pytest.raises(TransientError) as caught):
        run(sim, tmp_path / "out")  # the default budget outlasts the attempt cap
    assert publish.current_snapshot(tmp_path / "out") is None
    assert caught.value.exit_code == EXIT_API_DOWN


def _bad_later_pages(kind: str, eval_id: str, body: dict[str, Any]) -> object:
    # A page after the first that never decodes: only the paging task group sees it fail.
    if kind == "image-predictions" and body.get("offset"):
        return b'{"images": ['
    return None


def test_a_budget_spent_while_paging_images_stops_the_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=5, evals=3, images=(30, 60), running_rate=0, failed_rate=0,
                   missing_panel_rate=0, mutate=_bad_later_pages) as sim:
        summary = run(sim, out, image_page_size=10, retry_budget=3, concurrency=2)
    assert {r["error_code"] for r in statuses(out).values()} <= {None, "not_attempted"}
    assert summary.status == "failed" and summary.exit_code == EXIT_API_DOWN
