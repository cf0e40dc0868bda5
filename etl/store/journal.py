"""The checkpoint journal: what a run has staged for good, so a killed run's work is not lost.

A run appends one line to ``staging/<run>/journal.jsonl`` at each checkpoint: the staging
files it has just closed whole, and the outcome records of the units whose rows those files
hold (each with the listing row its eval had). A line is written and fsynced only after its files are closed,
so every line that reads back whole speaks of complete files (a torn last line is ignored).

The next run :func:`adopt`\\ s the newest journal it finds: it hard-links the journaled files
into its own staging folder (table files under ``resumed/``, archive parts as the first parts
of its archive) and writes them as its own first checkpoint, so a second kill loses nothing
either. Which of those units it reuses is the crawl's decision (the eval must be listed as it
was); the merge publishes only the resumed rows of units the run says it reused.

The records and listings are opaque to the store: the crawl writes and reads them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

JOURNAL = "journal.jsonl"
RESUMED = "resumed"  # staging/<run>/resumed/tables/<table>/*.parquet: taken over files


@dataclass(frozen=True)
class Checkpoint:
    files: tuple[str, ...]  # relative to the staging folder
    records: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Adopted:
    """What a run took over from a killed one."""

    run_id: str
    records: tuple[dict[str, Any], ...]
    archive_parts: int  # the new run's archive numbers its own parts after these


class Journal:
    """Appends checkpoints to ``staging/journal.jsonl``, each one durable when it returns."""

    def __init__(self, staging: Path) -> None:
        self.staging = Path(staging)
        self.path = self.staging / JOURNAL

    def append(self, checkpoint: Checkpoint) -> None:
        line = json.dumps({"files": list(checkpoint.files),
                           "records": list(checkpoint.records)}, default=str) + "\n"
        self.staging.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
            # Closed files survive the death of the process that wrote them (the page cache
            # does); after a power cut adopt() checks each one still reads before using it.
            os.fsync(fd)
        finally:
            os.close(fd)


def read_journal(staging: Path) -> list[Checkpoint]:
    """Every whole checkpoint of a staging folder's journal (none when it has no journal)."""
    try:
        lines = (Path(staging) / JOURNAL).read_bytes().split(b"\n")
    except OSError:
        return []
    checkpoints = []
    for raw in lines:
        try:
            data = json.loads(raw)
            checkpoints.append(Checkpoint(tuple(data["files"]), tuple(data["records"])))
        except (ValueError, KeyError, TypeError):
            break  # a torn line (the run died writing it): nothing after it is trusted
    return checkpoints


def adopt(out: Path, staging: Path, *, published: str | None) -> Adopted | None:
    """Take over the newest journaled staging folder under ``out/staging`` into ``staging``.

    ``published`` is the staging folder of the current snapshot (already published, never
    adopted). Returns None when there is nothing to take over. The old folder is left as it
    is; recovery deletes it once this run's journal names the linked files.
    """
    root = Path(out) / "staging"
    candidates = sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()
                         and p.name not in (staging.name, published)),
                        reverse=True) if root.is_dir() else []
    for old in candidates:
        checkpoints = read_journal(old)
        files = [f for c in checkpoints for f in c.files]
        if checkpoints and all(_readable(old, f) for f in files):
            return _take_over(old, staging, checkpoints)
    return None


def _readable(folder: Path, relative: str) -> bool:
    """A journaled file inside the folder, whole: its Parquet footer reads."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts or not (folder / path).is_file():
        return False
    try:
        pq.read_metadata(folder / path)
    except (OSError, pa.ArrowException):
        return False
    return True


def _take_over(old: Path, staging: Path, checkpoints: Sequence[Checkpoint]) -> Adopted:
    linked: list[str] = []
    archive = 0
    counts: dict[str, int] = {}
    for name in (f for c in checkpoints for f in c.files):
        parts = Path(name).parts
        if parts[0] == "archive":
            target = Path("archive") / f"part-{archive:05d}.parquet"
            archive += 1
        else:  # tables/<table>/<file> or resumed/tables/<table>/<file>
            table = parts[-2]
            counts[table] = counts.get(table, 0) + 1
            target = Path(RESUMED) / "tables" / table / f"part-{counts[table] - 1:05d}.parquet"
        (staging / target).parent.mkdir(parents=True, exist_ok=True)
        os.link(old / name, staging / target)
        linked.append(target.as_posix())
    records = tuple(r for c in checkpoints for r in c.records)
    Journal(staging).append(Checkpoint(tuple(linked), records))
    return Adopted(old.name, records, archive)


def resumed_files(staging: Path, table: str) -> list[Path]:
    """The taken-over files of ``table`` in a staging folder, in order."""
    return sorted((Path(staging) / RESUMED / "tables" / table).glob("part-*.parquet"))
