"""Serve a small aiohttp app on 127.0.0.1 in its own thread and event loop, for the test
servers that stand between the exporter and the simulator (gateways, routers)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from aiohttp import web

Handler = Callable[[web.Request], Any]


@contextmanager
def serve_in_thread(make_handler: Callable[[aiohttp.ClientSession], Handler],
                    name: str, **session: Any) -> Iterator[str]:
    """Yield the URL of a server answering every GET with ``make_handler(session)``, whose
    aiohttp client session (``session`` are its options) reaches the upstream."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        async with aiohttp.ClientSession(**session) as client:
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", make_handler(client))
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.5)
            await site.start()
            box.update(url=f"http://127.0.0.1:{runner.addresses[0][1]}",
                       loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True, name=name)
    thread.start()
    ready.wait(10)
    try:
        yield box["url"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
