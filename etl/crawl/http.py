"""The HTTP policy, in one place: auth, timeouts, concurrency, retries and the retry budget.

Everything evals-etl sends goes through :class:`Http`. The rules come from section 17 of the
API contract:

* the key travels only in ``Authorization: Bearer`` (never in a URL, so never in a log);
* 429, 5xx, connection errors, timeouts and truncated or undecodable bodies are retried with
  exponential backoff and full jitter, honouring ``Retry-After`` (seconds or an HTTP date),
  within a per-request attempt cap and a run-wide retry budget;
* 409 (a done eval's panel not ready) is retried within its own, smaller, budget;
* 400 and 404 are never retried; 401/403 end the run.

The caller passes a ``decode`` function so that a body which does not parse counts as a
failed attempt (a truncated body often arrives with a 200) and is retried like one.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote

import aiohttp
import anyio
import msgspec
from yarl import URL

from etl import __version__
from etl.config import ApiConfig, CrawlConfig
from etl.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    ContractError,
    NotDoneError,
    NotFoundError,
    RetryBudgetExhausted,
    TransientError,
)

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class HttpStats:
    """What the run sent: attempts, retries and peak concurrency."""

    requests: int = 0
    retries: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass(frozen=True)
class Response:
    """A decoded answer and how much it cost."""

    value: Any
    body: bytes
    status: int
    attempts: int
    fetched_at: datetime


def segment(value: str) -> str:
    """One URL path segment, quoted so that ``/``, ``..``, quotes or NUL cannot change the path."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: an integer, or an HTTP date; None when unusable."""
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
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class _Retry(Exception):
    """One failed attempt that the policy may retry."""

    def __init__(self, status: int | None, code: str | None, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class Http:
    """One ``aiohttp`` session per run, with the policy above. Use as an async context manager."""

    def __init__(self, api: ApiConfig, crawl: CrawlConfig, *, rng: random.Random | None = None) -> None:
        if api.key is None:
            raise AuthError("/", message="no API key")
        self.base = api.url.rstrip("/")
        self.api = api
        self.crawl = crawl
        self.stats = HttpStats()
        self.budget = crawl.retry_budget
        self._limiter = anyio.CapacityLimiter(crawl.concurrency)
        self._rng = rng or random.Random()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(
            limit=self.crawl.concurrency,
            ssl=self.api.verify_tls,  # True: verify against the system CA store
            keepalive_timeout=30,
        )
        assert self.api.key is not None
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.api.total_timeout,
                sock_connect=self.api.connect_timeout,
                sock_read=self.api.read_timeout,
            ),
            headers={
                "Authorization": f"Bearer {self.api.key.reveal()}",
                "User-Agent": f"evals-etl/{__version__}",
                "Accept": "application/json",
            },
            raise_for_status=False,
            auto_decompress=True,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        decode: Callable[[bytes], T],
        retry_not_done: bool = False,
    ) -> Response:
        """GET ``path`` (already quoted) and decode it, retrying as the policy says.

        Raises the typed :mod:`etl.errors` for answers that end the request, and
        :class:`RetryBudgetExhausted` when the run-wide budget is spent.
        """
        query = dict(query or {})
        attempts = 0
        not_done_attempts = 0
        not_done_started: float | None = None
        while True:
            attempts += 1
            try:
                status, body, fetched_at = await self._send(path, query)
                return Response(self._decode(decode, body, status, path), body, status, attempts,
                                fetched_at)
            except _Retry as failure:
                if failure.status == 409:
                    not_done_attempts += 1
                    not_done_started = not_done_started or time.monotonic()
                    spent = time.monotonic() - not_done_started
                    if (not retry_not_done or not_done_attempts >= self.crawl.not_done_attempts
                            or spent >= self.crawl.not_done_seconds):
                        raise NotDoneError(path, params=query, status=409, code=failure.code,
                                           message=failure.message, attempts=attempts) from None
                elif attempts >= self.crawl.max_attempts:
                    raise TransientError(path, params=query, status=failure.status,
                                         code=failure.code, message=failure.message,
                                         attempts=attempts) from None
                if failure.status == 409:
                    # A panel whose data is missing is a lasting state of a healthy API, with
                    # its own small cap above; it must not use up the budget meant for outages.
                    await anyio.sleep(self._backoff(not_done_attempts, None))
                    self.stats.retries += 1
                    continue
                if self.budget <= 0:
                    raise RetryBudgetExhausted(
                        path, params=query, status=failure.status, code=failure.code,
                        message=f"run-wide retry budget ({self.crawl.retry_budget}) spent; "
                        f"last failure: {failure.message}", attempts=attempts) from None
                self.budget -= 1
                self.stats.retries += 1
                await anyio.sleep(self._backoff(attempts, failure.retry_after))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter spreads a burst of failures over the whole window instead of
        # synchronising every client's retries; Retry-After, when sent, is a floor.
        ceiling = min(self.crawl.backoff_max, self.crawl.backoff_base * 2 ** (attempt - 1))
        delay = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.crawl.backoff_max))
        return delay

    async def _send(self, path: str, query: dict[str, str]) -> tuple[int, bytes, datetime]:
        assert self._session is not None, "use Http as an async context manager"
        # encoded=True: the path is quoted already (segment()); letting yarl normalise it
        # would turn an eval id ".." back into a parent-directory step.
        url = URL(f"{self.base}/{path}", encoded=True)
        async with self._limiter:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            try:
                async with self._session.get(url, params=query, allow_redirects=False) as resp:
                    body = await resp.read()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
            except aiohttp.ClientSSLError as exc:  # certificate errors included
                # A certificate that does not verify will not verify on the next attempt.
                raise ApiError(path, params=query, message=(
                    f"TLS verification failed for {self.base}: {exc.__class__.__name__}; "
                    "fix the certificate or, for a test server only, set api.verify_tls = false"
                )) from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _Retry(None, None, _describe_io_error(exc)) from None
            finally:
                self.stats.in_flight -= 1
        if status == 200:
            return status, body, datetime.now(UTC)
        code, message = _error_body(body)
        if status in (401, 403):
            raise AuthError(path, params=query, status=status, code=code,
                            message=message or "the API key was refused")
        if status == 400:
            raise BadRequestError(path, params=query, status=status, code=code, message=message)
        if status == 404:
            raise NotFoundError(path, params=query, status=status, code=code, message=message)
        if status == 409:
            raise _Retry(409, code, message)
        if status in RETRYABLE_STATUS or status >= 500:
            raise _Retry(status, code, message or f"HTTP {status}",
                         retry_after_seconds(retry_after))
        raise BadRequestError(path, params=query, status=status, code=code,
                              message=message or f"unexpected HTTP {status}")

    @staticmethod
    def _decode(decode: Callable[[bytes], T], body: bytes, status: int, path: str) -> T:
        try:
            return decode(body)
        except msgspec.ValidationError:
            raise  # a well-formed body of the wrong shape: the caller's contract error
        except msgspec.DecodeError as exc:
            raise _Retry(status, "malformed_body", f"undecodable body ({exc})") from None
        except ContractError as exc:
            if exc.field == "$" and exc.problem.startswith("malformed JSON"):  # not JSON at all
                raise _Retry(status, "malformed_body", exc.problem) from None
            raise


def _error_body(body: bytes) -> tuple[str | None, str]:
    """The flat ``{"error": code, "message": text}`` envelope, tolerating anything else."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:200].decode("utf-8", "replace").strip()
        return None, " ".join(text.split())
    if not isinstance(data, dict):
        return None, ""
    error = data.get("error")
    if isinstance(error, dict):  # the platform's nested shape
        return error.get("type") if isinstance(error.get("type"), str) else None, str(
            error.get("message", ""))
    message = data.get("message")
    code = error if isinstance(error, str) else None
    return code, str(message) if isinstance(message, str) else (code or "")


def _describe_io_error(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated body"
    return f"connection failed ({type(exc).__name__})"
