"""Every run on record, however it ended: ``OUT/state/history.jsonl``, one JSON object a line.

The published ``runs`` table holds the runs that published; a run refused its key, stopped by
the API being down before the listing, by a held lock, a full disk or a signal publishes
nothing, so it is only here. ``evals-etl status`` reads both, and the metrics textfile and
health checks are built from the same record. Appending one short line is atomic enough for
a log (``O_APPEND``); a torn last line (power cut) is skipped when reading.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.export import RunSummary

HISTORY = Path("state") / "history.jsonl"
# A little room kept for the record of a run that a full disk stopped: freed to write that
# line (the one moment it matters), made again by the next run that has room.
RESERVE = Path("state") / "history.reserve"
RESERVE_BYTES = 64 * 1024
KEEP_LINES = 1000  # a few years of nightly runs; older lines are dropped when it grows past 2x


@dataclass(frozen=True)
class RunRecord:
    status: str  # success, partial, failed, refused, interrupted
    exit_code: int
    started_at: str
    finished_at: str
    seconds: float
    run_id: str | None = None
    reason: str | None = None  # why it did not succeed, in one line
    mode: str | None = None
    published: bool = False
    workspace: str | None = None
    evals_listed: int | None = None
    evals_exported: int | None = None
    requests: int | None = None
    retries: int | None = None
    units: Mapping[str, int] = field(default_factory=dict)  # by panel state
    listing_complete: bool | None = None  # None: the run never got a listing
    workspaces: tuple[Mapping[str, Any], ...] = ()  # how each ended, when several

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "units": dict(self.units),
                "workspaces": [dict(w) for w in self.workspaces]}


def record(out: Path, run: RunRecord) -> bool:
    """Append ``run`` to ``out``'s history; False (and nothing written) when ``out`` is not a
    folder evals-etl has run in, or the disk refuses the line (a full disk must not turn a
    clear error into another one)."""
    path = Path(out) / HISTORY
    if not (path.parent / "lock").exists():  # never ours: write nothing into it
        return False
    line = (json.dumps(run.as_dict(), default=str, ensure_ascii=False) + "\n").encode()
    reserve = Path(out) / RESERVE
    try:
        _append(path, line)
    except OSError as exc:
        if exc.errno != errno.ENOSPC or not reserve.exists():
            return False
        try:
            reserve.unlink()
            _append(path, line)
        except OSError:
            return False
        return True  # no reserve again until a run finds room for it
    try:
        _trim(path)
        if not reserve.exists():
            reserve.write_bytes(b"\0" * RESERVE_BYTES)
    except OSError:
        reserve.unlink(missing_ok=True)  # a torn reserve is no reserve; the line is written
    return True


def _append(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if os.write(fd, line) != len(line):
            raise OSError(errno.ENOSPC, "short write")
    finally:
        os.close(fd)


def read(out: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The recorded runs, newest last (the last ``limit`` of them)."""
    try:
        raw = (Path(out) / HISTORY).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    runs = []
    for line in raw.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a torn line
        if isinstance(item, dict):
            runs.append(item)
    return runs[-limit:] if limit else runs


def _trim(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    if len(lines) <= 2 * KEEP_LINES:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(lines[-KEEP_LINES:]))
    os.replace(tmp, path)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def finished(started: datetime, summary: RunSummary, workspace: str) -> RunRecord:
    """The record of a run that got as far as publishing."""
    now = datetime.now(UTC)
    return RunRecord(
        status=summary.status, exit_code=summary.exit_code, started_at=_iso(started),
        finished_at=_iso(now), seconds=round((now - started).total_seconds(), 3),
        run_id=summary.run_id, reason=next(iter(summary.problems), None), mode=summary.mode,
        published=True, workspace=workspace, evals_listed=summary.evals_listed,
        evals_exported=summary.evals_exported, requests=summary.requests,
        retries=summary.retries, units=dict(summary.states),
        listing_complete=not any(p.startswith("listing incomplete") for p in summary.problems),
        workspaces=summary.workspaces if len(summary.workspaces) > 1 else ())


def failed(started: datetime, exit_code: int, status: str, reason: str, run_id: str | None,
           workspace: str) -> RunRecord:
    """The record of a run that ended before publishing."""
    now = datetime.now(UTC)
    return RunRecord(status=status, exit_code=exit_code, started_at=_iso(started),
                     finished_at=_iso(now), seconds=round((now - started).total_seconds(), 3),
                     run_id=run_id, reason=reason, workspace=workspace)


def record_run(out: Path, run: RunRecord, metrics_file: Path | None) -> str | None:
    """``run`` into the folder's history, and the metrics textfile if one was asked for;
    returns a warning when the textfile could not be written."""
    from etl import metrics

    record(out, run)
    if metrics_file is None:
        return None
    done = [r for r in read(out) if r.get("published")]
    try:
        metrics.write(metrics_file, metrics.render(run.as_dict(), done[-1] if done else None))
    except OSError as exc:
        return f"cannot write the metrics file {metrics_file}: {exc.strerror or exc}"
    return None
