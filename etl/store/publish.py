"""Publishing: the commit sequence of a new snapshot (merged by :mod:`etl.store.merge`), recovery.

Layout of an output folder ``OUT``::

    evals.duckdb                  views over the current snapshot (absolute paths)
    tables -> snapshots/<id>/tables    relative symlink: THE commit point
    snapshots/<id>/tables/<table>/data.parquet   every table, zero-row files included
    snapshots/<id>/manifest.json  run_id, created_at, staging, rows per table, schema_version
    staging/<run>/                a run's work in progress (tables/, archive/, journal.jsonl,
                                  resumed/: files taken over from a killed run)
    runs/<run_id>/archive/        the raw responses of a published run (Parquet parts)
    state/lock                    the run lock (:mod:`etl.store.runlock`)

Snapshot ids are ``<seq:06d>-<run_id>``: the sequence orders snapshots even when a replay
publishes under an old run id.

Commit protocol (each step is a crash point of :mod:`etl.crashpoints`)::

    staged            publish called; nothing written yet
    snapshot-written  snapshots/<id> complete and fsynced, unreferenced
    views-built       OUT/.evals.duckdb.<id>.tmp holds views over snapshots/<id>/tables
    tables-switched   `tables` now points at the new snapshot (os.replace of a new symlink)
    switched          evals.duckdb replaced by the new database (os.replace)
    cleaned           archive moved to runs/, staging deleted, old snapshots pruned

Up to ``views-built`` the old state is untouched: a crash leaves only an unreferenced snapshot
newer than the current one and temp files, which :func:`recover` deletes. The views read
absolute snapshot paths, not the ``tables`` link: a reader that opened ``evals.duckdb`` keeps
one consistent snapshot for as long as it reads, whatever publishes meanwhile, and an older
snapshot's files still bind against the views of their own time. The price is a window of
two renames between ``tables-switched`` and ``switched`` in which ``tables`` is new and
``evals.duckdb`` still shows the previous, complete snapshot; each is consistent on its own,
and a crash there is repaired by :func:`recover`, which rebuilds ``evals.duckdb`` whenever it
does not point at the current snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow.parquet as pq

from etl import crashpoints
from etl.errors import PublishError
from etl.panels import EvalListing, PreviousState
from etl.schemas import TABLES
from etl.store.commit import Commit
from etl.store.merge import DATA_FILE, Merge
from etl.store.runlock import RunLock
from etl.timestamps import iso_utc

__all__ = [  # Commit and RunLock live in their own modules; callers take them from here
    "Commit", "RunLock", "Views", "current_snapshot", "publish", "read_current",
    "read_manifest", "read_previous_state", "recover", "schema_version",
]

DB = "evals.duckdb"
LINK = "tables"
MANIFEST = "manifest.json"
_SNAPSHOT_ID = re.compile(r"^(\d{6})-[A-Za-z0-9._-]+$")
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]+$")


# --------------------------------------------------------------------------- reading


def current_snapshot(out: Path) -> Path | None:
    """``OUT/snapshots/<id>`` that ``OUT/tables`` points at, or None before the first publish."""
    link = Path(out) / LINK
    if not link.is_symlink():
        return None
    snapshot = Path(out) / Path(os.readlink(link)).parent
    return snapshot if (snapshot / LINK).is_dir() else None


def read_manifest(snapshot: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((snapshot / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read the manifest of {snapshot}: {exc}") from exc
    return data


def read_previous_state(out: Path) -> PreviousState | None:
    """The listing fields and unit states of the current snapshot, for incremental planning.

    ``created_at`` comes back in the API's own format (``2026-04-27T20:04:10.904Z``), so an
    unchanged listing row compares equal.
    """
    snapshot = current_snapshot(out)
    if snapshot is None:
        return None
    evals = _read_columns(snapshot, "evaluations", [
        "eval_id", "status", "project", "version_id", "model_id", "created_at", "model_url"])
    units = _read_columns(snapshot, "panel_status", ["eval_id", "panel", "params", "state"])
    return PreviousState(
        evals={
            r["eval_id"]: EvalListing(
                r["eval_id"], r["status"], r["project"], r["version_id"], r["model_id"],
                _api_time(r["created_at"]), r["model_url"])
            for r in evals
        },
        units={(r["eval_id"], r["panel"], r["params"]): r["state"] for r in units},
    )


def read_current(out: Path, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the current snapshot (empty before the first publish)."""
    snapshot = current_snapshot(out)
    if snapshot is None:
        return []
    rows: list[dict[str, Any]] = pq.read_table(snapshot / LINK / table / DATA_FILE).to_pylist()
    return rows


def _read_columns(snapshot: Path, table: str, columns: list[str]) -> list[dict[str, Any]]:
    path = snapshot / LINK / table / DATA_FILE
    present = set(pq.read_schema(path).names)
    rows: list[dict[str, Any]] = pq.read_table(
        path, columns=[c for c in columns if c in present]).to_pylist()
    return [{c: row.get(c) for c in columns} for row in rows]  # older snapshots: NULL


def _api_time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


# --------------------------------------------------------------------------- recovery


def recover(out: Path, views: Views, *, keep_staging: str | None = None) -> list[str]:
    """Undo what a crashed run left behind; call it holding the :class:`RunLock`.

    Deletes staging folders, snapshots newer than the current one (a crash before the
    switch) and temp files; finishes moving the archive of a run that crashed after its
    switch; rebuilds ``evals.duckdb`` when it is missing or shows another snapshot.
    Returns one human note per repair.
    """
    out = Path(out)
    notes: list[str] = []
    current = current_snapshot(out)
    if current is None and (out / LINK).is_symlink():
        raise PublishError(f"{out / LINK} points at a snapshot that no longer exists; "
                           f"point it at one of {out / 'snapshots'} or delete it")
    manifest = read_manifest(current) if current is not None else {}
    notes += _clear_staging(out, manifest, keep_staging)
    notes += _clear_snapshots(out, current)
    for path in sorted(out.glob(".*")):
        if path.name.endswith((".tmp", ".tmp.wal")):
            path.unlink(missing_ok=True)
            notes.append(f"removed the temp file {path.name} of an interrupted publish")
    if current is not None and not views.shows(out / DB, current / LINK):
        views.build(out / DB, current / LINK)
        notes.append(f"rebuilt {DB} over snapshot {current.name}")
    return notes


def _clear_staging(out: Path, manifest: dict[str, Any], keep: str | None) -> list[str]:
    notes = []
    root = out / "staging"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name == keep:
            continue  # the running run's own (it may hold files taken over from another)
        archive = _staged_archive(folder)
        if folder.name == manifest.get("staging") and archive is not None:
            _move_archive(out, archive, str(manifest["run_id"]))
            notes.append(f"moved the archive of published run {manifest['run_id']} to runs/")
        shutil.rmtree(folder)
        notes.append(f"removed staging/{folder.name} left by an interrupted run")
    return notes


def _staged_archive(staging: Path) -> Path | None:
    """A staging folder's archive: ``archive/`` (or ``archive.parquet`` before 0.2)."""
    for candidate in (staging / "archive", staging / "archive.parquet"):
        if candidate.exists():
            return candidate
    return None


def run_archive(out: Path, run_id: str) -> Path | None:
    """The archive of a published run, in either layout; None when there is none."""
    for candidate in (out / "runs" / run_id / "archive", out / "runs" / run_id / "archive.parquet"):
        if candidate.exists():
            return candidate
    return None


def _clear_snapshots(out: Path, current: Path | None) -> list[str]:
    notes = []
    floor = -1 if current is None else _seq(current.name)
    for folder in _snapshot_folders(out):
        if folder != current and (_seq(folder.name) > floor or _seq(folder.name) < 0):
            shutil.rmtree(folder)
            notes.append(f"removed snapshots/{folder.name}, written but never published")
    return notes


# --------------------------------------------------------------------------- publishing


class Views(Protocol):
    """The views layer as the store needs it; the store never imports it (``etl.views`` does)."""

    def build(self, db: Path, tables: Path) -> None:
        """(Re)create ``db`` with views over the snapshot tables folder ``tables``."""

    def shows(self, db: Path, tables: Path) -> bool:
        """Whether ``db`` exists, opens, and reads ``tables``."""


def publish(out: Path, commit: Commit, *, keep: int, views: Views) -> Path:
    """Merge a run's staged rows into a new snapshot and switch to it; returns the snapshot.

    The merge itself is :class:`etl.store.merge.Merge`; the switch is the commit sequence of
    this module's docstring.
    """
    crashpoints.reach("staged")
    out, staging, run_id = Path(out), Path(commit.staging), commit.run_id
    if not _RUN_ID.match(run_id):
        raise PublishError(f"run id {run_id!r} cannot name a snapshot folder")
    previous = current_snapshot(out)
    snapshot_id = _next_snapshot_id(out, run_id)
    snapshot = out / "snapshots" / snapshot_id
    next_db = out / f".{DB}.{snapshot_id}.tmp"
    merge = Merge(previous / LINK if previous is not None else None, snapshot / LINK, staging)
    try:
        rows = merge.run(commit)
        _write_manifest(snapshot, snapshot_id, run_id, staging, previous, rows)
        _fsync_tree(snapshot)
        crashpoints.reach("snapshot-written")
        views.build(next_db, snapshot / LINK)
        crashpoints.reach("views-built")
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        next_db.unlink(missing_ok=True)
        raise
    try:
        _switch_link(out, snapshot_id)
        crashpoints.reach("tables-switched")
        os.replace(next_db, out / DB)
        _fsync_dir(out)
    except OSError as exc:
        raise PublishError(f"cannot switch {out} to snapshot {snapshot_id}: {exc}") from exc
    crashpoints.reach("switched")
    try:
        _clean_up(out, staging, run_id, snapshot, max(keep, 1))
    except OSError as exc:  # published all the same; the next recover() finishes the job
        raise PublishError(f"published snapshot {snapshot_id}, but cleaning up failed: {exc}"
                           ) from exc
    crashpoints.reach("cleaned")
    return snapshot


def _snapshot_folders(out: Path) -> list[Path]:
    root = out / "snapshots"
    folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return sorted(folders, key=lambda p: (_seq(p.name), p.name))


def _seq(name: str) -> int:
    match = _SNAPSHOT_ID.match(name)
    return int(match.group(1)) if match else -1


def _next_snapshot_id(out: Path, run_id: str) -> str:
    last = max((_seq(p.name) for p in _snapshot_folders(out)), default=0)
    return f"{last + 1:06d}-{run_id}"


def schema_version() -> str:
    """A fingerprint of every table's columns, types and grain: changes when the contract does."""
    text = "\n".join(
        f"{t.name}|{','.join(t.grain)}|"
        + t.schema.to_string(show_field_metadata=False, show_schema_metadata=False)
        for t in TABLES.values()
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_manifest(snapshot: Path, snapshot_id: str, run_id: str, staging: Path,
                    previous: Path | None, rows: dict[str, int]) -> None:
    manifest = {
        "snapshot": snapshot_id,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "staging": staging.name,
        "previous": previous.name if previous is not None else None,
        "schema_version": schema_version(),
        "rows": rows,
    }
    (snapshot / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _switch_link(out: Path, snapshot_id: str) -> None:
    link = out / LINK
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is a folder, not the snapshot link; move it away first")
    tmp = out / f".{LINK}.{snapshot_id}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(f"snapshots/{snapshot_id}/{LINK}", tmp)
    os.replace(tmp, link)


def _clean_up(out: Path, staging: Path, run_id: str, snapshot: Path, keep: int) -> None:
    archive = _staged_archive(staging)
    if archive is not None:
        _move_archive(out, archive, run_id)
    shutil.rmtree(staging, ignore_errors=True)
    folders = _snapshot_folders(out)
    kept = folders[-keep:]
    if snapshot not in kept:  # never the current one, whatever sorts after it
        kept.append(snapshot)
    for folder in folders:
        if folder not in kept:
            shutil.rmtree(folder)
    # The archives of the runs the kept snapshots came from; older ones go with them.
    kept_runs = {str(read_manifest(p).get("run_id")) for p in kept}
    runs = out / "runs"
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        if folder.name not in kept_runs:
            shutil.rmtree(folder)


def _move_archive(out: Path, archive: Path, run_id: str) -> None:
    target = out / "runs" / run_id / archive.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():  # the same run's archive again (as a file would be, it is replaced)
        old = target.with_name(f".{target.name}.replaced")
        os.replace(target, old)
        os.replace(archive, target)
        shutil.rmtree(old)
        return
    os.replace(archive, target)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    # A power cut after the switch must not find the link pointing at unwritten pages.
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))
