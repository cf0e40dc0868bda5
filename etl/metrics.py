"""A Prometheus textfile of the last run, for node_exporter's textfile collector.

Written atomically (a temp file renamed into place) at the end of every run, however it
ended, from the same record as the run history, so the dashboard and ``evals-etl status``
never disagree. ``evals_etl_last_success_timestamp_seconds`` is the data's age: alert on
``time() - evals_etl_last_success_timestamp_seconds > 26 * 3600`` for a nightly job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

STATUSES = ("success", "partial", "failed", "refused", "interrupted")
STATES = ("ok", "not_done", "unavailable", "not_materialized", "error", "not_attempted")


def render(run: Mapping[str, Any], last_success: Mapping[str, Any] | None) -> str:
    """The textfile for ``run`` (a history record) and the last successful one."""
    ws = {"workspace": str(run.get("workspace") or "")}
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP evals_etl_{name} {help_}")
        lines.append(f"# TYPE evals_etl_{name} {kind}")
        lines.extend(f"evals_etl_{name}{_labels(labels)} {_number(value)}"
                     for labels, value in samples)

    metric("run_status", "gauge", "1 for the status the last run ended with",
           (({**ws, "status": s}, float(run.get("status") == s)) for s in STATUSES))
    metric("run_exit_code", "gauge", "exit code of the last run",
           [(ws, run.get("exit_code", -1))])
    metric("run_duration_seconds", "gauge", "wall time of the last run",
           [(ws, run.get("seconds", 0.0))])
    metric("run_finished_timestamp_seconds", "gauge", "when the last run ended",
           [(ws, _timestamp(run.get("finished_at")))])
    metric("run_requests", "gauge", "HTTP requests the last run sent, retries included",
           [(ws, run.get("requests") or 0)])
    metric("run_retries", "gauge", "retried attempts in the last run",
           [(ws, run.get("retries") or 0)])
    metric("run_evals", "gauge", "evaluations the last run listed and exported",
           [({**ws, "kind": "listed"}, run.get("evals_listed") or 0),
            ({**ws, "kind": "exported"}, run.get("evals_exported") or 0)])
    units = run.get("units") or {}
    metric("run_units", "gauge", "panel units of the last run by outcome",
           (({**ws, "state": s}, units.get(s, 0)) for s in STATES))
    success = _timestamp(last_success.get("finished_at")) if last_success else 0.0
    metric("last_success_timestamp_seconds", "gauge",
           "when a run last published completely or partially (the data's age)",
           [(ws, success)])
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a scraper never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _labels(labels: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


def _number(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def _timestamp(text: Any) -> float:
    if not isinstance(text, str):
        return 0.0
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0
