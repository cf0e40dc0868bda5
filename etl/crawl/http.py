"""The HTTP send loop: auth, timeouts, concurrency, and the retry policy of :mod:`etl.crawl.retry`.

Everything evals-etl sends goes through :class:`Http`. What an answer means and whether to try
again are pure decisions in :mod:`etl.crawl.retry`; this module only sends, translates aiohttp's
exceptions, sleeps and counts. The rules come from section 17 of the API contract:

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
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from etl import __version__, redact
from etl.config import ApiConfig, CrawlConfig
from etl.crawl.body import BodyLimits, read_bounded
from etl.crawl.retry import (
    Attempts,
    Failure,
    RetryPolicy,
    backoff,
    classify,
    decide,
    retry_after_seconds,
)
from etl.errors import (
    ApiError,
    AuthError,
    ConfigError,
    MalformedBody,
    NotDoneError,
    RetryBudgetExhausted,
    TransientError,
)

__all__ = ["Http", "HttpStats", "Response", "post_json", "retry_after_seconds", "segment"]

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpStats:
    """A snapshot of what the run sent: attempts, retries and peak concurrency."""

    requests: int = 0
    retries: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class _Counters:
    """The live counts behind :attr:`Http.stats`; only the send loop writes them."""

    def __init__(self) -> None:
        self.requests = self.retries = self.in_flight = self.max_in_flight = 0

    def snapshot(self) -> HttpStats:
        return HttpStats(self.requests, self.retries, self.in_flight, self.max_in_flight)


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


def env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``NO_PROXY``...), if any.

    Read once per session, not by aiohttp's ``trust_env``, which reads it again for every
    request on a worker thread (getproxies() scans the whole environment, then .netrc is
    opened), and which also takes ``~/.netrc`` credentials for the API host: aiohttp refuses
    to combine those with our ``Authorization`` header, so every request of a user whose
    .netrc names the host failed with a ValueError.
    """
    try:
        return get_env_proxy_for_url(url)
    except LookupError:  # no proxy for this URL's scheme, or NO_PROXY names its host
        return None, None


class _Retry(Exception):
    """One failed attempt, carried from the send to the loop that decides."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class Http:
    """One ``aiohttp`` session per run, with the policy above. Use as an async context manager."""

    def __init__(self, api: ApiConfig, crawl: CrawlConfig, *, rng: random.Random | None = None) -> None:
        if api.key is None:
            raise AuthError("/", message="no API key")
        if any(ord(c) < 32 or ord(c) == 127 for c in api.key.reveal()):
            raise ConfigError("the API key contains a line break or another control character; "
                              "check ROBOFLOW_API_KEY or api.key_file (one line, the key alone)")
        redact.register(api.key.reveal())  # whatever a server echoes of it goes no further
        cap = api.max_response_mb * 1024 * 1024
        self.limits = BodyLimits(max_body_bytes=cap, max_wire_bytes=cap)
        self.base = api.url.rstrip("/")
        self._proxy, self._proxy_auth = env_proxy(URL(self.base))
        self.api = api
        self.crawl = crawl
        self.policy = RetryPolicy.of(crawl)
        self.budget = self.policy.retry_budget
        self._counts = _Counters()
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
                "Accept-Encoding": "gzip, deflate",  # what read_bounded can inflate in bounds
            },
            raise_for_status=False,
            auto_decompress=False,  # inflated here, under a size cap: no gzip bomb gets through
            trust_env=False,  # the proxy comes from env_proxy(), once
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
        spent = Attempts()
        first_not_done: float | None = None
        while True:
            spent = Attempts(spent.total + 1, spent.not_done, spent.not_done_seconds)
            try:
                status, body, fetched_at = await self._send(path, query)
                return Response(self._decode(decode, body, status), body, status, spent.total,
                                fetched_at)
            except _Retry as failed:
                failure = failed.failure
            if failure.not_done:
                first_not_done = first_not_done or time.monotonic()
                spent = Attempts(spent.total, spent.not_done + 1,
                                 time.monotonic() - first_not_done)
            decision = decide(failure, spent, self.policy, budget_left=self.budget,
                              retry_not_done=retry_not_done)
            if decision.action != "retry":
                raise _final_error(decision.action, failure, path, query, spent.total,
                                   self.policy) from None
            self.budget -= decision.spends_budget
            self._counts.retries += 1
            await anyio.sleep(backoff(decision.delay, failure.retry_after, self.policy,
                                      self._rng))

    @property
    def stats(self) -> HttpStats:
        """What this session has sent so far (a snapshot)."""
        return self._counts.snapshot()

    async def _send(self, path: str, query: dict[str, str]) -> tuple[int, bytes, datetime]:
        assert self._session is not None, "use Http as an async context manager"
        # encoded=True: the path is quoted already (segment()); letting yarl normalise it
        # would turn an eval id ".." back into a parent-directory step.
        url = URL(f"{self.base}/{path}", encoded=True)
        counts = self._counts
        async with self._limiter:
            counts.requests += 1
            counts.in_flight += 1
            counts.max_in_flight = max(counts.max_in_flight, counts.in_flight)
            try:
                async with self._session.get(url, params=query, allow_redirects=False,
                                             proxy=self._proxy,
                                             proxy_auth=self._proxy_auth) as resp:
                    status, headers = resp.status, resp.headers
                    body = redact.body(await read_bounded(resp, self.limits, path, query))
            except aiohttp.ClientSSLError as exc:  # certificate errors included
                # A certificate that does not verify will not verify on the next attempt.
                raise ApiError(path, params=query, message=(
                    f"TLS verification failed for {self.base}: {exc.__class__.__name__}; "
                    "fix the certificate or, for a test server only, set api.verify_tls = false"
                )) from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise _Retry(Failure(None, None, _describe_io_error(exc, self.base))) from None
            finally:
                counts.in_flight -= 1
        answer = classify(status, body, endpoint=path, params=query,
                          retry_after=retry_after_seconds(headers.get("Retry-After")),
                          location=headers.get("Location"))
        if isinstance(answer, Failure):
            raise _Retry(answer)
        if answer is not None:
            raise answer
        return status, body, datetime.now(UTC)

    @staticmethod
    def _decode(decode: Callable[[bytes], T], body: bytes, status: int) -> T:
        try:
            return decode(body)
        except msgspec.ValidationError:
            raise  # a well-formed body of the wrong shape: the caller's contract error
        except msgspec.DecodeError as exc:
            raise _Retry(Failure(status, "malformed_body", f"undecodable body ({exc})")) from None
        except MalformedBody as exc:  # not JSON at all: perhaps cut short on the way
            raise _Retry(Failure(status, "malformed_body", exc.problem)) from None


def _final_error(action: str, failure: Failure, path: str, query: dict[str, str],
                 attempts: int, policy: RetryPolicy) -> ApiError:
    """The error that ends a request the policy will not retry."""
    where: dict[str, Any] = {"params": query, "status": failure.status, "code": failure.code,
                             "attempts": attempts}
    if action == "not_done":
        return NotDoneError(path, message=failure.message, **where)
    if action == "budget_spent":
        return RetryBudgetExhausted(path, message=(
            f"run-wide retry budget ({policy.retry_budget}) spent; "
            f"last failure: {failure.message}"), **where)
    return TransientError(path, message=failure.message, **where)


def _describe_io_error(exc: BaseException, base: str) -> str:
    host = URL(base).host or base
    if isinstance(exc, asyncio.TimeoutError):
        return f"{host} timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"truncated body from {host}"
    return f"cannot connect to {host} ({type(exc).__name__})"


async def post_json(url: str, payload: object, policy: RetryPolicy, *, timeout: float = 10.0,
                    rng: random.Random | None = None) -> int:
    """POST ``payload`` as JSON to ``url`` (a webhook), retrying as the policy says.

    Sends no key and no ``Authorization`` (a webhook URL is its own capability), follows no
    redirect, and names only the host in errors, never the URL. Any 2xx is delivered;
    returns the attempts it took. Raises :class:`ApiError` when the policy gives up.
    """
    host = URL(url).host or "the webhook"
    data = msgspec.json.encode(payload)
    headers = {"Content-Type": "application/json", "User-Agent": f"evals-etl/{__version__}"}
    rng = rng or random.Random()
    spent = Attempts()
    proxy, proxy_auth = env_proxy(URL(url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        while True:
            spent = Attempts(spent.total + 1)
            try:
                async with session.post(url, data=data, headers=headers, allow_redirects=False,
                                        proxy=proxy, proxy_auth=proxy_auth) as resp:
                    status, retry_after = resp.status, resp.headers.get("Retry-After")
                    body = await resp.content.read(64 * 1024)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                failure = Failure(None, None, _describe_io_error(exc, url))
            else:
                if 200 <= status < 300:
                    return spent.total
                answer = classify(status, body, endpoint=host, params={},
                                  retry_after=retry_after_seconds(retry_after))
                if not isinstance(answer, Failure):
                    raise answer or ApiError(host, status=status, message="not delivered")
                failure = answer
            decision = decide(failure, spent, policy, budget_left=policy.retry_budget,
                              retry_not_done=False)
            if decision.action != "retry":
                raise TransientError(host, status=failure.status, message=failure.message,
                                     attempts=spent.total)
            await anyio.sleep(backoff(decision.delay, failure.retry_after, policy, rng))
