"""The commands that read a published output folder: ``views``, ``query``, ``load``, ``report``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from etl import folders
from etl.cli.common import Commands, folder, say, unpublished
from etl.errors import EXIT_USAGE, EtlError

# Enough rows to read on one screen; the rest are counted on stderr (--max-rows 0 shows all).
TERMINAL_ROWS = 40


def register(sub: Commands) -> None:
    """The commands that read a published output folder."""
    views = sub.add_parser("views", help="(re)build OUT/evals.duckdb from sql/")
    views.add_argument("--out", type=folder, required=True)
    views.set_defaults(handler=_views)

    query = sub.add_parser("query", help="run SQL against OUT/evals.duckdb (read-only)")
    query.add_argument("--out", type=folder, required=True)
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("--max-rows", type=_row_count, default=None, metavar="N",
                       help=f"print at most N rows (0: all; default: all, or {TERMINAL_ROWS} "
                            "in table format on a terminal); a note on stderr counts the rest")
    query.add_argument("sql")
    query.set_defaults(handler=_query)

    load = sub.add_parser("load", help="load the current dataset into a warehouse (ADBC)")
    load.add_argument("--out", type=folder, required=True)
    target = load.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="URI", help="postgresql://…, snowflake://…, "
                        "bigquery://…, or iceberg+sql:// / iceberg+postgresql:// / "
                        "iceberg+rest:// with ?warehouse=s3://… (a password here shows in "
                        "`ps`: prefer the others)")
    target.add_argument("--to-env", metavar="VAR", help="environment variable holding the URI "
                        "(default: EVALS_ETL_WAREHOUSE_URI)")
    target.add_argument("--to-file", type=Path, metavar="PATH", help="file holding the URI")
    load.add_argument("--schema", default="evals_etl")
    load.set_defaults(handler=_load)
    _add_report(sub)


def _add_report(sub: Commands) -> None:
    report = sub.add_parser("report", help="an offline HTML report of the published dataset")
    report.add_argument("--out", type=folder, required=True, help="the output folder to read")
    report.add_argument("--to", type=Path, help="the report's folder (default OUT/report)")
    report.add_argument("--project", dest="projects", action="append", default=[],
                        metavar="P", help="only this project's evals (repeatable)")
    report.add_argument("--eval", dest="eval_ids", action="append", default=[], metavar="ID",
                        help="only this eval (repeatable; added to the --project evals)")
    report.set_defaults(handler=_report)


def _views(args: argparse.Namespace) -> int:
    folders.check_readable(args.out)
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
            say(f"evals-etl: {lock.note}")
        for note in publish.restore_link(args.out):
            say(f"evals-etl: {note}")
        snapshot = publish.current_snapshot(args.out)
        if snapshot is None:
            raise PublishError(f"{args.out} lost its published snapshot meanwhile")
        if (moved := publish.set_aside_wal(args.out)) is not None:
            say(f"evals-etl: {moved}")
        views.build_database(args.out / "evals.duckdb", snapshot / "tables")
    print(f"built {args.out / 'evals.duckdb'} ({len(views.view_names(args.out / 'evals.duckdb'))} views)")
    return 0


def readable_database(out: Path, stack: ExitStack) -> Path | None:
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
        say(f"evals-etl: {db} does not show this folder's snapshot {snapshot.name} and cannot "
             f"be rebuilt now ({exc}); answering from views built in a temporary folder")
        return tmp / "evals.duckdb"
    why = _why_rebuilt(was, snapshot / "tables")
    for note in [*notes, f"rebuilt {db} over snapshot {snapshot.name} ({why})"]:
        say(f"evals-etl: {note}")
    return db


def _why_rebuilt(was: str | None, tables: Path) -> str:
    if was is None:
        return "it was missing or would not open"
    if os.path.realpath(was) == os.path.realpath(tables):
        return "its views were built from older SQL"
    return f"it read {was}, not this folder's files"


def _inside(tables: Path, snapshots: Path) -> bool:
    """Whether ``tables`` is ``snapshots/<id>/tables`` of this very folder."""
    return Path(os.path.realpath(tables)).parent.parent == Path(os.path.realpath(snapshots))


def _query(args: argparse.Namespace) -> int:
    folders.check_readable(args.out)
    from etl import views

    with ExitStack() as stack:
        db = readable_database(args.out, stack)
        if db is None:
            return unpublished(args.out)
        limit = row_limit(args.format, args.max_rows, sys.stdout.isatty())
        try:
            answer = views.run_query(db, args.sql, args.format, limit)
            print(answer.text)
            if answer.left_out:
                say(f"evals-etl: {answer.shown:,} of {answer.total:,} rows shown, "
                    f"{answer.left_out:,} left out (--max-rows N for more, 0 for all)")
        except Exception as exc:  # duckdb's errors are the user's SQL errors here
            if type(exc).__module__.startswith(("duckdb", "_duckdb")):
                print(f"evals-etl: query failed: {exc}", file=sys.stderr)
                return EXIT_USAGE
            raise
    return 0


def _row_count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: a row count is 0 (all) or more")
    return value


def row_limit(fmt: str, max_rows: int | None, terminal: bool) -> int | None:
    """The rows ``query`` prints: ``--max-rows`` (0 = all) when given, else all of them,
    except a table on a terminal, which gets a screenful."""
    if max_rows is not None:
        return max_rows or None
    return TERMINAL_ROWS if fmt == "table" and terminal else None


def _load(args: argparse.Namespace) -> int:
    folders.check_readable(args.out)
    from etl import config as config_module
    from etl import warehouse

    uri, warnings = config_module.warehouse_uri(args.to, args.to_env, args.to_file)
    for warning in warnings:
        say(f"evals-etl: warning: {warning}")
    result = warehouse.load(args.out, uri, schema=args.schema)
    print(result)
    return 0


def _report(args: argparse.Namespace) -> int:
    folders.check_readable(args.out)
    from etl.report import build_report

    result = build_report(args.out, args.to, projects=args.projects, eval_ids=args.eval_ids)
    print(result.line())
    return 0
