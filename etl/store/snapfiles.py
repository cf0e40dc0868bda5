"""The files of a snapshot as written: manifests with digests, read-only sealing, the atomic
``tables`` switch, archive moves, and listing the snapshot folders. Shared by publishing and
repairs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from etl.errors import PublishError
from etl.schemas import TABLES
from etl.store import layout
from etl.store.layout import LINK, MANIFEST
from etl.store.merge import DATA_FILE, file_digest

WRITE_BITS = 0o222


class Views(Protocol):
    """The views layer as the store needs it; the store never imports it (``etl.views`` does)."""

    def build(self, db: Path, tables: Path) -> None:
        """(Re)create ``db`` with views over the snapshot tables folder ``tables``."""

    def shows(self, db: Path, tables: Path) -> bool:
        """Whether ``db`` exists, opens, and reads ``tables``."""


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
                    files: dict[str, dict[str, Any]], *, rebuilt: bool = False,
                    premerged: Sequence[str] = ()) -> None:
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
    if premerged:  # merged while the crawl ran (etl.store.premerge): for the curious operator
        manifest["premerged"] = sorted(premerged)
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
