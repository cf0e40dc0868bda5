"""Command line: parse argv, build a Config, call one entry function, map errors to exit codes.

Exit codes (also in the README): 0 complete; 1 unexpected; 2 usage or config error;
3 partial (published, some panels error or unavailable); 4 authentication failed;
5 another run holds the output folder; 6 the API stayed down (retry budget spent);
7 the disk refused a write; 128 + n stopped by signal n before publishing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import anyio

from etl import __version__, interrupts, progress, redact
from etl.errors import EXIT_UNEXPECTED, EXIT_USAGE, EtlError

Handler = Callable[[argparse.Namespace], int]


def _folder(text: str) -> Path:
    """An --out value: a folder's path; an empty one would silently mean the working directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            'must name a folder (an empty path would mean the current directory; pass "." if '
            "that is what you want)")
    return Path(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    progress.forget()  # a reporter of an earlier call (tests call main() many times) is done
    try:
        with interrupts.handled():
            return handler(args)
    except BrokenPipeError:
        # `evals-etl query ... | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        code, status, reason = ending(exc)
        progress.finish(f"evals-etl: {reason}", status=status, exit_code=code,
                        error=type(exc).__name__)
        return code


def ending(exc: BaseException) -> tuple[int, str, str]:
    """How an error ends a command: its exit code, a status word and one line saying why."""
    if isinstance(exc, KeyboardInterrupt):
        name, code = (exc.name, exc.exit_code) if isinstance(exc, interrupts.Interrupted) \
            else ("SIGINT", 130)
        return code, "interrupted", f"interrupted by {name}; the published dataset is unchanged"
    if isinstance(exc, EtlError):
        status = "refused" if exc.exit_code in (EXIT_USAGE, 4, 5) else "failed"
        return exc.exit_code, status, str(exc)
    return EXIT_UNEXPECTED, "failed", f"unexpected {type(exc).__name__}: {exc}"


def _say(line: str) -> None:
    """A line on stderr; a closed or broken stderr must not turn into a traceback."""
    try:
        print(redact.text(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # add_subparsers()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evals-etl",
        description="Export Roboflow model evaluations into Parquet tables and DuckDB views.",
    )
    parser.add_argument("--version", action="version", version=f"evals-etl {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_export(sub)
    _add_replay(sub)
    _add_dataset_commands(sub)
    _add_report(sub)

    from etl.simulator import cli as sim_cli

    simulate = sub.add_parser("simulate", help="serve a simulated Roboflow model-evals API")
    sim_cli.add_arguments(simulate)
    simulate.set_defaults(handler=sim_cli.run)

    demo = sub.add_parser("demo", help="export a simulated workspace and show the analyst views")
    demo.add_argument("--out", type=_folder, default=Path("demo-out"))
    demo.set_defaults(handler=_demo)
    return parser


def _add_export(sub: _Commands) -> None:
    export = sub.add_parser("export", help="export a workspace (incremental unless --full-refresh)")
    export.add_argument("--workspace", help="workspace URL slug")
    export.add_argument("--api-url", help="API base URL (default https://api.roboflow.com)")
    export.add_argument("--verify-tls", action=argparse.BooleanOptionalAction, default=None,
                        help="check the API's TLS certificate (default; --verify-tls undoes "
                        "the config's verify_tls = false)")
    export.add_argument("--out", type=_folder, help="output folder (default ./evals-out)")
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
    export.add_argument("--log-format", choices=["auto", "text", "json"])
    export.add_argument("--metrics-file", type=Path, metavar="PATH",
                        help="write a Prometheus textfile of the run there (atomically)")
    export.set_defaults(handler=_export)


def _add_replay(sub: _Commands) -> None:
    # `normalize` is replay's name before 0.2, kept so existing scripts go on working.
    for name in ("replay", "normalize"):
        replay = sub.add_parser(
            name, help="rebuild a run's tables from its raw archive (no API calls)"
            if name == "replay" else "the old name of replay")
        replay.add_argument("--run", required=True, help="run id (see the runs table)")
        replay.add_argument("--out", type=_folder, required=True)
        replay.set_defaults(handler=_replay)


def _add_dataset_commands(sub: _Commands) -> None:
    """The commands that read a published output folder."""
    views = sub.add_parser("views", help="(re)build OUT/evals.duckdb from sql/")
    views.add_argument("--out", type=_folder, required=True)
    views.set_defaults(handler=_views)

    query = sub.add_parser("query", help="run SQL against OUT/evals.duckdb (read-only)")
    query.add_argument("--out", type=_folder, required=True)
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("--max-rows", type=int, default=None)
    query.add_argument("sql")
    query.set_defaults(handler=_query)

    status = sub.add_parser("status", help="last runs, pending evals and panels in error")
    status.add_argument("--out", type=_folder, required=True)
    status.set_defaults(handler=_status)

    load = sub.add_parser("load", help="load the current dataset into a warehouse (ADBC)")
    load.add_argument("--out", type=_folder, required=True)
    target = load.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="URI", help="postgresql://…, snowflake://… or "
                        "bigquery://… (a password here shows in `ps`: prefer the others)")
    target.add_argument("--to-env", metavar="VAR", help="environment variable holding the URI "
                        "(default: EVALS_ETL_WAREHOUSE_URI)")
    target.add_argument("--to-file", type=Path, metavar="PATH", help="file holding the URI")
    load.add_argument("--schema", default="evals_etl")
    load.set_defaults(handler=_load)


def _export(args: argparse.Namespace) -> int:
    from etl import config as config_module
    from etl import history
    from etl.export import run_export
    from etl.progress import Reporter, resolve_format

    overrides: dict[str, Any] = {
        "workspace": args.workspace,
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
    reporter = Reporter(resolve_format(cfg.log_format, sys.stderr))
    for warning in cfg.warnings:
        reporter.event(warning, level="warning", event="security")
    started = datetime.now(UTC)
    try:
        summary = anyio.run(run_export, cfg, reporter)
    except BaseException as exc:
        code, status, reason = ending(exc)
        if code != EXIT_USAGE:  # a refused folder (not ours, another workspace's) stays untouched
            _record(cfg.output.out, history.failed(started, code, status, reason,
                                                   reporter.run_id, cfg.workspace),
                    args.metrics_file)
        raise
    _record(cfg.output.out, history.finished(started, summary, cfg.workspace), args.metrics_file)
    reporter.event(summary.line(), event="finished", status=summary.status,
                   exit_code=summary.exit_code, run_id=summary.run_id, mode=summary.mode,
                   evals_listed=summary.evals_listed, evals_exported=summary.evals_exported,
                   requests=summary.requests, retries=summary.retries, units=summary.states)
    return summary.exit_code


def _record(out: Path, run: Any, metrics_file: Path | None) -> None:
    from etl import history

    if (warning := history.record_run(out, run, metrics_file)) is not None:
        _say(f"evals-etl: warning: {warning}")


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


def _views(args: argparse.Namespace) -> int:
    from etl import views
    from etl.errors import PublishError
    from etl.store import publish

    # Checked before the lock too, so a mistyped --out gets no state/ folder created in it.
    if publish.find_current(args.out) is None:
        print(f"evals-etl: nothing published in {args.out} yet; run `evals-etl export`",
              file=sys.stderr)
        return EXIT_USAGE
    # Under the run lock, so an export cannot switch snapshots between our read of the
    # current one and our rename of evals.duckdb (which would show the old one again).
    with publish.RunLock(args.out) as lock:
        if lock.note:
            _say(f"evals-etl: {lock.note}")
        for note in publish.restore_link(args.out):
            _say(f"evals-etl: {note}")
        snapshot = publish.current_snapshot(args.out)
        if snapshot is None:
            raise PublishError(f"{args.out} lost its published snapshot meanwhile")
        if (moved := publish.set_aside_wal(args.out)) is not None:
            _say(f"evals-etl: {moved}")
        views.build_database(args.out / "evals.duckdb", snapshot / "tables")
    print(f"built {args.out / 'evals.duckdb'} ({len(views.view_names(args.out / 'evals.duckdb'))} views)")
    return 0


def _readable_database(out: Path, stack: ExitStack) -> Path | None:
    """The database ``query`` and ``status`` read: one whose views read this folder's files.

    ``OUT/evals.duckdb`` as it is when it shows the folder's current snapshot. Otherwise (a
    copied, moved or restored folder, whose database names the original's files; a stray WAL
    that keeps it shut; a lost ``tables`` link) it is rebuilt in place first, under the run
    lock, with a note on stderr. When that cannot be done (a run holds the folder, the disk
    is read-only) the views are built in a temporary folder and read from there. Never a
    database over another folder's files. None when nothing is published.
    """
    from etl import views
    from etl.store import publish

    db = out / "evals.duckdb"
    snapshot = publish.find_current(out)
    if snapshot is None:
        return None
    if views.shows(db, snapshot / "tables"):
        return db
    was = views.recorded_tables(db)
    try:
        with publish.RunLock(out):
            notes = publish.restore_link(out)
            snapshot = publish.current_snapshot(out) or snapshot
            if (note := publish.set_aside_wal(out)) is not None:
                notes.append(note)
            views.build_database(db, snapshot / "tables")
    except (EtlError, OSError) as exc:
        if was is not None and _inside(Path(was), out / "snapshots") and Path(was).is_dir():
            return db  # a run is switching this folder's snapshots: its own files, consistent
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="evals-etl-")))
        views.build_database(tmp / "evals.duckdb", snapshot / "tables")
        _say(f"evals-etl: {db} does not show this folder's snapshot {snapshot.name} and cannot "
             f"be rebuilt now ({exc}); answering from views built in a temporary folder")
        return tmp / "evals.duckdb"
    why = (f"it read {was}, not this folder's files" if was is not None
           else "it was missing or would not open")
    for note in [*notes, f"rebuilt {db} over snapshot {snapshot.name} ({why})"]:
        _say(f"evals-etl: {note}")
    return db


def _inside(tables: Path, snapshots: Path) -> bool:
    """Whether ``tables`` is ``snapshots/<id>/tables`` of this very folder."""
    return Path(os.path.realpath(tables)).parent.parent == Path(os.path.realpath(snapshots))


def _unpublished(out: Path) -> int:
    db = out / "evals.duckdb"
    what = f"{db} does not exist" if not db.exists() else f"nothing is published in {out}"
    print(f"evals-etl: {what}; run `evals-etl export` first", file=sys.stderr)
    return EXIT_USAGE


def _query(args: argparse.Namespace) -> int:
    from etl import views

    with ExitStack() as stack:
        db = _readable_database(args.out, stack)
        if db is None:
            return _unpublished(args.out)
        try:
            print(views.query(db, args.sql, args.format, args.max_rows))
        except Exception as exc:  # duckdb's errors are the user's SQL errors here
            if type(exc).__module__.startswith(("duckdb", "_duckdb")):
                print(f"evals-etl: query failed: {exc}", file=sys.stderr)
                return EXIT_USAGE
            raise
    return 0


def _status(args: argparse.Namespace) -> int:
    from etl import views

    sections = {
        "last runs": "select run_id, mode, status, started_at, finished_at, evals_listed, "
        "evals_exported, requests, retries, errors from runs order by started_at desc limit 5",
        "pending evals (running or failed)": "select eval_id, status, project, version_id, "
        "created_at from evaluations where status <> 'done' and listed order by created_at desc",
        "panels not ok": "select eval_id, panel, params, state, http_status, error_code, message "
        "from panel_status where state in ('error', 'unavailable') order by eval_id, panel, params",
    }
    with ExitStack() as stack:
        db = _readable_database(args.out, stack)
        if db is None:
            return _unpublished(args.out)
        for title, sql in sections.items():
            print(f"== {title}")
            print(views.query(db, sql, "table", 50))
    return 0


def _load(args: argparse.Namespace) -> int:
    from etl import config as config_module
    from etl import warehouse

    uri, warnings = config_module.warehouse_uri(args.to, args.to_env, args.to_file)
    for warning in warnings:
        _say(f"evals-etl: warning: {warning}")
    result = warehouse.load(args.out, uri, schema=args.schema)
    print(result)
    return 0


def _add_report(sub: _Commands) -> None:
    report = sub.add_parser("report", help="an offline HTML report of the published dataset")
    report.add_argument("--out", type=Path, required=True, help="the output folder to read")
    report.add_argument("--to", type=Path, help="the report's folder (default OUT/report)")
    report.add_argument("--project", dest="projects", action="append", default=[],
                        metavar="P", help="only this project's evals (repeatable)")
    report.add_argument("--eval", dest="eval_ids", action="append", default=[], metavar="ID",
                        help="only this eval (repeatable; added to the --project evals)")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from etl.report import build_report

    result = build_report(args.out, args.to, projects=args.projects, eval_ids=args.eval_ids)
    print(result.line())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from etl.demo import run_demo

    return run_demo(args.out)


if __name__ == "__main__":
    raise SystemExit(main())
