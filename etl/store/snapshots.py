"""Reading published snapshots: which one is current, their manifests, the incremental state.

Pure reading: nothing here writes under OUT (``store.repair`` repairs, ``store.publish``
publishes).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import PublishError
from etl.panels import EvalListing, PreviousState
from etl.schemas import TABLES
from etl.store import layout
from etl.store.layout import LINK, MANIFEST
from etl.store.merge import DATA_FILE, file_digest
from etl.store.snapfiles import _snapshot_folders
from etl.timestamps import iso_utc

WRITE_BITS = 0o222


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
        "eval_id", "status", "project", "version_id", "model_id", "created_at", "model_url",
        "listed", "workspace"])
    units = _read_columns(snapshot, "panel_status", ["eval_id", "panel", "params", "state"])
    return PreviousState(
        evals={
            r["eval_id"]: EvalListing(
                r["eval_id"], r["status"], r["project"], r["version_id"], r["model_id"],
                _api_time(r["created_at"]), r["model_url"])
            for r in evals
        },
        units={(r["eval_id"], r["panel"], r["params"]): r["state"] for r in units},
        unlisted=frozenset(r["eval_id"] for r in evals if r["listed"] is False),
        workspace_of={r["eval_id"]: r["workspace"] for r in evals if r["workspace"]},
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


