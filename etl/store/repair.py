"""Repairs and recovery of an output folder: what a killed run, a sync tool or a stray client
left behind (the ``tables`` link, a stray WAL, half-written snapshots, staging), done at the
start of every run and before publishing.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from etl.errors import PublishError
from etl.schemas import TABLES
from etl.store import layout
from etl.store.layout import DB, LINK, WAL
from etl.store.merge import DATA_FILE, SnapshotDamaged
from etl.store.snapfiles import (
    Views,
    _digests,
    _move_archive,
    _snapshot_folders,
    _switch_link,
    _write_manifest,
)
from etl.store.snapshots import (
    complete,
    current_snapshot,
    damaged_tables,
    manifest_or_none,
    newest_complete,
    published,
)

# --------------------------------------------------------------------------- repairs


def restore_link(out: Path) -> list[str]:
    """Make ``OUT/tables`` point at a complete snapshot again, if it does not; call it locked.

    A lost or dangling link is pointed at the newest complete snapshot; a real folder in its
    place is removed when it is a byte-identical copy of a snapshot (what ``cp -rL`` or a zip
    makes of the link), else moved aside to ``tables.detached-<time>``. With no complete
    snapshot to point at, a link or folder that is there raises :class:`PublishError` saying
    what to do; nothing at all is the state before the first publish. A current snapshot whose
    manifest cannot be read gets a new one from its files. Returns one note per repair.
    """
    out = Path(out)
    link = out / LINK
    current = current_snapshot(out)
    if current is not None:  # a missing or damaged file in it is prepare()'s to report
        if manifest_or_none(current) is None and _tables_present(current):
            _rewrite_manifest(current)
            return [f"re-created the unreadable manifest of snapshot {current.name} from its files"]
        return []
    if not os.path.lexists(link):
        target = newest_complete(out)
        if target is None:
            return []
        _switch_link(out, target.name)
        return [f"the `tables` link was missing; pointed it at snapshot {target.name}, the "
                + "newest complete one"]
    target = newest_complete(out)
    if link.is_symlink():
        was = os.readlink(link)
        if target is None:
            raise PublishError(
                f"{link} points at {was!r}, which is not a complete snapshot of this folder, and "
                f"no complete snapshot is left under {out / 'snapshots'}. Restore snapshots/ "
                f"from a backup, or delete {link} to start the dataset over with a full export "
                "(evals deleted upstream would then be lost)")
        _switch_link(out, target.name)
        return [f"the `tables` link pointed at {was!r}, not a complete snapshot of this "
                + f"folder; pointed it at snapshot {target.name}, the newest complete one"]
    return _replace_folder(out, link, target)


def _replace_folder(out: Path, link: Path, target: Path | None) -> list[str]:
    """``OUT/tables`` is a real folder (or a file): keep it out of the way, link the snapshot."""
    if link.is_dir() and not any(link.iterdir()):
        link.rmdir()
        note = "removed an empty `tables` folder where the snapshot link belongs"
    elif target is None:
        raise PublishError(
            f"{link} is a folder, not the link to a snapshot evals-etl keeps there, and no "
            f"complete snapshot is left under {out / 'snapshots'} to point it at. Move {link} "
            "away (evals-etl never deletes it) and restore snapshots/ from a backup, or start "
            "the dataset over with a full export")
    elif (copy_of := _copy_of(link, out)) is not None:
        shutil.rmtree(link)
        note = (f"`tables` was a folder holding a byte-identical copy of snapshot {copy_of} "
                "(a copy that followed the link); removed it")
    else:
        aside = _free_name(out, f"{LINK}.detached-{_stamp()}")
        os.replace(link, aside)
        note = (f"`tables` was a folder (or file) of its own, not the snapshot link; moved it "
                f"aside to {aside.name} (evals-etl never deletes it)")
    if target is None:
        return [note]
    _switch_link(out, target.name)
    return [f"{note}; pointed `tables` at snapshot {target.name}, the newest complete one"]


def _copy_of(folder: Path, out: Path) -> str | None:
    """The snapshot whose tables ``folder`` is a byte-identical copy of, if any."""
    import filecmp

    mine = _files_below(folder)
    if mine is None:
        return None
    for snapshot in reversed(_snapshot_folders(out)):
        tables = snapshot / LINK
        if complete(snapshot) and _files_below(tables) == mine and all(
                filecmp.cmp(folder / f, tables / f, shallow=False) for f in mine):
            return snapshot.name
    return None


def _files_below(folder: Path) -> set[str] | None:
    """Every file below ``folder`` (relative), or None when it holds a link or an odd entry."""
    found = set()
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(root) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                return None
        found |= {(Path(root) / f).relative_to(folder).as_posix() for f in files}
    return found


def _tables_present(snapshot: Path) -> bool:
    return all((snapshot / LINK / t / DATA_FILE).is_file() for t in TABLES)


def _rewrite_manifest(snapshot: Path) -> None:
    rows = {t: int(pq.read_metadata(snapshot / LINK / t / DATA_FILE).num_rows) for t in TABLES}
    match = layout.SNAPSHOT_ID.match(snapshot.name)
    run_id = match.group(2) if match else snapshot.name
    _write_manifest(snapshot, snapshot.name, run_id, None, None, rows,
                    _digests(snapshot / LINK, {}), rebuilt=True)


def set_aside_wal(out: Path) -> str | None:
    """Move ``evals.duckdb.wal`` aside (never deleted); call it when the database is replaced
    or will not open. A WAL left by a read-write client belongs to the database it wrote; beside
    another one DuckDB refuses to open the file at all ("WAL does not match database file")."""
    wal = Path(out) / WAL
    if not os.path.lexists(wal):
        return None
    aside = _free_name(Path(out), f"{WAL}.stray-{_stamp()}")
    os.replace(wal, aside)
    return (f"moved {WAL} aside to {aside.name}: a write-ahead log left by a read-write client, "
            f"which does not belong to the {DB} evals-etl builds (it would not open beside it)")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _free_name(folder: Path, name: str) -> Path:
    candidate, n = folder / name, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = folder / f"{name}-{n}"
    return candidate


# --------------------------------------------------------------------------- recovery


def prepare(out: Path, *, full_refresh: bool = False) -> list[str]:
    """What a run checks first, holding the lock: the link, then the current snapshot's files.

    Raises :class:`SnapshotDamaged` (naming each file and the way out) when a file of the
    current snapshot is missing, unreadable or changed since it was published, unless this
    is a ``--full-refresh``, which then builds the next snapshot without it.
    """
    notes = restore_link(out)
    current = current_snapshot(out)
    if current is None:
        return notes
    damaged = damaged_tables(current)
    if damaged and not full_refresh:
        raise SnapshotDamaged(current, damaged)
    if damaged:
        notes.append(f"snapshot {current.name} is damaged ({', '.join(sorted(damaged))}); this "
                     "full refresh builds the next snapshot without those files")
    return notes


def recover(out: Path, views: Views, *, keep_staging: str | None = None) -> list[str]:
    """Undo what a crashed run left behind; call it holding the :class:`RunLock`.

    Restores a lost ``tables`` link; deletes evals-etl's own staging folders, snapshots newer
    than the current one (a crash before the switch) and temp files, leaving everything else
    alone (one note names the litter); finishes moving the archive of a run that crashed after
    its switch; rebuilds ``evals.duckdb`` when it is missing, will not open, or shows another
    snapshot (another folder's included). Returns one human note per repair.
    """
    out = Path(out)
    notes = restore_link(out)
    current = current_snapshot(out)
    manifest = manifest_or_none(current) or {}
    # Snapshots first: whether one was ever published is read off its staging folder.
    notes += _clear_snapshots(out, current)
    notes += _clear_staging(out, manifest, keep_staging)
    for path in sorted(out.iterdir()) if out.is_dir() else []:
        if layout.is_temp_file(path.name) and (path.is_symlink() or not path.is_dir()):
            path.unlink(missing_ok=True)
            notes.append(f"removed the temp file {path.name} of an interrupted publish")
    foreign = layout.litter(out, _known_runs(out))
    if foreign:
        notes.append(layout.describe_litter(foreign))
    if current is not None and not views.shows(out / DB, current / LINK):
        if (note := set_aside_wal(out)) is not None:
            notes.append(note)
        views.build(out / DB, current / LINK)
        notes.append(f"rebuilt {DB} over snapshot {current.name}")
    return notes


def _known_runs(out: Path) -> set[str]:
    """The run ids the snapshots of ``out`` come from (their archives are evals-etl's)."""
    return {str(m["run_id"]) for p in _snapshot_folders(out)
            if (m := manifest_or_none(p)) is not None and m.get("run_id")}


def _clear_staging(out: Path, manifest: dict[str, Any], keep: str | None) -> list[str]:
    notes = []
    root = out / "staging"
    for folder in sorted(root.iterdir()) if layout.real_dir(root) else []:
        if folder.name == keep or not layout.own_staging(folder):
            continue  # the running run's own (it may hold files taken over), or litter
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
        if candidate.exists() and not candidate.is_symlink():
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
    floor = -1 if current is None else layout.snapshot_seq(current.name)
    for folder in _snapshot_folders(out):
        if folder == current or layout.snapshot_seq(folder.name) <= floor:
            continue
        if current is None and published(out, folder):
            continue  # never on the strength of a missing link (restore_link handles that)
        shutil.rmtree(folder)
        notes.append(f"removed snapshots/{folder.name}, written but never published")
    return notes


