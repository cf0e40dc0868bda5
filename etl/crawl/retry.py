"""The retry policy as pure decisions: what an answer means, whether to try again, how long to wait.

:mod:`etl.crawl.http` sends and loops; everything it decides comes from here, so every rule of
section 17 of the API contract is a function of values, tested without a network or a clock:

* :func:`classify` turns a status and body into a final error, a retryable :class:`Failure`,
  or nothing (a 200);
* :func:`decide` turns a failure and the attempts so far into a :class:`Decision`;
* :func:`backoff` is full-jitter exponential backoff with ``Retry-After`` as a floor;
* :func:`retry_after_seconds` reads ``Retry-After`` in seconds or as an HTTP date.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from etl import redact
from etl.config import CrawlConfig
from etl.errors import ApiError, AuthError, BadRequestError, NotFoundError

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one run tries: per request, per run, and for panels that are not ready."""

    max_attempts: int = 6
    retry_budget: int = 2000  # retries in the whole run before it stops as "API down"
    backoff_base: float = 0.25
    backoff_max: float = 30.0
    not_done_attempts: int = 4  # a done eval's panel answering 409: its own, smaller cap
    not_done_seconds: float = 30.0

    @classmethod
    def of(cls, crawl: CrawlConfig) -> RetryPolicy:
        return cls(crawl.max_attempts, crawl.retry_budget, crawl.backoff_base,
                   crawl.backoff_max, crawl.not_done_attempts, crawl.not_done_seconds)


@dataclass(frozen=True)
class Failure:
    """One failed attempt that the policy may retry."""

    status: int | None  # None: no response (connection error, timeout, truncated body)
    code: str | None
    message: str
    retry_after: float | None = None

    @property
    def not_done(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class Attempts:
    """What one request has spent so far."""

    total: int = 0
    not_done: int = 0
    not_done_seconds: float = 0.0  # since the first 409


Action = Literal["retry", "not_done", "give_up", "budget_spent"]


@dataclass(frozen=True)
class Decision:
    """``retry`` after ``delay`` seconds (spending the run's budget or not), or stop and why."""

    action: Action
    delay: float = 0.0
    spends_budget: bool = False


def classify(status: int, body: bytes, *, endpoint: str, params: Mapping[str, str],
             retry_after: float | None = None, location: str | None = None,
             ) -> ApiError | Failure | None:
    """What an answer means: None for a 200, a final :class:`ApiError`, or a :class:`Failure`.

    A 200 whose body is an API error envelope is that error; a redirect is never followed.
    """
    if status == 200:
        envelope = error_envelope(body)
        return None if envelope is None else _envelope_error(*envelope, endpoint, params)
    code, message = error_body(body)
    if 300 <= status < 400:
        return BadRequestError(endpoint, params=params, status=status, code=code, message=(
            f"redirect to {_host(location)} not followed (is api.url right?)"))
    kinds: dict[int, type[ApiError]] = {401: AuthError, 403: AuthError, 400: BadRequestError,
                                        404: NotFoundError}
    if status in kinds:
        if status in (401, 403):
            message = message or "the API key was refused"
        return kinds[status](endpoint, params=params, status=status, code=code, message=message)
    if status == 409:
        return Failure(409, code, message)
    if status in RETRYABLE_STATUS or status >= 500:
        return Failure(status, code, message or f"HTTP {status}", retry_after)
    return BadRequestError(endpoint, params=params, status=status, code=code,
                           message=message or f"unexpected HTTP {status}")


def decide(failure: Failure, spent: Attempts, policy: RetryPolicy, *, budget_left: int,
           retry_not_done: bool) -> Decision:
    """Whether the request that just failed with ``failure`` (``spent`` included) goes on."""
    if failure.not_done:
        if (not retry_not_done or spent.not_done >= policy.not_done_attempts
                or spent.not_done_seconds >= policy.not_done_seconds):
            return Decision("not_done")
        # A panel whose data is missing is a lasting state of a healthy API, with its own
        # small cap above; it must not use up the budget meant for outages.
        return Decision("retry", backoff_ceiling(spent.not_done, policy))
    if spent.total >= policy.max_attempts:
        return Decision("give_up")
    if budget_left <= 0:
        return Decision("budget_spent")
    return Decision("retry", backoff_ceiling(spent.total, policy), spends_budget=True)


def backoff_ceiling(attempt: int, policy: RetryPolicy) -> float:
    """The upper end of the jitter window after the ``attempt``-th failure."""
    return min(policy.backoff_max, policy.backoff_base * 2.0 ** (attempt - 1))


def backoff(ceiling: float, retry_after: float | None, policy: RetryPolicy,
            rng: random.Random) -> float:
    """Seconds to wait: full jitter below ``ceiling``, at least ``Retry-After`` (capped)."""
    # Full jitter spreads a burst of failures over the whole window instead of synchronising
    # every client's retries; Retry-After, when sent, is a floor.
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max))
    return delay


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from ``now`` (default: the clock): an integer, or an HTTP date;
    None when unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# An error body is read only this far, and its message kept this long: a 200 MB or
# 100,000-deep error page costs a bounded parse, never a crash.
ERROR_BODY_BYTES = 64 * 1024
MESSAGE_CHARS = 500
# The keys an error envelope may have; a 200 body with "error" and nothing else is one.
_ENVELOPE_KEYS = frozenset({"error", "message", "status", "statusCode", "code", "type", "hint",
                            "details", "requestId", "request_id"})


def error_body(body: bytes) -> tuple[str | None, str]:
    """The flat ``{"error": code, "message": text}`` envelope, tolerating anything else.

    The message is redacted (a gateway may echo our headers) and bounded in size.
    """
    code, message = _parse_error(body[:ERROR_BODY_BYTES])
    return code, redact.text(message)[:MESSAGE_CHARS]


def _parse_error(body: bytes) -> tuple[str | None, str]:
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        text = body[:200].decode("utf-8", "replace").strip()
        return None, " ".join(text.split())
    if not isinstance(data, dict):
        return None, ""
    error = data.get("error")
    if isinstance(error, dict):  # the platform's nested shape
        kind = error.get("type")
        return (redact.text(kind)[:100] if isinstance(kind, str) else None,
                str(error.get("message", "")))
    message = data.get("message")
    code = redact.text(error)[:100] if isinstance(error, str) else None
    return code, str(message) if isinstance(message, str) else (code or "")


def error_envelope(body: bytes) -> tuple[str | None, str] | None:
    """``(code, message)`` when a 200 body is an API error envelope, else None."""
    if len(body) > ERROR_BODY_BYTES or b'"error"' not in body:
        return None  # the cheap test first: payloads are never this
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or "error" not in data or not set(data) <= _ENVELOPE_KEYS:
        return None
    return error_body(body)


# Envelope codes by what they mean for us; anything else is a request that will not pass.
_RETRYABLE_CODES = ("rate", "throttl", "unavailable", "timeout", "internal", "server",
                    "overload", "busy", "try_again", "gateway")


def _envelope_error(code: str | None, message: str, endpoint: str,
                    params: Mapping[str, str]) -> ApiError | Failure:
    name = (code or "").lower()
    if name == "model_eval_not_done":
        return Failure(409, code, message)
    if any(word in name for word in _RETRYABLE_CODES):
        return Failure(None, code, message or name)
    kind: type[ApiError] = BadRequestError
    if any(word in name for word in ("unauthor", "forbidden", "api_key", "apikey", "scope")):
        kind = AuthError
    elif "not_found" in name:
        kind = NotFoundError
    return kind(endpoint, params=params, status=200, code=code, message=message or name)


def _host(location: str | None) -> str:
    """Where a redirect points, without its path or query (which could carry anything)."""
    if not location:
        return "an unnamed location"
    parsed = urlsplit(location)
    return redact.text(f"{parsed.scheme}://{parsed.hostname}" if parsed.hostname
                       else "a relative location")
