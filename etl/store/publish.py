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

import hashlib
import itertools
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from etl import crashpoints
from etl.errors import PublishError
from etl.panels import EvalListing, PreviousState
from etl.schemas import TABLES
from etl.store import layout
from etl.store.commit import Commit
from etl.store.layout import DB, LINK, MANIFEST, WAL
from etl.store.merge import DATA_FILE, Merge, SnapshotDamaged, file_digest
from etl.store.runlock import RunLock
from etl.timestamps import iso_utc

__all__ = [  # Commit and RunLock live in their own modules; callers take them from here
    "DB", "LINK", "Commit", "RunLock", "SnapshotDamaged", "Views", "complete",
    "current_snapshot", "damaged_tables", "find_current", "manifest_or_none", "prepare",
    "publish", "read_current", "read_manifest", "read_previous_state", "recover",
    "restore_link", "schema_version", "set_aside_wal",
]

WRITE_BITS = 0o222
Note = Callable[[str], None]


# --------------------------------------------------------------------------- reading


def current_snapshot(out: Path) -> Path | None:
    """``OUT/snapshots/<id>`` that ``OUT/tables`` points at, or None before the first publish.

    Only a link of evals-etl's own form counts (``snapshots/<id>/tables``, relative, to a real
    folder of this output folder): an absolute link or one leading elsewhere never makes this
    folder read another one's files.
    """
    link = Path(out) / LINK
    if not link.is_symlink():
        return None
    parts = PurePosixPath(os.readlink(link)).parts
    if len(parts) != 3 or parts[0] != "snapshots" or parts[2] != LINK or parts[1] in (".", ".."):
        return None
    snapshot = Path(out) / "snapshots" / parts[1]
    if not (layout.real_dir(Path(out) / "snapshots") and layout.real_dir(snapshot)
            and layout.real_dir(snapshot / LINK)):
        return None
    return snapshot


def find_current(out: Path) -> Path | None:
    """The snapshot a reader should see: the link's, else the newest complete one.

    Never writes: the read-only commands use it on a folder whose link was lost (a sync
    without symlinks, a zip) while only :func:`restore_link` repairs the link itself.
    """
    return current_snapshot(out) or newest_complete(out)


def read_manifest(snapshot: Path) -> dict[str, Any]:
    try:
        data = json.loads((snapshot / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"cannot read the manifest of {snapshot}: {exc}") from exc
    if not isinstance(data, dict):
        raise PublishError(f"cannot read the manifest of {snapshot}: not a JSON object")
    return data


def manifest_or_none(snapshot: Path | None) -> dict[str, Any] | None:
    """The manifest of a snapshot, or None when there is no snapshot or it does not read."""
    if snapshot is None:
        return None
    try:
        return read_manifest(snapshot)
    except PublishError:
        return None


def complete(snapshot: Path) -> bool:
    """Whether a snapshot folder is whole: manifest readable, every table file it lists there."""
    if not layout.real_dir(snapshot) or layout.snapshot_seq(snapshot.name) < 0:
        return False
    manifest = manifest_or_none(snapshot)
    if manifest is None or manifest.get("snapshot", snapshot.name) != snapshot.name:
        return False
    rows, files = manifest.get("rows"), manifest.get("files") or {}
    if not isinstance(rows, dict) or not rows or not layout.real_dir(snapshot / LINK):
        return False
    for table in rows:
        path = snapshot / LINK / table / DATA_FILE
        if path.is_symlink() or not path.is_file():
            return False
        size = (files.get(table) or {}).get("bytes") if isinstance(files, dict) else None
        if size is not None and path.stat().st_size != size:
            return False
    return True


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def newest_complete(out: Path) -> Path | None:
    """The newest snapshot that is complete and was published (see :func:`published`)."""
    folders = _snapshot_folders(out)
    return next((p for p in reversed(folders) if complete(p) and published(out, p, folders)),
                None)


def published(out: Path, snapshot: Path, folders: list[Path] | None = None) -> bool:
    """Whether a snapshot was ever the current one, with or without the link to say so.

    Yes when its run's staging folder is gone (cleaned after the switch) or its archive is in
    ``runs/``, or when a newer snapshot names it as its previous one. A snapshot written by a
    run killed before its switch has none of these, and is never made current by a repair.
    """
    manifest = manifest_or_none(snapshot) or {}
    staging = manifest.get("staging")
    if not staging or not os.path.lexists(Path(out) / "staging" / str(staging)):
        return True
    if manifest.get("run_id") and os.path.lexists(Path(out) / "runs" / str(manifest["run_id"])):
        return True
    return any((manifest_or_none(p) or {}).get("previous") == snapshot.name
               for p in folders or [])


def damaged_tables(snapshot: Path) -> dict[str, str]:
    """The tables of a snapshot whose file is missing, unreadable or not what was published.

    With a manifest that records SHA-256s (0.3 on) every file is checked byte for byte; older
    snapshots are checked by reading each file's Parquet footer.
    """
    manifest = manifest_or_none(snapshot) or {}
    recorded: dict[str, Any] = _mapping(manifest.get("files"))
    rows: dict[str, Any] = _mapping(manifest.get("rows"))
    problems: dict[str, str] = {}
    for table in sorted(set(TABLES) | set(rows)):
        path = snapshot / LINK / table / DATA_FILE
        expected = recorded.get(table) or {}
        if path.is_symlink():
            problems[table] = "it is a symbolic link, not the published file"
        elif not path.is_file():
            if table in rows:
                problems[table] = "it is missing"
        elif expected.get("sha256"):
            try:
                size, sha = file_digest(path)
            except OSError as exc:
                problems[table] = f"it cannot be read: {exc.strerror}"
                continue
            if (size, sha) != (expected.get("bytes", size), expected["sha256"]):
                problems[table] = ("its content is not what was published (the checksum in "
                                   "manifest.json differs): something wrote into it")
        else:
            try:
                pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                problems[table] = f"it does not read as Parquet: {exc}"
    return problems


def read_previous_state(out: Path) -> PreviousState | None:
    """The listing fields and unit states of the current snapshot, for incremental planning.

    ``created_at`` comes back in the API's own format (``2026-04-27T20:04:10.904Z``), so an
    unchanged listing row compares equal. A table that cannot be read counts as empty here
    (an incremental run has refused a damaged snapshot already; a ``--full-refresh`` does
    without it).
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


def dataset_workspaces(snapshot: Path) -> set[str]:
    """The workspaces a snapshot's ``runs`` and ``evaluations`` rows name."""
    found: set[str] = set()
    for table in ("runs", "evaluations"):
        rows = _read_columns(snapshot, table, ["workspace"])
        found |= {str(r["workspace"]) for r in rows if r["workspace"]}
    return found


def _read_columns(snapshot: Path, table: str, columns: list[str]) -> list[dict[str, Any]]:
    path = snapshot / LINK / table / DATA_FILE
    try:
        present = set(pq.read_schema(path).names)
        rows: list[dict[str, Any]] = pq.read_table(
            path, columns=[c for c in columns if c in present]).to_pylist()
    except (OSError, pa.ArrowException):
        return []  # missing or damaged: damaged_tables() says which, and what to do
    return [{c: row.get(c) for c in columns} for row in rows]  # older snapshots: NULL


def _api_time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


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


# --------------------------------------------------------------------------- publishing


class Views(Protocol):
    """The views layer as the store needs it; the store never imports it (``etl.views`` does)."""

    def build(self, db: Path, tables: Path) -> None:
        """(Re)create ``db`` with views over the snapshot tables folder ``tables``."""

    def shows(self, db: Path, tables: Path) -> bool:
        """Whether ``db`` exists, opens, and reads ``tables``."""


def publish(out: Path, commit: Commit, *, keep: int, views: Views, keep_days: float = 0.0,
            full_refresh: bool = False, on_note: Note | None = None) -> Path:
    """Merge a run's staged rows into a new snapshot and switch to it; returns the snapshot.

    The merge itself is :class:`etl.store.merge.Merge`; the switch is the commit sequence of
    this module's docstring. Retention keeps the newest ``keep`` snapshots and every snapshot
    replaced less than ``keep_days`` days ago. With ``full_refresh`` the current snapshot's
    damaged files (:func:`damaged_tables`) are left out of the merge instead of failing it.
    ``on_note`` hears what publishing repaired on its way (a stray WAL moved aside).
    """
    crashpoints.reach("staged")
    out, staging, run_id = Path(out), Path(commit.staging), commit.run_id
    note = on_note or (lambda _: None)
    if layout.RUN_NAME.match(run_id) is None:
        raise PublishError(f"run id {run_id!r} cannot name a snapshot folder")
    for repaired in restore_link(out):
        note(repaired)
    previous = current_snapshot(out)
    manifest = manifest_or_none(previous) or {}
    # What the previous snapshot holds: its files (with checksums from 0.3 on) or its tables.
    published = _mapping(manifest.get("files")) or {t: {} for t in _mapping(manifest.get("rows"))}
    skip = damaged_tables(previous) if full_refresh and previous is not None else {}
    snapshot_id = _next_snapshot_id(out, run_id)
    snapshot = out / "snapshots" / snapshot_id
    next_db = out / f".{DB}.{snapshot_id}.tmp"
    merge = Merge(previous / LINK if previous is not None else None, snapshot / LINK, staging,
                  published=published, skip=skip)
    try:
        rows = merge.run(commit)
        files = _digests(snapshot / LINK, merge.digests)
        _write_manifest(snapshot, snapshot_id, run_id, staging.name, previous, rows, files)
        _seal(snapshot)
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
        if (moved := set_aside_wal(out)) is not None:
            note(moved)  # the old database's log would stop the new one from opening
        os.replace(next_db, out / DB)
        _fsync_dir(out)
    except OSError as exc:
        raise PublishError(f"cannot switch {out} to snapshot {snapshot_id}: {exc}") from exc
    crashpoints.reach("switched")
    try:
        _clean_up(out, staging, run_id, snapshot, max(keep, 1), keep_days)
    except OSError as exc:  # published all the same; the next recover() finishes the job
        raise PublishError(f"published snapshot {snapshot_id}, but cleaning up failed: {exc}"
                           ) from exc
    crashpoints.reach("cleaned")
    return snapshot


def _snapshot_folders(out: Path) -> list[Path]:
    """evals-etl's snapshot folders (name and contents), oldest first; litter never listed."""
    root = out / "snapshots"
    folders = [p for p in root.iterdir() if layout.own_snapshot(p)] \
        if layout.real_dir(root) else []
    return sorted(folders, key=lambda p: (layout.snapshot_seq(p.name), p.name))


def _next_snapshot_id(out: Path, run_id: str) -> str:
    root = out / "snapshots"
    names = [p.name for p in root.iterdir()] if layout.real_dir(root) else []
    last = max((layout.snapshot_seq(n) for n in names), default=0)
    return f"{max(last, 0) + 1:06d}-{run_id}"


def schema_version() -> str:
    """A fingerprint of every table's columns, types and grain: changes when the contract does."""
    text = "\n".join(
        f"{t.name}|{','.join(t.grain)}|"
        + t.schema.to_string(show_field_metadata=False, show_schema_metadata=False)
        for t in TABLES.values()
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digests(tables: Path, known: Mapping[str, tuple[int, str]]) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every table file (those the merge copied were hashed on the way)."""
    files = {}
    for name in TABLES:
        path = tables / name / DATA_FILE
        if path.is_file():
            size, sha = known.get(name) or file_digest(path)
            files[name] = {"bytes": size, "sha256": sha}
    return files


def _write_manifest(snapshot: Path, snapshot_id: str, run_id: str, staging: str | None,
                    previous: Path | None, rows: dict[str, int],
                    files: dict[str, dict[str, Any]], *, rebuilt: bool = False) -> None:
    manifest: dict[str, Any] = {
        "snapshot": snapshot_id,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "staging": staging,
        "previous": previous.name if previous is not None else None,
        "schema_version": schema_version(),
        "rows": rows,
        "files": files,
    }
    if rebuilt:
        manifest["rebuilt_from_files"] = True
    tmp = snapshot / f".{MANIFEST}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    make_read_only(tmp)
    os.replace(tmp, snapshot / MANIFEST)


def make_read_only(path: str | Path) -> None:
    """Drop every write bit (the read bits stay as the umask made them)."""
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & ~WRITE_BITS)


def _seal(snapshot: Path) -> None:
    """Published files are read-only (no write bit) and on disk before anything points at them.

    A power cut after the switch must not find the link pointing at unwritten pages. (Root
    ignores the mode; what protects kept snapshots from a write in place is that they share
    no file, see :mod:`etl.store.merge`, and the SHA-256 each manifest records.)
    """
    for folder, _, names in os.walk(snapshot):
        for name in names:
            path = os.path.join(folder, name)
            make_read_only(path)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def _switch_link(out: Path, snapshot_id: str) -> None:
    link = out / LINK
    if link.exists() and not link.is_symlink():
        raise PublishError(f"{link} is a folder, not the snapshot link; move it away first")
    tmp = out / f".{LINK}.{snapshot_id}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(f"snapshots/{snapshot_id}/{LINK}", tmp)
    os.replace(tmp, link)


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


def _move_archive(out: Path, archive: Path, run_id: str) -> None:
    target = out / "runs" / run_id / archive.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():  # the same run's archive again (as a file would be, it is replaced)
        old = target.with_name(f".{target.name}.replaced")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
        os.replace(archive, target)
        shutil.rmtree(old)
    else:
        os.replace(archive, target)
    for path in [target] if target.is_file() else sorted(target.glob("part-*.parquet")):
        make_read_only(path)  # published: read-only like the snapshots


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
