"""``evals-etl simulate``: serve a simulated workspace on a fixed port until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from etl.simulator.server import serve
from etl.simulator.workspace import FAULT_KINDS, READINGS, SimOptions

_DEFAULTS = SimOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's flags; defaults are :class:`SimOptions`' defaults."""
    parser.description = (
        f"Serve a seeded fake of the Roboflow model-evals API. Point a client at the printed "
        f"URL with the simulator's API key ({_DEFAULTS.api_key!r} unless --api-key-env names "
        f"a variable holding another).")
    add = parser.add_argument
    add("--port", type=int, default=8765, help="TCP port (0: any free port)")
    add("--host", default="127.0.0.1")
    add("--workspace", default=_DEFAULTS.workspace, help="workspace slug")
    add("--seed", type=int, default=_DEFAULTS.seed)
    add("--evals", type=int, default=_DEFAULTS.evals, help="number of evaluations")
    add("--projects", type=int, default=_DEFAULTS.projects)
    add("--versions", type=int, default=_DEFAULTS.versions, help="versions per project")
    add("--images", type=int, nargs=2, metavar=("MIN", "MAX"), default=_DEFAULTS.images,
        help="images per evaluation")
    add("--latency-ms", type=float, default=_DEFAULTS.latency_ms,
        help="added to every request")
    add("--fault-rate", type=float, default=_DEFAULTS.fault_rate,
        help="share of requests that fail transiently")
    add("--fault-kinds", nargs="+", choices=FAULT_KINDS, default=list(_DEFAULTS.fault_kinds),
        metavar="KIND", help=f"any of: {', '.join(FAULT_KINDS)}")
    add("--slow-seconds", type=float, default=_DEFAULTS.slow_seconds)
    for name, readings in READINGS.items():
        add(f"--{name.replace('_', '-')}", choices=readings, default=getattr(_DEFAULTS, name))
    add("--confidences", type=int, nargs="+", metavar="PCT",
        help="materialised confidence variants (default: 20, 50 and each eval's optimum)")
    add("--header-fields", action="store_true",
        help="panel payloads carry evalId/project/versionId/modelId")
    add("--api-key-env", metavar="VAR",
        help="environment variable holding the key to accept (never put a key in argv)")


def options_from(args: argparse.Namespace,
                 environ: Mapping[str, str] | None = None) -> SimOptions:
    """The :class:`SimOptions` the flags ask for; ValueError for a bad combination."""
    values: dict[str, Any] = {
        "workspace": args.workspace, "seed": args.seed, "evals": args.evals,
        "projects": args.projects, "versions": args.versions, "images": tuple(args.images),
        "latency_ms": args.latency_ms, "fault_rate": args.fault_rate,
        "fault_kinds": tuple(args.fault_kinds), "slow_seconds": args.slow_seconds,
        "list_order": args.list_order, "limit_over_max": args.limit_over_max,
        "filter_combination": args.filter_combination,
        "image_default_split": args.image_default_split,
        "default_confidence": args.default_confidence,
        "confidences": tuple(args.confidences) if args.confidences else None,
        "header_fields": args.header_fields}
    if args.api_key_env:
        environ = os.environ if environ is None else environ
        if not environ.get(args.api_key_env):
            raise ValueError(f"environment variable {args.api_key_env} is empty or unset")
        values["api_key"] = environ[args.api_key_env]
    return replace(_DEFAULTS, **values)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the exit code."""
    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"evals-etl simulate: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(options, args.host, args.port))
    return 0


async def _serve(options: SimOptions, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(options, host=host, port=port) as sim:
        evals = len(sim.workspace.evals)
        print(f"simulated Roboflow API at {sim.url}  workspace {options.workspace!r}  "
              f"({evals} evals, seed {options.seed}); Ctrl-C to stop", flush=True)
        await stop.wait()
    print("simulator stopped", flush=True)
