"""``status``: the last runs, pending evals, panels not ok; with ``--check``, a health check."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from etl.cli.common import Commands, folder, unpublished


def register(sub: Commands) -> None:
    status = sub.add_parser("status", help="last runs, pending evals and panels in error")
    status.add_argument("--out", type=folder, required=True)
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    from etl import views
    from etl.cli.dataset import readable_database

    sections = {
        "last runs": "select run_id, mode, status, started_at, finished_at, evals_listed, "
        "evals_exported, requests, retries, errors from runs order by started_at desc limit 5",
        "pending evals (running or failed)": "select eval_id, status, project, version_id, "
        "created_at from evaluations where status <> 'done' and listed order by created_at desc",
        "panels not ok": "select eval_id, panel, params, state, http_status, error_code, message "
        "from panel_status where state in ('error', 'unavailable') order by eval_id, panel, params",
    }
    with ExitStack() as stack:
        db = readable_database(args.out, stack)
        if db is None:
            return unpublished(args.out)
        for title, sql in sections.items():
            print(f"== {title}")
            print(views.query(db, sql, "table", 50))
    return 0


