"""Seeded transient-fault injection for the simulator, as an aiohttp middleware.

Whether a request fails, and how, is a pure function of (seed, method, path + query, that
URL's attempt number), so a seeded run meets the same faults whatever its concurrency. One
URL never fails more than ``fault_max_per_url`` times in a row: a client allowed
``fault_max_per_url + 1`` attempts always gets through. An outage (``down_after`` requests,
then ``down_seconds`` of 503s) is the exception, on purpose: it models an API that is down.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from etl.simulator.workspace import PANEL_NAMES, SimOptions, SimWorkspace, stable_hash

if TYPE_CHECKING:
    from etl.simulator.app import SimStats

DROPPED = web.RequestKey("sim_dropped", bool)  # closed without a response
ADMIN_PREFIX = "/__sim__/"  # the simulator's own routes: never delayed, faulted or counted
STATS_PATH = ADMIN_PREFIX + "stats"
GROUND_TRUTH_PATH = ADMIN_PREFIX + "ground-truth"
FIRST_CALLS_409 = "409_first_calls"  # the stats/fault-log name of not_done_first_calls
_HTML_500 = (b"<html><head><title>500 Internal Server Error</title></head><body>"
             b"<h1>Internal Server Error</h1></body></html>")
_HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_name(panel: str) -> str:
    """aiohttp route names must be identifiers without keywords ("performance-by-class")."""
    return "panel_" + panel.replace("-", "_")


def route_label(request: web.Request) -> str:
    """The route a request matched: a panel name, or list/get/compare/workspace/auth/unknown."""
    name = request.match_info.route.name or "unknown"
    return name.removeprefix("panel_").replace("_", "-") if name.startswith("panel_") else name


def is_admin(request: web.Request) -> bool:
    return request.path.startswith(ADMIN_PREFIX)


def url_key(request: web.Request) -> str:
    """``METHOD path?query`` with the query sorted and ``api_key`` left out.

    Leaving the key out keeps it out of the fault log, and gives a query-key client and a
    header-key client the same faults for the same request.
    """
    query = sorted((k, v) for k, v in request.query.items() if k != "api_key")
    text = "&".join(f"{k}={v}" for k, v in query)
    return f"{request.method} {request.path}" + (f"?{text}" if text else "")


class Latency:
    """Each request's delay: ``latency_ms`` plus a seeded uniform share of ``latency_jitter_ms``.

    Like faults, the jitter is a pure function of (seed, URL, that URL's attempt number), so
    a seeded run sees the same delays whatever its concurrency.
    """

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self._attempts: Counter[str] = Counter()

    def seconds(self, url: str) -> float:
        options = self.options
        if options.latency_jitter_ms <= 0:
            return options.latency_ms / 1000
        attempt = self._attempts[url]
        self._attempts[url] += 1
        share = stable_hash(options.seed, "jitter", url, attempt) / 2**64
        return (options.latency_ms + share * options.latency_jitter_ms) / 1000


class FirstCalls:
    """``not_done_first_calls``: a done eval's panel URL answers 409 to its first N calls.

    Only calls that reach the done check count (a 401, 404 or 400 answer, or an injected
    fault, is not a call the panel saw), so every URL is refused exactly N times.
    """

    def __init__(self, options: SimOptions) -> None:
        self.limit = options.not_done_first_calls
        self._calls: Counter[str] = Counter()

    def refuse(self, url: str) -> bool:
        if self.limit <= 0 or self._calls[url] >= self.limit:
            return False
        self._calls[url] += 1
        return True


class FaultPlan:
    """Decides each request's fault; state is per URL, so decisions ignore interleaving."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self._attempts: Counter[str] = Counter()
        self._streak: Counter[str] = Counter()
        self._seen = 0
        self._down_since: float | None = None
        self._conflicted: set[str] = set()  # URLs that had their one transient 409

    def choose(self, url: str, kinds: tuple[str, ...], now: float) -> str | None:
        """The fault for this request of ``url`` (``"outage"`` during an outage), or None."""
        options = self.options
        self._seen += 1
        if options.down_after is not None and self._seen > options.down_after:
            self._down_since = now if self._down_since is None else self._down_since
            if now - self._down_since < options.down_seconds:
                return "outage"
        attempt = self._attempts[url]
        self._attempts[url] += 1
        if url in self._conflicted:
            kinds = tuple(k for k in kinds if k != "409_transient")
        if not kinds or options.fault_rate <= 0 or self._streak[url] >= options.fault_max_per_url:
            self._streak[url] = 0
            return None
        if stable_hash(options.seed, "fault", url, attempt) / 2**64 >= options.fault_rate:
            self._streak[url] = 0
            return None
        self._streak[url] += 1
        kind = kinds[stable_hash(options.seed, "kind", url, attempt) % len(kinds)]
        if kind == "409_transient":
            self._conflicted.add(url)
        return kind


def middleware(options: SimOptions, workspace: SimWorkspace, stats: SimStats) -> Any:
    """The aiohttp middleware that injects the faults ``options`` ask for."""
    plan = FaultPlan(options)

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_admin(request):
            return await handler(request)
        url = url_key(request)
        kind = plan.choose(url, _eligible(options, workspace, request), time.monotonic())
        if kind is None:
            return await handler(request)
        stats.fault(kind, url)
        if kind == "slow":
            await asyncio.sleep(options.slow_seconds)
            return await handler(request)
        if kind == "drop":
            request[DROPPED] = True
            request.protocol.force_close()
            return web.Response()
        if kind == "truncated":
            return await _truncate(request, await handler(request))
        return _canned(kind, options)

    return inject


def _eligible(options: SimOptions, workspace: SimWorkspace,
              request: web.Request) -> tuple[str, ...]:
    """The configured kinds that make sense here: a transient 409 needs a done eval's panel."""
    route = route_label(request)
    ev = workspace.by_id.get(request.match_info.get("eval_id", ""))
    panel_of_done_eval = route in PANEL_NAMES and ev is not None and ev.status == "done"
    return tuple(k for k in options.fault_kinds if k != "409_transient" or panel_of_done_eval)


async def _truncate(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Announce the whole body, send half of it, and hang up."""
    body = response.body if isinstance(response, web.Response) else None
    data = body if isinstance(body, bytes) and body else b'{"error": "truncated"}'
    out = web.StreamResponse(status=response.status)
    out.content_type = response.content_type
    out.content_length = len(data)
    await out.prepare(request)
    await out.write(data[: len(data) // 2])
    request.protocol.force_close()
    return out


def _canned(kind: str, options: SimOptions) -> web.Response:
    if kind == "500_html":
        return web.Response(body=_HTML_500, status=500, content_type="text/html")
    if kind == "502_html":
        return web.Response(body=_HTML_502, status=502, content_type="text/html")
    if kind in ("503", "outage"):
        return _json(503, "service_unavailable", "The service is temporarily unavailable")
    if kind == "409_transient":
        return _json(409, "model_eval_not_done",
                     "The eval has not completed; the panel data is not yet available")
    headers = {}
    if kind == "429_retry_after":
        headers["Retry-After"] = str(options.retry_after_seconds)
    elif kind == "429_retry_after_date":
        # HTTP dates have whole seconds: round up so the client never waits too little.
        headers["Retry-After"] = formatdate(math.ceil(time.time()) + options.retry_after_seconds,
                                            usegmt=True)
    return _json(429, "rate_limited", "Too many requests; slow down", headers)


def _json(status: int, code: str, message: str,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=msgspec.json.encode({"error": code, "message": message}),
                        status=status, headers=headers, content_type="application/json")
