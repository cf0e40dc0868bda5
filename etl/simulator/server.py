"""Run the simulator on a real socket: inside the caller's event loop, or in its own thread.

The thread form gives tests and the demo a server whose load does not share the client's
event loop, so concurrency measurements are not distorted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from etl.simulator.app import STATS, SimStats, build_app
from etl.simulator.workspace import SimOptions, SimWorkspace, generate

# A slow fault may be sleeping when the server stops; do not wait long for it.
SHUTDOWN_TIMEOUT = 0.5


@dataclass(frozen=True)
class SimHandle:
    url: str  # http://host:port, no trailing slash: the API_URL of the simulated API
    options: SimOptions
    workspace: SimWorkspace
    stats: SimStats


@asynccontextmanager
async def serve(options: SimOptions | None = None, *, host: str = "127.0.0.1",
                port: int = 0) -> AsyncIterator[SimHandle]:
    """Serve the simulator in the running event loop (``port=0``: a free port)."""
    options = options or SimOptions()
    workspace = generate(options)
    app = build_app(options, workspace)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await site.start()
        bound = runner.addresses[0][1]
        yield SimHandle(f"http://{_url_host(host)}:{bound}", options, workspace, app[STATS])
    finally:
        await runner.cleanup()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextmanager
def serve_in_thread(options: SimOptions | None = None, *, host: str = "127.0.0.1",
                    port: int = 0) -> Iterator[SimHandle]:
    """Serve the simulator from a daemon thread with its own event loop until the block ends."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        try:
            async with serve(options, host=host, port=port) as handle:
                box.update(handle=handle, loop=asyncio.get_running_loop(), stop=stop)
                ready.set()
                await stop.wait()
        except BaseException as exc:  # reported to the starting thread
            box["error"] = exc
            ready.set()
            if "handle" in box:
                raise

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="evals-sim", daemon=True)
    thread.start()
    ready.wait()
    if "handle" not in box:
        thread.join()
        raise box["error"]
    try:
        yield box["handle"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
