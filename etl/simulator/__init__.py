"""A faithful fake of the Roboflow model-evals REST API, for tests, the demo and benchmarks.

``workspace`` generates a seeded workspace and every response body (pure); ``truth``
describes it as JSON with the rows an export owes (pure); ``app`` serves them with the
documented validation and errors; ``faults`` injects seeded transient failures, latency and
the mid-crawl knobs; ``server`` runs it on a socket; ``cli`` is ``evals-etl simulate``.
"""

from etl.simulator.app import SimStats, StatsSnapshot, build_app
from etl.simulator.server import SimHandle, serve, serve_in_thread
from etl.simulator.workspace import SimEval, SimOptions, SimProject, SimWorkspace, generate

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
