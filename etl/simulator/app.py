"""The simulated model-evals API on aiohttp.web: routes, auth, validation, error bodies, stats.

Every model-evals route checks, in this order (api-contract.md §17): the key (401) and the
workspace (403), that the eval exists (404 ``model_eval_not_found``), its parameters (400),
that the eval is done (409 ``model_eval_not_done``), and that the requested confidence
variant was materialised (404 ``report_not_found``). ``not_done_first_calls`` answers its
409 at the done check, so it counts only calls that passed the earlier checks. Bodies come
from ``workspace.py``; ``/__sim__/stats`` and ``/__sim__/ground-truth`` are the simulator's
own routes (no key, never delayed, faulted or counted).
"""

from __future__ import annotations

import asyncio
import hmac
import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec
from aiohttp import web

from etl.simulator import faults
from etl.simulator.faults import (
    DROPPED,
    FIRST_CALLS_409,
    GROUND_TRUTH_PATH,
    STATS_PATH,
    FirstCalls,
    Latency,
    is_admin,
    url_key,
)
from etl.simulator.workspace import PANEL_NAMES, STATUSES, SimEval, SimOptions, SimWorkspace

LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 50, 200
IMAGES_DEFAULT_LIMIT, IMAGES_MAX_LIMIT = 200, 1000
CONFIDENCE_PANELS = frozenset({"confusion-matrix", "vector-analysis", "image-predictions"})
SPLITS_ALLOWED = {
    "performance-by-class": ("train", "valid", "test"),
    "confusion-matrix": ("train", "valid", "test", "all"),
    "image-predictions": ("train", "valid", "test", "all"),
}
FRONTIER_METRICS = ("mAP", "mAP5095", "mAP75", "mIoU", "precision", "recall", "f1")
_DIGITS = re.compile(r"[0-9]+")  # "5.0", "-1", "+5", " 5" and non-ASCII digits are not integers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class StatsSnapshot:
    requests: int
    by_route: dict[tuple[str, int], int]  # (route name, status); status 0 = no response sent
    by_path: dict[str, int]
    faults: dict[str, int]
    fault_log: tuple[tuple[str, str], ...]  # (kind, "METHOD path?query" without api_key)
    max_in_flight: int
    query_key_requests: int  # requests that carried ?api_key=
    finished_evals: tuple[str, ...] = ()  # made done by ``finish_after``, sorted
    finished_at_request: int | None = None  # the first request that saw them done


class SimStats:
    """Counters the server updates in its loop thread; read them with :meth:`snapshot`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = self._in_flight = self._max_in_flight = self._query_key = 0
        self._by_route: Counter[tuple[str, int]] = Counter()
        self._by_path: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._fault_log: list[tuple[str, str]] = []
        self._finished: tuple[str, ...] = ()
        self._finished_at: int | None = None

    def begin(self, query_key: bool) -> None:
        with self._lock:
            self._requests += 1
            self._query_key += query_key
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def end(self, route: str, status: int, path: str) -> None:
        with self._lock:
            self._in_flight -= 1
            self._by_route[(route, status)] += 1
            self._by_path[path] += 1

    def fault(self, kind: str, url: str) -> None:
        with self._lock:
            self._faults[kind] += 1
            self._fault_log.append((kind, url))

    def finished(self, eval_ids: set[str], at_request: int) -> None:
        with self._lock:
            self._finished, self._finished_at = tuple(sorted(eval_ids)), at_request

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(self._requests, dict(self._by_route), dict(self._by_path),
                                 dict(self._faults), tuple(self._fault_log),
                                 self._max_in_flight, self._query_key, self._finished,
                                 self._finished_at)


STATS = web.AppKey("stats", SimStats)


class Reject(Exception):
    """An error answer with the documented flat body ``{"error": code, "message": text}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def build_app(options: SimOptions, workspace: SimWorkspace) -> web.Application:
    """The aiohttp application; its :class:`SimStats` is ``app[STATS]``."""
    stats = SimStats()
    api = _Api(options, workspace, stats)
    app = web.Application(middlewares=[
        _observe(options, workspace, stats), faults.middleware(options, workspace, stats), _errors])
    app[STATS] = stats
    router = app.router
    router.add_post("/", api.check_key, name="auth")
    router.add_get(STATS_PATH, api.stats, name="stats")
    router.add_get(GROUND_TRUTH_PATH, api.ground_truth, name="ground_truth")
    router.add_get("/{ws}", api.workspace, name="workspace")
    router.add_get("/{ws}/model-evals", api.list, name="list")
    router.add_get("/{ws}/model-evals/compare", api.compare, name="compare")  # before {eval_id}
    router.add_get("/{ws}/model-evals/{eval_id}", api.get, name="get")
    for panel in PANEL_NAMES:
        router.add_get(f"/{{ws}}/model-evals/{{eval_id}}/{panel}", partial(api.panel, panel),
                       name=faults.route_name(panel))
    router.add_route("*", "/{tail:.*}", api.unknown, name="unknown")
    return app


def _observe(options: SimOptions, workspace: SimWorkspace, stats: SimStats) -> Any:
    latency = Latency(options)
    seen = 0

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal seen
        if is_admin(request):
            return await handler(request)
        stats.begin("api_key" in request.query)
        seen += 1
        if options.finish_after is not None and seen == options.finish_after + 1:
            # Time passes mid-crawl: requests up to finish_after saw these evals running.
            running = {ev.eval_id for ev in workspace.evals if ev.status == "running"}
            workspace.finish(running)
            stats.finished(running, seen)
        status = 0
        try:
            delay = latency.seconds(url_key(request))
            if delay > 0:
                await asyncio.sleep(delay)
            response = await handler(request)
            status = 0 if request.get(DROPPED) else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            status = 500
            raise
        finally:
            stats.end(faults.route_label(request), status, request.path)

    return observe


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Reject as exc:
        return json_response({"error": exc.code, "message": exc.message}, status=exc.status)


def json_response(body: object, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def _int(query: Mapping[str, str], name: str, default: int, code: str) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw):
        raise Reject(400, code, f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


class _Api:
    def __init__(self, options: SimOptions, workspace: SimWorkspace, stats: SimStats) -> None:
        self.options, self.ws, self._stats = options, workspace, stats
        self._shuffle = random.Random(options.seed)
        self._first_calls = FirstCalls(options)

    # auth

    def _key(self, request: web.Request) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()  # the header wins over ?api_key=
        return request.query.get("api_key")

    def _authorize(self, request: web.Request, *, evals_scope: bool = True) -> None:
        key = self._key(request) or ""
        valid = [k for k in (self.options.api_key, self.options.scopeless_key) if k]
        if not any(hmac.compare_digest(key.encode(), k.encode()) for k in valid):
            raise Reject(401, "unauthenticated", "API key is missing or invalid")
        if "ws" in request.match_info and request.match_info["ws"] != self.options.workspace:
            raise Reject(403, "forbidden", "this API key has no access to that workspace")
        if evals_scope and key == self.options.scopeless_key:
            raise Reject(403, "forbidden", "this API key lacks the model-eval:read scope")

    def _eval(self, request: web.Request) -> SimEval:
        eval_id = request.match_info["eval_id"]
        ev = self.ws.by_id.get(eval_id)
        if ev is None:
            raise Reject(404, "model_eval_not_found", f"Eval '{eval_id}' not found")
        return ev

    def _respond(self, kind: str, eval_id: str, body: dict[str, Any]) -> web.Response:
        if self.options.mutate is not None:
            result = self.options.mutate(kind, eval_id, body)
            if isinstance(result, bytes):
                return web.Response(body=result, content_type="application/json")
            if result is not None:
                return json_response(result)
        return json_response(body)

    # routes

    async def check_key(self, request: web.Request) -> web.Response:
        self._authorize(request, evals_scope=False)
        return json_response({"welcome": "Welcome to the Roboflow API.",
                              "instructions": "You are successfully authenticated.",
                              "docs": "https://docs.roboflow.com",
                              "workspace": self.options.workspace})

    async def stats(self, request: web.Request) -> web.Response:
        snap = self._stats.snapshot()
        return json_response({
            "requests": snap.requests, "maxInFlight": snap.max_in_flight,
            "queryKeyRequests": snap.query_key_requests, "faults": snap.faults,
            "finishedEvals": list(snap.finished_evals),
            "finishedAtRequest": snap.finished_at_request,
            "byRoute": [{"route": r, "status": s, "count": n}
                        for (r, s), n in sorted(snap.by_route.items())]})

    async def ground_truth(self, request: web.Request) -> web.Response:
        """The workspace as served right now; ``?image_confusion=true`` also counts triples."""
        flag = request.query.get("image_confusion", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise Reject(400, "invalid_request", "image_confusion must be true or false")
        # Off the loop: a big workspace takes about a second and the API must keep answering.
        truth = await asyncio.to_thread(self.ws.ground_truth,
                                        image_confusion=flag in ("true", "1"))
        return json_response(truth)

    async def workspace(self, request: web.Request) -> web.Response:
        self._authorize(request, evals_scope=False)
        return self._respond("workspace", "", self.ws.workspace_body())

    async def list(self, request: web.Request) -> web.Response:
        self._authorize(request)
        query = request.query
        status = query.get("status")
        if status is not None and status not in STATUSES:
            raise Reject(400, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
        filters = {"project": query.get("project"),
                   "version": query.get("version", query.get("versionId")),
                   "model": query.get("model", query.get("modelId"))}
        given = [name for name, value in filters.items() if value is not None]
        if len(given) > 1:
            if self.options.filter_combination == "reject":
                raise Reject(400, "invalid_filter_combination",
                             "use at most one of project, version and model")
            for name in given[:-1]:  # the most specific wins: model > version > project
                filters[name] = None
        limit = _int(query, "limit", LIST_DEFAULT_LIMIT, "invalid_limit")
        limit = self._cap(limit, LIST_MAX_LIMIT)
        evals = self.ws.select(status=status, **filters)
        if self.options.list_order == "oldest":
            evals.reverse()
        elif self.options.list_order == "random":
            self._shuffle.shuffle(evals)
        return self._respond("list", "", {"evals": [self.ws.list_row(ev) for ev in evals[:limit]]})

    def _cap(self, limit: int, maximum: int) -> int:
        if limit < 1:
            raise Reject(400, "invalid_limit", "limit must be at least 1")
        if limit > maximum:
            if self.options.limit_over_max == "reject":
                raise Reject(400, "invalid_limit", f"limit must be at most {maximum}")
            return maximum
        return limit

    async def compare(self, request: web.Request) -> web.Response:
        self._authorize(request)
        if self.options.compare_route == "absent":  # a server without it reads an eval id
            raise Reject(404, "model_eval_not_found", "Eval 'compare' not found")
        project, version = request.query.get("project"), request.query.get("version")
        if not project or not version:
            raise Reject(400, "invalid_request", "project and version are required")
        metric = request.query.get("frontierMetric")
        if metric is not None and metric not in FRONTIER_METRICS:
            raise Reject(400, "invalid_frontier_metric",
                         f"frontierMetric must be one of {', '.join(FRONTIER_METRICS)}")
        if project not in {p.slug for p in self.ws.projects}:
            raise Reject(404, "project_not_found", f"Project '{project}' not found")
        return self._respond("compare", "", self.ws.compare_body(project, version, metric))

    async def get(self, request: web.Request) -> web.Response:
        self._authorize(request)
        ev = self._eval(request)
        return self._respond("get", ev.eval_id, self.ws.get_body(ev))

    async def panel(self, panel: str, request: web.Request) -> web.Response:
        self._authorize(request)
        ev = self._eval(request)
        query = request.query
        split = self._split(panel, query)
        confidence = self._confidence(query) if panel in CONFIDENCE_PANELS else None
        offset, limit = self._page(query) if panel == "image-predictions" else (0, 0)
        if ev.status != "done" or ev.missing_panel == panel:
            raise _not_done(ev)
        if self._first_calls.refuse(url := url_key(request)):
            self._stats.fault(FIRST_CALLS_409, url)
            raise _not_done(ev)
        if panel in CONFIDENCE_PANELS:
            confidence = self.ws.default_confidence(ev) if confidence is None else confidence
            if confidence not in self.ws.materialized(ev):
                raise Reject(404, "report_not_found",
                             f"no report for confidence {confidence} on eval '{ev.eval_id}'")
        if panel == "image-predictions":
            body = self.ws.image_page(ev, split, confidence, offset, limit)
        else:
            body = self.ws.panel_body(ev, panel, split, confidence)
        return self._respond(panel, ev.eval_id, body)

    def _split(self, panel: str, query: Mapping[str, str]) -> str | None:
        allowed = SPLITS_ALLOWED.get(panel)
        split = query.get("split")
        if allowed is None or split is None:
            return None  # the panel takes no split, or its default applies
        if split not in allowed:
            raise Reject(400, "invalid_split", f"split must be one of {', '.join(allowed)}")
        return split

    def _page(self, query: Mapping[str, str]) -> tuple[int, int]:
        limit = _int(query, "limit", IMAGES_DEFAULT_LIMIT, "invalid_limit")
        return _int(query, "offset", 0, "invalid_offset"), self._cap(limit, IMAGES_MAX_LIMIT)

    def _confidence(self, query: Mapping[str, str]) -> int | None:
        raw = query.get("confidence")
        if raw is None:
            return None
        if not _DIGITS.fullmatch(raw) or int(raw) > 100:
            raise Reject(400, "invalid_confidence",
                         "confidence must be an integer percent between 0 and 100")
        return int(raw)

    async def unknown(self, request: web.Request) -> web.Response:
        self._authorize(request, evals_scope=False)
        raise Reject(404, "not_found",
                     f"Unsupported request. {request.method} {request.path} does not exist")


def _not_done(ev: SimEval) -> Reject:
    return Reject(409, "model_eval_not_done",
                  f"Eval '{ev.eval_id}' has not completed; the panel data is not yet available")
