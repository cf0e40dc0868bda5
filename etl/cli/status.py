"""``status``: the last runs (failed ones too), pending evals, panels not ok, the data's age.

With ``--check`` it is a health check for cron, systemd or a monitoring agent: one line
saying why, and exit 0 when healthy or 8 when not (see :mod:`etl.health`). The runs come
from ``state/history.jsonl``, which records every run however it ended; a folder written
before that file existed falls back to the published ``runs`` table.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl.cli.common import Commands, folder
from etl.errors import EXIT_CHECK_FAILED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, ConfigError

_PENDING = ("select eval_id, status, project, version_id, created_at from evaluations "
            "where status <> 'done' and listed order by created_at desc")
_NOT_OK = ("select eval_id, panel, params, state, http_status, error_code, message "
           "from panel_status where state in ('error', 'unavailable') "
           "order by eval_id, panel, params")
_RUN_COLUMNS = ("run_id", "status", "exit_code", "started_at", "finished_at", "mode",
                "evals_listed", "evals_exported", "requests", "retries", "reason")


def register(sub: Commands) -> None:
    status = sub.add_parser(
        "status", help="last runs (failed ones too), pending evals, panels not ok; "
        "--check makes it a health check")
    status.add_argument("--out", type=folder, required=True)
    status.add_argument("--format", choices=["text", "json"], default="text")
    status.add_argument("--check", action="store_true",
                        help="exit 0 when the last run is healthy, 8 (with the reason) if not")
    status.add_argument("--max-age", type=float, metavar="HOURS",
                        help="with --check: unhealthy when the published data is older")
    status.add_argument("--config", type=Path,
                        help="read [health] (accept_partial, max_age_hours) from this file")
    status.add_argument("--runs", type=int, default=5, metavar="N", help="runs to show")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    from etl import config, folders, health, history

    folders.check_readable(args.out)
    settings = config.health(args.config)
    if args.max_age is not None and not args.max_age > 0:
        raise ConfigError("--max-age takes a number of hours above 0")
    max_age = args.max_age if args.max_age is not None else settings.max_age_hours
    with ExitStack() as stack:
        panels = _published(args.out, stack)
        runs = history.read(args.out) or (panels or {}).get("runs", [])
        if not runs and panels is None and not args.check:
            print(f"evals-etl: no run is recorded in {args.out}; run `evals-etl export "
                  f"--out {args.out}` first", file=sys.stderr)
            return EXIT_USAGE
        judged = health.verdict(runs, datetime.now(UTC), max_age_hours=max_age,
                                accept_partial=settings.accept_partial)  # type: ignore[arg-type]
    code = EXIT_OK if judged.healthy or not args.check else EXIT_CHECK_FAILED
    report = {"out": str(args.out), "healthy": judged.healthy, "reason": judged.reason,
              "data_age_hours": None if judged.data_age_hours is None
              else round(judged.data_age_hours, 3),
              "max_age_hours": max_age, "accept_partial": settings.accept_partial,
              "runs": list(reversed(runs[-args.runs:])) if args.runs > 0 else [],
              **{k: v for k, v in (panels or {}).items() if k != "runs"}}
    if args.format == "json":
        print(json.dumps(report, default=str, ensure_ascii=False))
    elif args.check:
        print(f"{'healthy' if judged.healthy else 'unhealthy'}: {judged.reason}")
    else:
        _print_text(report)
    return code


def _published(out: Path, stack: ExitStack) -> dict[str, Any] | None:
    """Pending evals, panels not ok and the published runs, from the views (None: nothing
    is published yet)."""
    from etl import views
    from etl.cli.dataset import readable_database

    db = readable_database(out, stack)
    if db is None:
        return None

    def rows(sql: str) -> list[dict[str, Any]]:
        # Through JSON on purpose: timestamps come back as the text history.jsonl holds.
        text = views.query(db, sql, "json")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    published = rows("select * from runs order by started_at")
    for run in published:  # the record history.jsonl would hold, for folders without one
        run.setdefault("published", True)
        run.setdefault("exit_code", {"success": EXIT_OK, "partial": EXIT_PARTIAL}.get(
            str(run.get("status")), 6))
    return {"pending_evals": rows(_PENDING), "panels_not_ok": rows(_NOT_OK),
            "runs": published}


def _print_text(report: dict[str, Any]) -> None:
    age = report["data_age_hours"]
    print(f"health: {'ok' if report['healthy'] else 'NOT OK'}: {report['reason']}")
    print(f"data age: {'never published' if age is None else f'{age:.1f} h'}")
    sections = {"last runs": [{k: r.get(k) for k in _RUN_COLUMNS} for r in report["runs"]],
                "pending evals (running or failed)": report.get("pending_evals", []),
                "panels not ok": report.get("panels_not_ok", [])}
    for title, items in sections.items():
        print(f"== {title}")
        print(_table(items))


def _table(items: list[dict[str, Any]], limit: int = 50) -> str:
    from etl import tabular

    if not items:
        return "(none)"
    columns = list(items[0])
    shown = [tuple(r.get(c) for c in columns) for r in items[:limit]]
    return tabular.table(columns, shown, total=len(items))
