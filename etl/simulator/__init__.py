"""A faithful fake of the Roboflow model-evals REST API, for tests, the demo and benchmarks.

``workspace`` generates a seeded workspace and every response body (pure); ``truth``
describes it as JSON with the rows an export owes (pure); ``app`` serves them with the
documented validation and errors; ``faults`` injects seeded transient failures, latency and
the mid-crawl knobs; ``server`` runs it on a socket; ``cli`` is ``evals-etl simulate``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.simulator.app import SimStats, StatsSnapshot, build_app
    from etl.simulator.server import SimHandle, serve, serve_in_thread
    from etl.simulator.workspace import SimEval, SimOptions, SimProject, SimWorkspace, generate

# Loaded on first use, so `evals-etl --help` (whose parser lists `simulate`) does not pay for
# aiohttp's server half.
_HOMES = {"SimStats": "app", "StatsSnapshot": "app", "build_app": "app", "SimHandle": "server",
          "serve": "server", "serve_in_thread": "server", "SimEval": "workspace",
          "SimOptions": "workspace", "SimProject": "workspace", "SimWorkspace": "workspace",
          "generate": "workspace"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'etl.simulator' has no attribute {name!r}")
    return getattr(import_module(f"etl.simulator.{_HOMES[name]}"), name)


__all__ = [
    "SimEval",
    "SimHandle",
    "SimOptions",
    "SimProject",
    "SimStats",
    "SimWorkspace",
    "StatsSnapshot",
    "build_app",
    "generate",
    "serve",
    "serve_in_thread",
]
