"""The simulator in a process of its own, with every response body encoded before it serves.

``python -m bench.sim_server --evals N --images A B --latency-ms L [--fault-rate R]`` prints
one JSON line (``url``, ``planned_requests``, ...) once it listens, then serves until SIGTERM.
Its request counters are the simulator's own, on ``GET <url>/__sim__/stats``.

Why its own process: a server sharing the measured client's interpreter would share its GIL
and its core. Why bodies are encoded up front: building a 1,000-image page costs the
simulator about 25 ms of CPU, so on a two-core machine the fake API, not the client, would
set the pace. A real API answers in its latency; encoded bodies let this one do the same,
and leave both cores' worth of time to the simulator's HTTP handling and to the client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

from aiohttp import web

from bench.workload import PAGE, SPLITS, Workload, compare_versions, planned_requests
from etl.simulator import SimEval, SimWorkspace, build_app, generate
from etl.simulator.server import SHUTDOWN_TIMEOUT

Key = tuple[Any, ...]


class EncodedBody(dict[str, Any]):
    """A stand-in body that carries the JSON the simulator would have encoded."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        super().__init__()
        self.raw = raw


def send_encoded(kind: str, eval_id: str, body: dict[str, Any]) -> object:
    """The simulator's ``mutate`` hook: serve a pre-encoded body verbatim, anything else as is."""
    return body.raw if isinstance(body, EncodedBody) else None


class PreencodedWorkspace(SimWorkspace):
    """The generated workspace, answering from a cache of encoded bodies (built on a miss)."""

    def __init__(self, base: SimWorkspace) -> None:
        super().__init__(base.options, base.all_projects, base.evals)
        self.cache: dict[Key, bytes] = {}
        self.misses = 0

    def _cached(self, key: Key, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        raw = self.cache.get(key)
        if raw is None:
            self.misses += 1
            raw = self.cache[key] = encode(build())
        return EncodedBody(raw)

    def get_body(self, ev: SimEval) -> dict[str, Any]:
        return self._cached(("get", ev.eval_id), lambda: super(PreencodedWorkspace, self)
                            .get_body(ev))

    def panel_body(self, ev: SimEval, panel: str, split: str | None = None,
                   confidence_pct: int | None = None) -> dict[str, Any]:
        return self._cached(("panel", ev.eval_id, panel, split, confidence_pct),
                            lambda: super(PreencodedWorkspace, self)
                            .panel_body(ev, panel, split, confidence_pct))

    def image_page(self, ev: SimEval, split: str | None, confidence_pct: int | None,
                   offset: int, limit: int) -> dict[str, Any]:
        return self._cached(("images", ev.eval_id, split, confidence_pct, offset, limit),
                            lambda: super(PreencodedWorkspace, self)
                            .image_page(ev, split, confidence_pct, offset, limit))

    def compare_body(self, project: str, version: str,
                     frontier_metric: str | None) -> dict[str, Any]:
        return self._cached(("compare", project, version, frontier_metric),
                            lambda: super(PreencodedWorkspace, self)
                            .compare_body(project, version, frontier_metric))


def encode(body: dict[str, Any]) -> bytes:
    import msgspec

    return msgspec.json.encode(body)


def planned_bodies(ws: SimWorkspace, ev: SimEval) -> Iterator[tuple[Key, Callable[[], Any]]]:
    """The cache keys (and builders) of every call the benchmarked plan makes for one eval.

    The keys are the arguments the simulator's routes pass: the default confidence resolved
    to its integer, ``split`` None where the request has none.
    """
    conf = ws.default_confidence(ev)
    yield ("get", ev.eval_id), partial(ws.get_body, ev)
    for panel in ("map-results", "confidence-sweep", "recommendations"):
        yield ("panel", ev.eval_id, panel, None, None), partial(ws.panel_body, ev, panel)
    yield (("panel", ev.eval_id, "vector-analysis", None, conf),
           partial(ws.panel_body, ev, "vector-analysis", None, conf))
    for split in SPLITS:
        yield (("panel", ev.eval_id, "performance-by-class", split, None),
               partial(ws.panel_body, ev, "performance-by-class", split))
        yield (("panel", ev.eval_id, "confusion-matrix", split, conf),
               partial(ws.panel_body, ev, "confusion-matrix", split, conf))
    for offset in range(0, ev.n_images, PAGE):
        yield (("images", ev.eval_id, "all", conf, offset, PAGE),
               partial(ws.image_page, ev, "all", conf, offset, PAGE))


_BASE: SimWorkspace | None = None  # the plain workspace, inherited by forked encoders


def _encode_evals(indices: list[int]) -> list[tuple[Key, bytes]]:
    assert _BASE is not None
    return [(key, encode(build())) for i in indices
            for key, build in planned_bodies(_BASE, _BASE.evals[i])]


def prebuild(ws: PreencodedWorkspace, base: SimWorkspace, workers: int) -> None:
    """Encode every planned body, on ``workers`` forked processes for big workspaces.

    The compare bodies (one per project version of ``compare_versions``, no frontier metric:
    the plan sends none) are few and cheap; they are encoded here, in this process.
    """
    global _BASE
    _BASE = base
    for project, version in compare_versions(base):
        ws.cache[("compare", project, version, None)] = encode(
            base.compare_body(project, version, None))
    n = len(base.evals)
    if workers <= 1 or n < 50:
        ws.cache.update(_encode_evals(list(range(n))))
        return
    chunks = [list(range(i, n, workers * 8)) for i in range(workers * 8)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for pairs in pool.map(_encode_evals, chunks):
            ws.cache.update(pairs)


async def serve(workload: Workload, host: str, port: int, workers: int) -> None:
    options = workload.sim_options(mutate=send_encoded)
    base = generate(options)
    ws = PreencodedWorkspace(base)
    started = time.monotonic()
    prebuild(ws, base, workers)
    runner = web.AppRunner(build_app(options, ws), access_log=None,
                           shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_TIMEOUT).start()
        bound = runner.addresses[0][1]
        print(json.dumps({
            "url": f"http://{host}:{bound}", "workspace": options.workspace,
            "api_key": options.api_key, "evals": len(base.evals),
            "images": sum(ev.n_images for ev in base.evals),
            "planned_requests": planned_requests(base),
            "compare_versions": len(compare_versions(base)), "bodies": len(ws.cache),
            "body_bytes": sum(map(len, ws.cache.values())),
            "prebuild_s": round(time.monotonic() - started, 2), "pid": os.getpid()}),
            flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        print(f"bench simulator stopped; {ws.misses} bodies built on demand", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--evals", type=int, required=True)
    parser.add_argument("--images", type=int, nargs=2, metavar=("MIN", "MAX"), required=True)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument("--prebuild-workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    workload = Workload(args.evals, tuple(args.images), args.latency_ms, args.fault_rate,
                        args.seed, args.projects, args.versions)
    asyncio.run(serve(workload, args.host, args.port, args.prebuild_workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
