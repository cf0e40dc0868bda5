"""One API URL in front of several simulators, one per workspace, as the real API serves
every workspace from one host: ``GET /<workspace>/...`` goes to that workspace's simulator.

``hidden`` eval ids are dropped from list answers, the way an eval deleted upstream vanishes
from the listing (its other routes still answer, as the API's would for a while).
``renames`` (per workspace, old text -> new) rewrite a simulator's answers, and the requests
back, so two workspaces can share project slugs, as real ones do ("production", "cars").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.serving import serve_in_thread


@contextmanager
def workspace_router(upstreams: Mapping[str, str], hidden: set[str],
                     renames: Mapping[str, Mapping[str, str]] | None = None) -> Iterator[str]:
    def make(session: aiohttp.ClientSession) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            parts = request.path.split("/")
            upstream = upstreams.get(parts[1]) if len(parts) > 1 else None
            if upstream is None:
                return web.json_response({"error": {"message": "no such workspace"}},
                                         status=404)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            swaps = (renames or {}).get(parts[1], {})
            path = request.path_qs
            for old, new in swaps.items():
                path = path.replace(new, old)
            async with session.get(upstream + path, headers=headers,
                                   allow_redirects=False) as up:
                body = await up.read()
                keep = {k: v for k, v in up.headers.items()
                        if k.lower() in ("content-type", "retry-after")}
            for old, new in swaps.items():
                body = body.replace(old.encode(), new.encode())
            if up.status == 200 and len(parts) == 3 and parts[2] == "model-evals":
                data = json.loads(body)
                data["evals"] = [e for e in data["evals"] if e["evalId"] not in hidden]
                body = json.dumps(data).encode()
            return web.Response(status=up.status, body=body, headers=keep)

        return handle

    # Bodies are inflated by the session: they are rewritten, then sent plain.
    with serve_in_thread(make, "router") as url:
        yield url
