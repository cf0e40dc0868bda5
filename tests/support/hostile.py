"""A reverse proxy in front of the simulator that misbehaves the way real gateways do.

It forwards every request to the simulator unless its ``behave(request, n)`` returns a
response of its own (``n`` counts the requests to that URL so far, from 1): an error page
that echoes the request headers, a gzip bomb, an endless body, a redirect, a 200 carrying an
error envelope, a body nested 100,000 deep. It runs in its own thread and event loop.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.serving import serve_in_thread

Behave = Callable[[web.Request, int], Awaitable[web.StreamResponse | None]]


@dataclass
class Proxy:
    url: str
    seen: Counter[str] = field(default_factory=Counter)  # requests per path (with query)


def echo_headers(request: web.Request) -> str:
    """What a debugging gateway prints: every request header, verbatim."""
    return "\n".join(f"{k}: {v}" for k, v in request.headers.items())


@cache
def gzip_bomb(inflated: int = 1 << 30) -> bytes:
    """A gzip body of ``inflated`` zero bytes (1 GiB: about 1 MB on the wire)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    parts = [squeeze.compress(chunk) for _ in range(inflated // len(chunk))]
    parts.append(squeeze.flush())
    return b"".join(parts)


async def endless(request: web.Request, size: int, chunk: int = 1 << 20) -> web.StreamResponse:
    """A 200 body of ``size`` bytes, streamed (never held by the proxy)."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    block = b" " * chunk
    try:
        for _ in range(size // chunk):
            await resp.write(block)
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        pass  # the client stopped reading: exactly what it should do
    return resp


@contextmanager
def hostile_proxy(upstream: str, behave: Behave) -> Iterator[Proxy]:
    proxy = Proxy("")

    def make(session: aiohttp.ClientSession) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            path = request.path_qs
            proxy.seen[path] += 1
            own = await behave(request, proxy.seen[path])
            if own is not None:
                return own
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with session.get(upstream + path, headers=headers,
                                   allow_redirects=False) as up:
                body = await up.read()
                keep = {k: v for k, v in up.headers.items()
                        if k.lower() in ("content-type", "retry-after", "content-encoding")}
                return web.Response(status=up.status, body=body, headers=keep)

        return handle

    with serve_in_thread(make, "hostile", auto_decompress=False) as url:
        proxy.url = url
        yield proxy
