"""The names evals-etl gives what it writes in an output folder, and how to tell them apart
from everything else found there.

An output folder is shared with the world: sync tools drop ``.DS_Store`` files, people keep
notes beside the data, a training job writes ``runs/detect/…``. evals-etl deletes an entry only
when it is one of its own, judged by name *and* shape, never by where it sits:

* ``staging/<run id>`` and ``staging/replay-<run id>`` (run ids are ``YYYYMMDDTHHMMSSZ-xxxxxx``),
  or a staging folder whose every file is one a run stages (``tables/<t>/part-*.parquet``,
  ``archive/part-*.parquet``, ``journal.jsonl``, ``premerged/<t>/data.parquet``, …);
* ``snapshots/<seq:06d>-<run id>`` holding only ``manifest.json`` and ``tables/<t>/data.parquet``;
* ``runs/<run id>`` (or the run of a snapshot being pruned) holding only its archive;
* the temp files of a publish at the top (``.evals.duckdb.<id>.tmp``, ``.tables.<id>.tmp``, …).

Anything else (a file, a symlink, a folder of another shape) is *litter*: it is left where it
is, never followed, reported once per run, and never fails a run. Links are never followed
when a folder's shape is judged, so a symlink can never lead a deletion out of the folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

DB = "evals.duckdb"
WAL = f"{DB}.wal"
LINK = "tables"
MANIFEST = "manifest.json"
MARKER = ".evals-etl.json"
DATA_FILE = "data.parquet"
# Inside a run's staging folder: DuckDB's spill folders (the publish's and the premerge's),
# and the tables merged while the crawl ran (store.premerge).
MERGE_SPILL, PREMERGE_SPILL, PREMERGED = "merge-tmp", "premerge-tmp", "premerged"
FOLDERS = ("staging", "snapshots", "runs", "state")  # evals-etl's folders inside OUT

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
RUN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # what may name a snapshot (replays: older ids)
SNAPSHOT_ID = re.compile(r"^(\d{6})-([A-Za-z0-9._-]+)$")
_TEMP_FILE = re.compile(
    r"^\.(?:evals\.duckdb\.[^/]+\.tmp(?:\.wal)?|tables\.[^/]+\.tmp|evals-etl\.json\.[^/]+\.tmp)$")
_TABLE = re.compile(r"^[a-z][a-z0-9_]*$")
_PART = re.compile(r"^part-\d+\.parquet$")
_UNIT = re.compile(r"^\.?unit-\d+\.parquet(?:\.tmp)?$")
# Files operating systems and sync tools leave in any folder they show; they never make a
# folder someone else's.
OS_LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".directory"})

Shape = Callable[[tuple[str, ...], bool], bool]  # (path parts below the folder, is a folder)


def is_run_id(name: str) -> bool:
    return RUN_ID.match(name) is not None


def is_staging_name(name: str) -> bool:
    return is_run_id(name) or (name.startswith("replay-") and is_run_id(name[7:]))


def snapshot_seq(name: str) -> int:
    """The sequence number of a snapshot folder's name; -1 when the name is not one."""
    match = SNAPSHOT_ID.match(name)
    return int(match.group(1)) if match else -1


def is_temp_file(name: str) -> bool:
    return _TEMP_FILE.match(name) is not None


def is_os_litter(name: str) -> bool:
    return name in OS_LITTER or name.startswith("._")


def real_dir(path: Path) -> bool:
    """A folder itself, not a symlink to one."""
    return path.is_dir() and not path.is_symlink()


def foreign_entry(folder: Path, shape: Shape) -> str | None:
    """The first entry under ``folder`` that ``shape`` does not allow (links never followed)."""
    for root, dirs, files in os.walk(folder):
        below = Path(root).relative_to(folder).parts
        for name in dirs:
            if os.path.islink(os.path.join(root, name)) or not shape((*below, name), True):
                return "/".join((*below, name))
        for name in files:
            if is_os_litter(name):
                continue
            if os.path.islink(os.path.join(root, name)) or not shape((*below, name), False):
                return "/".join((*below, name))
    return None


def staging_shape(parts: tuple[str, ...], is_dir: bool) -> bool:
    """What a run writes in its staging folder (writer, archive, journal, merge spill)."""
    head = parts[0]
    if head in (MERGE_SPILL, PREMERGE_SPILL):
        return True  # DuckDB's spill files, named by DuckDB
    if len(parts) == 1:
        return (head in ("tables", "archive", "resumed", PREMERGED) and is_dir) or (
            head in ("archive.parquet", "journal.jsonl") and not is_dir)
    if head == PREMERGED:
        if _TABLE.match(parts[1]) is None:
            return False
        return (len(parts) == 2 and is_dir) or (
            len(parts) == 3 and not is_dir and parts[2] == DATA_FILE)
    if head == "archive":
        return len(parts) == 2 and not is_dir and _PART.match(parts[1]) is not None
    if head == "resumed":
        if parts[1] != "tables":
            return False
        return _staged_tables_shape(parts[2:], is_dir) if len(parts) > 2 else is_dir
    return head == "tables" and _staged_tables_shape(parts[1:], is_dir)


def _staged_tables_shape(rest: tuple[str, ...], is_dir: bool) -> bool:
    if _TABLE.match(rest[0]) is None:
        return False
    if len(rest) == 1:
        return is_dir
    return (len(rest) == 2 and not is_dir
            and (_PART.match(rest[1]) is not None or _UNIT.match(rest[1]) is not None))


def snapshot_shape(parts: tuple[str, ...], is_dir: bool) -> bool:
    """A published snapshot: its manifest and one data file per table."""
    if len(parts) == 1:
        return (parts[0] == LINK and is_dir) or (
            parts[0] in (MANIFEST, f".{MANIFEST}.tmp") and not is_dir)
    if parts[0] != LINK or _TABLE.match(parts[1]) is None:
        return False
    return (len(parts) == 2 and is_dir) or (
        len(parts) == 3 and not is_dir and parts[2] in (DATA_FILE, f".{DATA_FILE}.tmp"))


def run_shape(parts: tuple[str, ...], is_dir: bool) -> bool:
    """A published run's archive: ``archive/part-*.parquet`` (``archive.parquet`` before 0.2)."""
    if parts[0] == ".archive.replaced":
        return True  # the previous archive of a replayed run, on its way out
    if len(parts) == 1:
        return (parts[0] == "archive" and is_dir) or (parts[0] == "archive.parquet" and not is_dir)
    return (parts[0] == "archive" and len(parts) == 2 and not is_dir
            and _PART.match(parts[1]) is not None)


def own_staging(folder: Path) -> bool:
    return real_dir(folder) and (is_staging_name(folder.name)
                                 or foreign_entry(folder, staging_shape) is None)


def own_snapshot(folder: Path) -> bool:
    return (real_dir(folder) and snapshot_seq(folder.name) >= 0
            and foreign_entry(folder, snapshot_shape) is None)


def own_run(folder: Path, run_ids: set[str]) -> bool:
    return (real_dir(folder) and (is_run_id(folder.name) or folder.name in run_ids)
            and foreign_entry(folder, run_shape) is None)


def litter(out: Path, run_ids: set[str]) -> list[str]:
    """Entries of ``staging/``, ``snapshots/`` and ``runs/`` that evals-etl did not make."""
    judges: dict[str, Callable[[Path], bool]] = {
        "staging": own_staging, "snapshots": own_snapshot,
        "runs": lambda p: own_run(p, run_ids)}
    found = []
    for name, own in judges.items():
        root = out / name
        if not real_dir(root):
            continue
        found += [f"{name}/{entry.name}" for entry in sorted(root.iterdir()) if not own(entry)]
    return found


def describe_litter(entries: list[str]) -> str:
    shown = ", ".join(entries[:8]) + (f" and {len(entries) - 8} more" if len(entries) > 8 else "")
    what = "entry" if len(entries) == 1 else "entries"
    return (f"left alone {len(entries)} {what} that evals-etl did not make (never deleted, "
            f"never followed): {shown}")
