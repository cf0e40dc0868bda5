"""``evals-etl simulate``: serve a simulated workspace on a fixed port until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from etl.simulator.workspace import FAULT_KINDS, READINGS, SimOptions, SimWorkspace, generate

_DEFAULTS = SimOptions()
_RATES = {  # option -> what it is a share of
    "running_rate": "evals that are running", "failed_rate": "evals that failed",
    "deleted_project_rate": "evals whose project was deleted",
    "semseg_rate": "projects that are semantic segmentation",
    "missing_panel_rate": "done evals with one panel that always answers 409",
    "recs_not_generated_rate": "done evals without recommendations",
    "model_id_null_rate": "evals whose modelId is null"}


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
    add("--classes", type=int, nargs=2, metavar=("MIN", "MAX"), default=_DEFAULTS.classes,
        help="classes per project")
    for name, what in _RATES.items():
        add(f"--{name.replace('_', '-')}", type=float, default=getattr(_DEFAULTS, name),
            metavar="SHARE", help=f"exact share of {what} (default {getattr(_DEFAULTS, name)})")
    _add_fault_arguments(parser)
    for name, readings in READINGS.items():
        add(f"--{name.replace('_', '-')}", choices=readings, default=getattr(_DEFAULTS, name))
    add("--confidences", type=int, nargs="+", metavar="PCT",
        help="materialised confidence variants (default: 20, 50 and each eval's optimum)")
    add("--header-fields", action="store_true",
        help="panel payloads carry evalId/project/versionId/modelId")
    add("--hostile-names", action="store_true",
        help="markup-like class and image names (<script>…, \"><img onerror=…>), to check "
        "that whatever renders the workspace shows them as text")
    add("--api-key-env", metavar="VAR",
        help="environment variable holding the key to accept (never put a key in argv)")
    add("--ground-truth", metavar="FILE",
        help="write the served workspace and the rows an export owes as JSON (before serving)")
    add("--ground-truth-image-confusion", action="store_true",
        help="also count image_confusion rows in the ground truth (builds every image)")
    add("--ground-truth-only", action="store_true",
        help="write --ground-truth and exit without serving")


def _add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Latency, transient faults, outages and evals that change mid-crawl."""
    add = parser.add_argument
    add("--latency-ms", type=float, default=_DEFAULTS.latency_ms,
        help="added to every request")
    add("--latency-jitter-ms", type=float, default=_DEFAULTS.latency_jitter_ms,
        help="plus a seeded uniform share of this much")
    add("--fault-rate", type=float, default=_DEFAULTS.fault_rate,
        help="share of requests that fail transiently")
    add("--fault-kinds", nargs="+", choices=FAULT_KINDS, default=list(_DEFAULTS.fault_kinds),
        metavar="KIND", help=f"any of: {', '.join(FAULT_KINDS)}")
    add("--slow-seconds", type=float, default=_DEFAULTS.slow_seconds)
    add("--fault-max-per-url", type=int, default=_DEFAULTS.fault_max_per_url,
        help="a URL never fails more often than this in a row")
    add("--retry-after-seconds", type=int, default=_DEFAULTS.retry_after_seconds,
        help="the Retry-After of the 429_retry_after* faults")
    add("--down-after", type=int, default=_DEFAULTS.down_after, metavar="N",
        help="after N requests the API is down (503) for --down-seconds")
    add("--down-seconds", type=float, default=_DEFAULTS.down_seconds)
    add("--finish-after", type=int, default=_DEFAULTS.finish_after, metavar="N",
        help="after N requests every running eval becomes done (once)")
    add("--not-done-first-calls", type=int, default=_DEFAULTS.not_done_first_calls,
        metavar="N", help="a done eval's panel answers 409 to its first N calls per URL")


def options_from(args: argparse.Namespace,
                 environ: Mapping[str, str] | None = None) -> SimOptions:
    """The :class:`SimOptions` the flags ask for; ValueError for a bad combination."""
    values: dict[str, Any] = {
        "workspace": args.workspace, "seed": args.seed, "evals": args.evals,
        "projects": args.projects, "versions": args.versions, "images": tuple(args.images),
        "classes": tuple(args.classes), **{name: getattr(args, name) for name in _RATES},
        "latency_ms": args.latency_ms, "latency_jitter_ms": args.latency_jitter_ms,
        "fault_max_per_url": args.fault_max_per_url,
        "retry_after_seconds": args.retry_after_seconds, "down_after": args.down_after,
        "down_seconds": args.down_seconds, "finish_after": args.finish_after,
        "not_done_first_calls": args.not_done_first_calls, "fault_rate": args.fault_rate,
        "fault_kinds": tuple(args.fault_kinds), "slow_seconds": args.slow_seconds,
        "list_order": args.list_order, "limit_over_max": args.limit_over_max,
        "filter_combination": args.filter_combination,
        "image_default_split": args.image_default_split,
        "default_confidence": args.default_confidence, "compare_route": args.compare_route,
        "confidences": tuple(args.confidences) if args.confidences else None,
        "header_fields": args.header_fields, "hostile_names": args.hostile_names}
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
    if args.ground_truth_only and not args.ground_truth:
        print("evals-etl simulate: --ground-truth-only needs --ground-truth FILE",
              file=sys.stderr)
        return 2
    if args.ground_truth:
        try:
            write_ground_truth(Path(args.ground_truth), generate(options),
                               image_confusion=args.ground_truth_image_confusion)
        except OSError as exc:
            print(f"evals-etl simulate: cannot write {args.ground_truth}: {exc.strerror}",
                  file=sys.stderr)
            return 2
        if args.ground_truth_only:
            return 0
    asyncio.run(_serve(options, args.host, args.port))
    return 0


def write_ground_truth(path: Path, workspace: SimWorkspace, *,
                       image_confusion: bool = False) -> None:
    """Write ``workspace.ground_truth()`` atomically, so a reader never sees half a file."""
    data = json.dumps(workspace.ground_truth(image_confusion=image_confusion),
                      ensure_ascii=False, indent=1).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


async def _serve(options: SimOptions, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    from etl.simulator.server import serve  # aiohttp's server half: only when serving

    async with serve(options, host=host, port=port) as sim:
        evals = len(sim.workspace.evals)
        print(f"simulated Roboflow API at {sim.url}  workspace {options.workspace!r}  "
              f"({evals} evals, seed {options.seed}); Ctrl-C to stop", flush=True)
        await stop.wait()
    print("simulator stopped", flush=True)
