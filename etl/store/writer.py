"""Stage a run's normalized batches as Parquet, one open writer per table.

A run emits many small batches (one per panel, one per image page). Writing a file per
batch would leave publish with hundreds of thousands of tiny files, so each table gets one
``pq.ParquetWriter`` that stays open for the run: batches are buffered per table and written
as row groups of about :data:`ROW_GROUP_ROWS` rows, and the writer rolls to a new part file
past :data:`ROWS_PER_FILE` rows. Memory stays flat: at most one buffered row group per table.

Layout: ``<dir>/<table>/part-00000.parquet``, ``part-00001.parquet``, ... in write order,
which publish relies on ("last wins" when a grain was staged twice).
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import PublishError
from etl.schemas import TABLES
from etl.store.behind import INLINE, WriteBehind

ROWS_PER_FILE = 1_000_000
# Staging is read once, by the publish merge, which writes the big (65,536-row) row groups
# of the published files; here a smaller group keeps a run's memory flat.
ROW_GROUP_ROWS = 32_768
BUFFER_BYTES = 8 * 1024 * 1024
# A unit up to this many rows stays in memory until it ends; a bigger one spills to disk.
UNIT_MEMORY_ROWS = 20_000
COMPRESSION = "lz4"  # staging is read once, by the merge: cheap to write beats small (published files: zstd)


def conform(table: str, data: pa.RecordBatch | pa.Table) -> pa.Table:
    """``data`` as exactly ``table``'s schema: columns in order, types cast, nulls checked.

    A missing or unknown column is a normalizer bug; it fails here, loudly, instead of
    becoming a silently all-NULL column in the published data.
    """
    schema = TABLES[table].schema
    names = set(data.schema.names)
    missing = [n for n in schema.names if n not in names]
    unknown = sorted(names - set(schema.names))
    if missing or unknown:
        raise PublishError(
            f"table {table!r}: batch does not match the schema"
            f" (missing {missing or 'none'}, unknown {unknown or 'none'})"
        )
    tbl = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    if tbl.schema.equals(schema):
        return tbl  # what the normalizers build: a cast would copy nothing, column by column
    try:
        return tbl.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise PublishError(f"table {table!r}: batch does not fit the schema: {exc}") from exc


def held_bytes(data: pa.Table) -> int:
    """The memory ``data`` keeps alive: its buffers, each counted whole.

    ``Table.nbytes`` counts only the bytes a slice references, at about 3 µs a column: called
    for every batch staged, it was a tenth of the event loop's time during the small panels.
    Whole buffers over-count a slice of a larger array, which only makes a buffer flush a
    little earlier; the lineage strings, shared by every batch, are exact views for that
    reason (``etl.normalize._common.repeated``).
    """
    return int(data.get_total_buffer_size())


class _PartFile:
    """A part file that the write-behind thread creates at its first write.

    A checkpoint starts a new part for every table; creating the file (and its folder) there
    kept the loop in file-system calls, which wait on whatever else the disk is doing. Only
    the thread touches the writer: it is created, written and closed in submission order.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema = path, schema
        self._writer: pq.ParquetWriter | None = None

    def write_table(self, table: pa.Table, row_group_size: int) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, self.schema, compression=COMPRESSION)
        self._writer.write_table(table, row_group_size=row_group_size)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _TableParts:
    """The open part file of one table, and the rows buffered for its next row group."""

    def __init__(self, folder: Path, table: str, rows_per_file: int,
                 behind: WriteBehind) -> None:
        self.folder = folder
        self.behind = behind
        self.table = table
        self.rows_per_file = rows_per_file
        self.parts = 0
        self.rows_in_part = 0
        self.writer: _PartFile | None = None
        self.buffer: list[pa.Table] = []
        self.buffered_rows = 0
        self.buffered_bytes = 0
        self.completed: list[Path] = []  # parts closed whole, not yet reported

    def add(self, data: pa.Table) -> None:
        self.buffer.append(data)
        self.buffered_rows += data.num_rows
        self.buffered_bytes += held_bytes(data)
        if self.buffered_rows >= ROW_GROUP_ROWS or self.buffered_bytes >= BUFFER_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        data = pa.concat_tables(self.buffer)
        self.buffer, self.buffered_rows, self.buffered_bytes = [], 0, 0
        while data.num_rows:
            if self.writer is None or self.rows_in_part >= self.rows_per_file:
                self._roll()
            assert self.writer is not None
            take = min(data.num_rows, self.rows_per_file - self.rows_in_part)
            part = data.slice(0, take)
            self.behind.submit(self.writer.write_table, part, row_group_size=take,
                               size=held_bytes(part))
            self.rows_in_part += take
            data = data.slice(take)

    def _roll(self) -> None:
        self.close_file()
        path = self.folder / f"part-{self.parts:05d}.parquet"
        self.writer = _PartFile(path, TABLES[self.table].schema)
        self.parts += 1
        self.rows_in_part = 0

    def close_file(self) -> None:
        """Close the open part (behind its writes: drain to see it closed); it joins
        ``completed``."""
        if self.writer is None:
            return
        self.behind.submit(self.writer.close)
        self.writer = None
        self.completed.append(self.folder / f"part-{self.parts - 1:05d}.parquet")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.close_file()


def staged_files(folder: Path) -> list[Path]:
    """A table's staged files in the order publish must read them (the last write wins)."""
    return sorted(folder.glob("part-*.parquet")) + sorted(folder.glob("unit-*.parquet"))


class UnitFiles:
    """One unit's rows, kept whole or not at all, in bounded memory.

    Rows are held in memory up to :data:`UNIT_MEMORY_ROWS`; a bigger unit (a 200,000-image
    eval) spills page by page into hidden files. :meth:`commit` hands held rows to the
    staging writer, or renames the spilled files into place (``unit-NNNNN.parquet``);
    :meth:`discard` forgets them.
    """

    def __init__(self, staging: StagingWriter, seq: int) -> None:
        self.staging = staging
        self.seq = seq
        self._held: list[tuple[str, pa.Table]] = []
        self._held_rows = 0
        self._writers: dict[str, tuple[Path, pq.ParquetWriter]] = {}

    def write(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        data = conform(table, batch)
        if not data.num_rows:
            return
        if not self._writers:
            self._held.append((table, data))
            self._held_rows += data.num_rows
            if self._held_rows < UNIT_MEMORY_ROWS:
                return
            held, self._held, self._held_rows = self._held, [], 0
            for name, rows in held:
                self._spill(name, rows)
            return
        self._spill(table, data)

    def _spill(self, table: str, data: pa.Table) -> None:
        if table not in self._writers:
            folder = self.staging.directory / table
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f".unit-{self.seq:05d}.parquet.tmp"
            writer = pq.ParquetWriter(path, TABLES[table].schema, compression=COMPRESSION)
            self._writers[table] = (path, writer)
        self.staging.behind.submit(self._writers[table][1].write_table, data,
                                   row_group_size=max(data.num_rows, 1), size=held_bytes(data))

    def commit(self) -> None:
        for table, rows in self._held:
            self.staging.write(table, rows)
        self._held = []
        for path, _ in self._close():
            final = path.with_name(f"unit-{self.seq:05d}.parquet")
            self.staging.behind.submit(path.rename, final)  # after its close, in order
            self.staging.completed.append(final)

    def discard(self) -> None:
        self._held = []
        for path, _ in self._close():
            self.staging.behind.submit(path.unlink, missing_ok=True)

    def _close(self) -> list[tuple[Path, pq.ParquetWriter]]:
        """Close the unit's files (behind their writes)."""
        writers = list(self._writers.values())
        self._writers = {}
        for _, writer in writers:
            self.staging.behind.submit(writer.close)
        return writers


class Closing:
    """``with`` support for the writers: leaving the block closes them, even on an error."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StagingWriter(Closing):
    """Appends batches to ``<directory>/<table>/part-NNNNN.parquet``; close() to finish.

    Usable as a context manager. Tables that never receive a row get no folder: publish
    treats a missing folder as "nothing staged".
    """

    def __init__(self, directory: Path, *, rows_per_file: int = ROWS_PER_FILE,
                 behind: WriteBehind = INLINE) -> None:
        self.directory = Path(directory)
        self.rows_per_file = rows_per_file
        self.behind = behind  # who runs the Parquet writes (a thread, or INLINE)
        self._tables: dict[str, _TableParts] = {}
        self._units = 0
        self._closed = False
        self.completed: list[Path] = []  # files closed whole since the last checkpoint

    def unit(self) -> UnitFiles:
        """Files for one big unit's rows (see :class:`UnitFiles`)."""
        self._units += 1
        return UnitFiles(self, self._units)

    def write(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """Stage ``batch`` (cast to ``table``'s schema) for publishing."""
        if self._closed:
            raise PublishError(f"staging writer for {self.directory} is closed")
        if table not in TABLES:
            raise PublishError(f"unknown table {table!r}")
        data = conform(table, batch)
        if data.num_rows == 0:
            return
        parts = self._tables.get(table)
        if parts is None:
            parts = self._tables[table] = _TableParts(
                self.directory / table, table, self.rows_per_file, self.behind
            )
        parts.add(data)

    def checkpoint(self) -> list[Path]:
        """Write every buffered row and close every part whole; returns the files completed
        since the last checkpoint (the next writes open new parts)."""
        if self._closed:
            return []
        done, self.completed = self.completed, []
        for parts in self._tables.values():
            parts.flush()
            parts.close_file()
            done += parts.completed
            parts.completed = []
        return done  # closed behind the writes: queue what names them after (see behind)

    def finish(self, tables: list[str]) -> None:
        """Write ``tables``' buffered rows and close their parts whole (behind the writes):
        no more rows will come for them. They are reported at the next checkpoint."""
        if self._closed:
            return
        for name in tables:
            if (parts := self._tables.get(name)) is not None:
                parts.flush()
                parts.close_file()

    def close(self) -> None:
        """Flush every buffer and close every file; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with ExitStack() as stack:  # every table's file gets closed, even if one fails
            stack.callback(self.behind.drain)  # last: the closes are writes behind too
            for parts in self._tables.values():
                stack.callback(parts.close)
