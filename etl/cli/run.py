"""``export``, ``replay`` and ``demo``: the commands that build a dataset."""

from __future__ import annotations

import argparse
import gc
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.cli.common import Commands, ending, folder, say
from etl.errors import EXIT_USAGE

if TYPE_CHECKING:
    from etl.pings import Pings


def register(sub: Commands) -> None:
    _add_export(sub)
    _add_replay(sub)
    demo = sub.add_parser("demo", help="export a simulated workspace and show the analyst views")
    demo.add_argument("--out", type=folder, default=Path("demo-out"))
    demo.set_defaults(handler=_demo)


def _add_export(sub: Commands) -> None:
    export = sub.add_parser("export", help="export a workspace (incremental unless --full-refresh)")
    export.add_argument("--workspace", action="append", help="workspace URL slug (repeatable: "
                        "one run exports several workspaces into one folder)")
    export.add_argument("--api-url", help="API base URL (default https://api.roboflow.com)")
    export.add_argument("--verify-tls", action=argparse.BooleanOptionalAction, default=None,
                        help="check the API's TLS certificate (default; --verify-tls undoes "
                        "the config's verify_tls = false)")
    export.add_argument("--out", type=folder, help="output folder (default ./evals-out)")
    export.add_argument("--config", type=Path, help="TOML config file (see configs/example.toml)")
    export.add_argument("--concurrency", type=int, help="requests in flight at most (default 32)")
    export.add_argument("--split", dest="splits", action="append", choices=["train", "valid", "test"],
                        help="split to fetch per-split panels for (repeatable; default all three)")
    export.add_argument("--confidence", dest="confidences", action="append",
                        help='confidence variant, integer percent or "default" (repeatable)')
    export.add_argument("--full-refresh", action=argparse.BooleanOptionalAction, default=None,
                        help="refetch everything instead of only what changed "
                        "(--no-full-refresh undoes the config's full_refresh = true)")
    export.add_argument("--deadline", type=float, metavar="SECONDS",
                        help="stop starting new work after this many seconds; publish what is complete")
    export.add_argument("--dry-run", action="store_true",
                        help="list the workspace and print the plan; fetch and write nothing")
    export.add_argument("--log-format", choices=["auto", "text", "json"])
    export.add_argument("--metrics-file", type=Path, metavar="PATH",
                        help="write a Prometheus textfile of the run there (atomically)")
    export.set_defaults(handler=_export)


def _add_replay(sub: Commands) -> None:
    # `normalize` is replay's name before 0.2, kept so existing scripts go on working.
    for name in ("replay", "normalize"):
        replay = sub.add_parser(
            name, help="rebuild a run's tables from its raw archive (no API calls)"
            if name == "replay" else "the old name of replay")
        replay.add_argument("--run", required=True, help="run id (see the runs table)")
        replay.add_argument("--out", type=folder, required=True)
        replay.set_defaults(handler=_replay)


def _export(args: argparse.Namespace) -> int:
    import anyio

    from etl import config as config_module
    from etl import folders, history
    from etl.export import run_export
    from etl.progress import Reporter, resolve_format

    overrides: dict[str, Any] = {
        "workspaces": args.workspace,
        "api.url": args.api_url,
        "api.verify_tls": args.verify_tls,
        "output.out": str(args.out) if args.out is not None else None,
        "crawl.concurrency": args.concurrency,
        "crawl.splits": args.splits,
        "crawl.confidences": _confidences(args.confidences),
        "crawl.deadline_seconds": args.deadline,
        "log_format": args.log_format,
        "full_refresh": args.full_refresh,
    }
    cfg = config_module.load(args.config, overrides=overrides)
    folders.check_writable(cfg.output.out)  # before any request: a bad --out costs nothing
    reporter = Reporter(resolve_format(cfg.log_format, sys.stderr))
    if args.dry_run:
        return _dry_run(cfg, reporter)
    for warning in cfg.warnings:
        reporter.event(warning, level="warning", event="security")
    from etl.pings import Pings

    pings = Pings.of(cfg.ping.url, cfg.ping.start, cfg.ping.success, cfg.ping.failure,
                     cfg.ping.timeout_seconds)
    _ping(pings, "start", f"evals-etl export of {cfg.workspace} started", reporter)
    started = datetime.now(UTC)
    # What start-up loaded (modules, the config) lives as long as the process: the collector
    # need not walk it again at every full collection of the crawl. And a crawl allocates
    # containers by the million that die by reference counting (decoded pages): collecting
    # every 50,000 allocations instead of every 700 walks the pages in flight far less often
    # (measured on the image-heavy benchmark: about 10% less CPU).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        summary = anyio.run(run_export, cfg, reporter)
    except BaseException as exc:
        code, status, reason = ending(exc)
        if code != EXIT_USAGE:  # a refused folder (not ours, another workspace's) stays untouched
            _record(cfg, history.failed(started, code, status, reason, reporter.run_id,
                                        cfg.workspace), args.metrics_file, pings, reporter)
        else:
            _ping(pings, "failure", reason, reporter)
        raise
    _record(cfg, history.finished(started, summary, cfg.workspace), args.metrics_file, pings,
            reporter)
    reporter.event(summary.line(), event="finished", status=summary.status,
                   exit_code=summary.exit_code, run_id=summary.run_id, mode=summary.mode,
                   evals_listed=summary.evals_listed, evals_exported=summary.evals_exported,
                   requests=summary.requests, retries=summary.retries, units=summary.states,
                   **_each(summary.workspaces))
    return summary.exit_code


def _each(workspaces: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The per-workspace endings for the final record, when the run covered several."""
    return {"workspaces": list(workspaces)} if len(workspaces) > 1 else {}


def _dry_run(cfg: Any, reporter: Any) -> int:
    import anyio

    from etl.export import dry_run

    plan = anyio.run(dry_run, cfg)
    for warning in plan.warnings:
        reporter.event(warning, level="warning", event="listing")
    lines = plan.lines()
    if reporter.fmt == "json":
        reporter.event(lines[0], event="dry_run", mode=plan.mode, evals_listed=plan.evals_listed,
                       listing_complete=plan.listing_complete, evals=plan.evals,
                       units=plan.units, requests_at_least=plan.requests_at_least,
                       list_requests=plan.list_requests)
    else:
        print("\n".join(lines))
    return 0


def _record(cfg: Any, run: Any, metrics_file: Path | None, pings: Pings,
            reporter: Any) -> None:
    """The run into the folder's history (and metrics file), then the success or failure
    ping, judged as ``status --check`` would judge it (without the age limit)."""
    from etl import health, history

    if (warning := history.record_run(cfg.output.out, run, metrics_file)) is not None:
        say(f"evals-etl: warning: {warning}")
    verdict = health.verdict([run.as_dict()], datetime.now(UTC),
                             accept_partial=cfg.health.accept_partial)
    line = f"{run.status} (exit {run.exit_code}): {run.reason or verdict.reason}"
    _ping(pings, "success" if verdict.healthy else "failure", line, reporter)


def _ping(pings: Pings, which: str, message: str, reporter: Any) -> None:
    if (warning := pings.send(which, message)) is not None:
        reporter.event(warning, level="warning", event="ping")


def _confidences(values: list[str] | None) -> list[int | str] | None:
    if not values:
        return None
    parsed: list[int | str] = []
    for value in values:
        if value == "default":
            parsed.append(value)
        elif value.isdigit():
            parsed.append(int(value))
        else:
            from etl.errors import ConfigError

            raise ConfigError(f'--confidence takes an integer 0-100 or "default", not {value!r}')
    return parsed


def _replay(args: argparse.Namespace) -> int:
    from etl.progress import Reporter, resolve_format
    from etl.replay import replay

    replay(args.out, args.run, None, Reporter(resolve_format("auto", sys.stderr)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from etl.demo import run_demo

    return run_demo(args.out)
