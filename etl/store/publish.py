"""Publishing: the commit sequence of a new snapshot (merged by :mod:`etl.store.merge`), recovery.

Layout of an output folder ``OUT`` (names and how they are told from litter:
:mod:`etl.store.layout`)::

    .evals-etl.json               the ownership marker (:mod:`etl.store.ownership`)
    evals.duckdb                  views over the current snapshot (absolute paths)
    tables -> snapshots/<id>/tables    relative symlink: THE commit point
    snapshots/<id>/tables/<table>/data.parquet   every table, zero-row files included, 0444
    snapshots/<id>/manifest.json  run_id, created_at, staging, rows and SHA-256 per table
    staging/<run>/                a run's work in progress (tables/, archive/, journal.jsonl,
                                  resumed/: files taken over from a killed run)
    runs/<run_id>/archive/        the raw responses of a published run (Parquet parts)
    state/lock                    the run lock (:mod:`etl.store.runlock`)

Snapshot ids are ``<seq:06d>-<run_id>``: the sequence orders snapshots even when a replay
publishes under an old run id.

Commit protocol (each step is a crash point of :mod:`etl.crashpoints`)::

    staged            publish called; nothing written yet
    snapshot-written  snapshots/<id> complete, read-only and fsynced, unreferenced
    views-built       OUT/.evals.duckdb.<id>.tmp holds views over snapshots/<id>/tables
    tables-switched   `tables` now points at the new snapshot (os.replace of a new symlink)
    switched          evals.duckdb replaced by the new database (os.replace)
    cleaned           archive moved to runs/, staging deleted, old snapshots pruned

Up to ``views-built`` the old state is untouched: a crash leaves only an unreferenced snapshot
newer than the current one and temp files, which :func:`recover` deletes. The views read
absolute snapshot paths, not the ``tables`` link: a reader that opened ``evals.duckdb`` keeps
one consistent snapshot for as long as it reads, whatever publishes meanwhile (retention keeps
a replaced snapshot ``keep_days`` days), and an older snapshot's files still bind against the
views of their own time. The price is a window of two renames between ``tables-switched`` and
``switched`` in which ``tables`` is new and ``evals.duckdb`` still shows the previous,
complete snapshot; each is consistent on its own, and a crash there is repaired by
:func:`recover`, which rebuilds ``evals.duckdb`` whenever it does not point at the current
snapshot.

The current snapshot never hangs on the link alone: :func:`restore_link` puts a lost or
dangling ``tables`` link back on the newest complete snapshot (complete: its manifest reads
and every table file it lists is there, at the recorded size), and a ``tables`` that became a
real folder (``cp -rL``, a zip) is set aside (or removed when it is a byte-identical copy of
a snapshot). Nothing is pruned or cleared because the link is gone.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from etl import crashpoints
from etl.errors import PublishError
from etl.store import layout
from etl.store.commit import Commit
from etl.store.layout import DB, LINK
from etl.store.merge import PUBLISH_THREADS, Merge, Premerged, SnapshotDamaged
from etl.store.repair import (  # re-exported: callers use publish.X
    _staged_archive,
    prepare,
    recover,
    restore_link,
    run_archive,
    set_aside_wal,
)
from etl.store.runlock import RunLock
from etl.store.snapfiles import (
    Views,
    _digests,
    _fsync_dir,
    _move_archive,
    _next_snapshot_id,
    _seal,
    _snapshot_folders,
    _switch_link,
    _write_manifest,
    schema_version,  # re-exported
)
from etl.store.snapshots import (  # re-exported
    _mapping,
    complete,
    current_snapshot,
    damaged_tables,
    dataset_workspaces,
    find_current,
    manifest_or_none,
    read_current,
    read_manifest,
    read_previous_state,
)

__all__ = [  # Commit and RunLock live in their own modules; callers take them from here
    "DB",
    "LINK",
    "Commit",
    "RunLock",
    "SnapshotDamaged",
    "Views",
    "complete",
    "current_snapshot",
    "damaged_tables",
    "dataset_workspaces",
    "find_current",
    "manifest_or_none",
    "merge_inputs",
    "prepare",
    "publish",
    "read_current",
    "read_manifest",
    "read_previous_state",
    "recover",
    "restore_link",
    "run_archive",
    "schema_version",
    "set_aside_wal",
]

WRITE_BITS = 0o222
Note = Callable[[str], None]


# --------------------------------------------------------------------------- publishing


def merge_inputs(out: Path, *, full_refresh: bool = False
                 ) -> tuple[Path | None, dict[str, Any], dict[str, str]]:
    """What a merge into ``out`` starts from: the current snapshot (None: none yet), what its
    manifest says each file is, and (with ``full_refresh``) its damaged tables to leave out."""
    previous = current_snapshot(out)
    manifest = manifest_or_none(previous) or {}
    # What the previous snapshot holds: its files (with checksums from 0.3 on) or its tables.
    published = _mapping(manifest.get("files")) or {t: {} for t in _mapping(manifest.get("rows"))}
    skip = damaged_tables(previous) if full_refresh and previous is not None else {}
    return previous, published, skip


def publish(out: Path, commit: Commit, *, keep: int, views: Views, keep_days: float = 0.0,
            full_refresh: bool = False, on_note: Note | None = None,
            premerged: Mapping[str, Premerged] | None = None) -> Path:
    """Merge a run's staged rows into a new snapshot and switch to it; returns the snapshot.

    The merge itself is :class:`etl.store.merge.Merge`; the switch is the commit sequence of
    this module's docstring. Retention keeps the newest ``keep`` snapshots and every snapshot
    replaced less than ``keep_days`` days ago. With ``full_refresh`` the current snapshot's
    damaged files (:func:`damaged_tables`) are left out of the merge instead of failing it.
    ``on_note`` hears what publishing repaired on its way (a stray WAL moved aside).
    ``premerged`` are tables merged while the crawl ran (:mod:`etl.store.premerge`).
    """
    crashpoints.reach("staged")
    out, staging, run_id = Path(out), Path(commit.staging), commit.run_id
    note = on_note or (lambda _: None)
    if layout.RUN_NAME.match(run_id) is None:
        raise PublishError(f"run id {run_id!r} cannot name a snapshot folder")
    for repaired in restore_link(out):
        note(repaired)
    previous, published, skip = merge_inputs(out, full_refresh=full_refresh)
    snapshot_id = _next_snapshot_id(out, run_id)
    snapshot = out / "snapshots" / snapshot_id
    next_db = out / f".{DB}.{snapshot_id}.tmp"
    merge = Merge(previous / LINK if previous is not None else None, snapshot / LINK, staging,
                  published=published, skip=skip, premerged=premerged, threads=PUBLISH_THREADS)
    try:
        rows = merge.run(commit)
        files = _digests(snapshot / LINK, merge.digests)
        _write_manifest(snapshot, snapshot_id, run_id, staging.name, previous, rows, files,
                        premerged=merge.used_premerged)
        _seal(snapshot)
        crashpoints.reach("snapshot-written")
        views.build(next_db, snapshot / LINK)
        crashpoints.reach("views-built")
    except BaseException:
        shutil.rmtree(snapshot, ignore_errors=True)
        next_db.unlink(missing_ok=True)
        raise
    _switch(out, snapshot_id, next_db, note)
    try:
        _clean_up(out, staging, run_id, snapshot, max(keep, 1), keep_days)
    except OSError as exc:  # published all the same; the next recover() finishes the job
        raise PublishError(f"published snapshot {snapshot_id}, but cleaning up failed: {exc}"
                           ) from exc
    crashpoints.reach("cleaned")
    return snapshot


def _switch(out: Path, snapshot_id: str, next_db: Path, note: Note) -> None:
    """The commit point: ``tables`` to the new snapshot, then ``evals.duckdb`` to its views."""
    try:
        _switch_link(out, snapshot_id)
        crashpoints.reach("tables-switched")
        if (moved := set_aside_wal(out)) is not None:
            note(moved)  # the old database's log would stop the new one from opening
        os.replace(next_db, out / DB)
        _fsync_dir(out)
    except OSError as exc:
        raise PublishError(f"cannot switch {out} to snapshot {snapshot_id}: {exc}") from exc
    crashpoints.reach("switched")


def _clean_up(out: Path, staging: Path, run_id: str, snapshot: Path, keep: int,
              keep_days: float) -> None:
    archive = _staged_archive(staging)
    if archive is not None:
        _move_archive(out, archive, run_id)
    shutil.rmtree(staging, ignore_errors=True)
    folders = _snapshot_folders(out)
    manifests = {p: manifest_or_none(p) or {} for p in folders}
    kept = set(folders[-keep:]) | {snapshot}  # never the current one, whatever sorts after it
    kept |= _recently_replaced(folders, manifests, keep_days)
    pruned = [p for p in folders if p not in kept]
    for folder in pruned:
        shutil.rmtree(folder)
    # The archive of a run goes with the last snapshot that came from it, and only then: an
    # archive is never deleted because its snapshot is gone for another reason.
    kept_runs = {str(manifests[p].get("run_id")) for p in kept}
    for run in {str(manifests[p].get("run_id")) for p in pruned} - kept_runs:
        folder = out / "runs" / run
        if layout.real_dir(out / "runs") and layout.own_run(folder, {run}):
            shutil.rmtree(folder)


def _recently_replaced(folders: list[Path], manifests: Mapping[Path, Mapping[str, Any]],
                       keep_days: float) -> set[Path]:
    """Snapshots replaced by a newer one less than ``keep_days`` ago: an open reader may still
    read them (its views name their files), so a week-long session keeps answering."""
    if keep_days <= 0:
        return set()
    now, horizon = datetime.now(UTC), timedelta(days=keep_days)
    recent = set()
    for older, newer in itertools.pairwise(folders):
        try:
            replaced = datetime.fromisoformat(str(manifests[newer].get("created_at")))
        except ValueError:
            replaced = now  # no readable time: keep it rather than guess
        if replaced.tzinfo is None:
            replaced = replaced.replace(tzinfo=UTC)
        if now - replaced < horizon:
            recent.add(older)
    return recent


