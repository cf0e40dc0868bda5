"""The retry policy's decisions, as pure functions of values: no server, no clock, no sleep."""

from __future__ import annotations

import random

import pytest

from etl.crawl.retry import (
    Attempts,
    Decision,
    Failure,
    RetryPolicy,
    backoff,
    backoff_ceiling,
    classify,
    decide,
    error_body,
)
from etl.errors import ApiError, AuthError, BadRequestError, NotFoundError

POLICY = RetryPolicy(max_attempts=3, retry_budget=10, backoff_base=1.0, backoff_max=8.0,
                     not_done_attempts=2, not_done_seconds=5.0)
WHERE = {"endpoint": "acme/model-evals", "params": {"status": "done"}}


def answer(status: int, body: bytes = b"", retry_after: float | None = None
           ) -> ApiError | Failure | None:
    return classify(status, body, retry_after=retry_after, **WHERE)  # type: ignore[arg-type]


def test_a_200_is_no_failure() -> None:
    assert answer(200, b"{}") is None


@pytest.mark.parametrize(("status", "kind"), [(401, AuthError), (403, AuthError),
                                              (400, BadRequestError), (404, NotFoundError),
                                              (418, BadRequestError)])
def test_final_answers_become_typed_errors_with_the_body_s_code(status: int, kind: type) -> None:
    error = answer(status, b'{"error": "some_code", "message": "said so"}')
    assert type(error) is kind
    assert isinstance(error, ApiError)
    assert (error.status, error.code, error.message) == (status, "some_code", "said so")
    assert error.params == {"status": "done"}


def test_a_refused_key_without_a_message_still_says_what_happened() -> None:
    error = answer(401)
    assert isinstance(error, AuthError) and error.message == "the API key was refused"


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_throttling_and_server_errors_are_retryable(status: int) -> None:
    failure = answer(status, b"<html>gateway</html>", retry_after=3.0)
    assert failure == Failure(status, None, "<html>gateway</html>", 3.0)


def test_409_is_a_not_done_failure_without_retry_after() -> None:
    failure = answer(409, b'{"error": "model_eval_not_done", "message": "later"}', 9.0)
    assert isinstance(failure, Failure) and failure.not_done and failure.retry_after is None


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"error": "c", "message": "m"}', ("c", "m")),
    (b'{"error": {"type": "T", "message": "nested"}}', ("T", "nested")),
    (b'{"error": "only_code"}', ("only_code", "only_code")),
    (b"[1, 2]", (None, "")),
    (b"  Bad\n  Gateway  ", (None, "Bad Gateway")),
])
def test_error_bodies_of_any_shape(body: bytes, expected: tuple[str | None, str]) -> None:
    assert error_body(body) == expected


def test_transient_failures_retry_within_the_attempt_cap_spending_the_budget() -> None:
    failure = Failure(503, None, "down")
    first = decide(failure, Attempts(total=1), POLICY, budget_left=10, retry_not_done=False)
    assert first == Decision("retry", 1.0, spends_budget=True)
    second = decide(failure, Attempts(total=2), POLICY, budget_left=10, retry_not_done=False)
    assert second == Decision("retry", 2.0, spends_budget=True)
    assert decide(failure, Attempts(total=3), POLICY, budget_left=10,
                  retry_not_done=False).action == "give_up"


def test_an_empty_budget_stops_the_run_but_the_cap_is_checked_first() -> None:
    failure = Failure(None, None, "connection failed")
    assert decide(failure, Attempts(total=1), POLICY, budget_left=0,
                  retry_not_done=False).action == "budget_spent"
    assert decide(failure, Attempts(total=3), POLICY, budget_left=0,
                  retry_not_done=False).action == "give_up"


def test_not_done_retries_have_their_own_cap_and_never_spend_the_budget() -> None:
    failure = Failure(409, "model_eval_not_done", "later")
    retry = decide(failure, Attempts(total=1, not_done=1), POLICY, budget_left=0,
                   retry_not_done=True)
    assert retry == Decision("retry", 1.0, spends_budget=False)
    assert decide(failure, Attempts(total=2, not_done=2), POLICY, budget_left=10,
                  retry_not_done=True).action == "not_done"
    assert decide(failure, Attempts(total=1, not_done=1, not_done_seconds=5.0), POLICY,
                  budget_left=10, retry_not_done=True).action == "not_done"
    # Where a 409 is the eval's own state (it is running), it is an answer, not a failure.
    assert decide(failure, Attempts(total=1, not_done=1), POLICY, budget_left=10,
                  retry_not_done=False).action == "not_done"


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    assert [backoff_ceiling(n, POLICY) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


def test_full_jitter_stays_inside_the_window_and_retry_after_is_a_capped_floor() -> None:
    rng = random.Random(1)
    delays = [backoff(4.0, None, POLICY, rng) for _ in range(500)]
    assert 0 <= min(delays) < 0.5 and 3.5 < max(delays) <= 4.0
    assert all(backoff(1.0, 6.0, POLICY, rng) == 6.0 for _ in range(20))
    assert backoff(1.0, 3600.0, POLICY, rng) == POLICY.backoff_max


def test_the_policy_comes_from_the_crawl_config() -> None:
    from etl.config import CrawlConfig

    crawl = CrawlConfig(max_attempts=9, retry_budget=5, backoff_base=0.5, backoff_max=2.0,
                        not_done_attempts=3, not_done_seconds=1.0)
    assert RetryPolicy.of(crawl) == RetryPolicy(9, 5, 0.5, 2.0, 3, 1.0)
