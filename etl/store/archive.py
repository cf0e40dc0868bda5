"""The raw response archive: every body a run received, kept for offline replay.

``evals-etl replay`` re-normalizes a run from its archive without calling the API, so a
normalizer fix can be applied to data already fetched. One folder per run of Parquet parts
(``archive/part-NNNNN.parquet``; runs before 0.2 have one ``archive.parquet`` file), one row
per response (each image-predictions page is a row); bodies are stored byte-exact. The
writer buffers rows and writes a row group every ~16 MB, so a run's memory does not grow
with the size of the workspace. At a checkpoint the current part is closed whole, so a
killed run leaves complete parts that the next run can take over (see ``store.journal``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from etl.errors import PublishError
from etl.panels import Panel
from etl.store.behind import INLINE, WriteBehind
from etl.store.writer import Closing

ROW_GROUP_BYTES = 16 * 1024 * 1024
READ_BATCH_ROWS = 256

SCHEMA = pa.schema([
    pa.field("eval_id", pa.string(), nullable=False),
    pa.field("panel", pa.string(), nullable=False),
    pa.field("split", pa.string()),
    pa.field("confidence", pa.int64()),
    pa.field("query", pa.string(), nullable=False),
    # Microseconds: replay must hand normalizers the very instant the crawl saw.
    pa.field("fetched_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("body", pa.binary(), nullable=False),
])


@dataclass(frozen=True)
class ArchivedResponse:
    """One response body with the request it answered (``query`` as sent, canonical order)."""

    eval_id: str
    panel: Panel
    split: str | None
    confidence: int | None
    query: str
    fetched_at: datetime
    body: bytes


class ArchiveWriter(Closing):
    """Appends responses to zstd Parquet parts in ``folder``; ``close()`` finishes the last.

    The first part exists (possibly with zero rows) from construction on, so every run that
    got as far as crawling leaves an archive replay can open. Parts are numbered from
    ``first_part`` (parts taken over from a killed run come before).
    """

    def __init__(self, folder: Path, *, first_part: int = 0,
                 behind: WriteBehind = INLINE) -> None:
        self.folder = Path(folder)
        self.behind = behind  # who runs the Parquet writes (a thread, or INLINE)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._next_part = first_part
        self._rows: list[ArchivedResponse] = []
        self._bytes = 0
        self._closed = False
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._open()

    def _open(self) -> None:
        self._path = self.folder / f"part-{self._next_part:05d}.parquet"
        self._next_part += 1
        self._writer = pq.ParquetWriter(self._path, SCHEMA, compression="zstd")

    def append(self, response: ArchivedResponse) -> None:
        if self._closed:
            raise PublishError(f"archive {self.folder} is closed")
        if self._writer is None:
            self._open()
        self._rows.append(response)
        self._bytes += len(response.body)
        if self._bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._writer is not None:
            self._flush_into(self._writer)

    def _flush_into(self, writer: pq.ParquetWriter) -> None:
        if not self._rows:
            return
        columns = {name: [getattr(r, name) for r in self._rows] for name in SCHEMA.names}
        table = pa.Table.from_pydict(columns, schema=SCHEMA)
        self.behind.submit(writer.write_table, table, row_group_size=table.num_rows,
                           size=table.nbytes)
        self._rows, self._bytes = [], 0

    def checkpoint(self) -> list[Path]:
        """Close the current part whole and return it (the next append opens a new one)."""
        if self._writer is None:
            return []
        path, writer = self._path, self._writer
        self._writer = None
        try:
            self._flush_into(writer)
        finally:
            self.behind.submit(writer.close)  # queue what names the part after this
        return [path] if path is not None else []

    def close(self) -> None:
        """Write what is buffered and close the part; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.checkpoint()


def archive_parts(path: Path) -> list[Path]:
    """The files of an archive: a folder's parts in order, or the one file of an older run."""
    return sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]


def read_archive(path: Path) -> Iterator[ArchivedResponse]:
    """Every archived response of ``path`` (a folder of parts, or one file), in order."""
    for part in archive_parts(path):
        with pq.ParquetFile(part) as file:
            for batch in file.iter_batches(batch_size=READ_BATCH_ROWS):
                for row in batch.to_pylist():
                    yield ArchivedResponse(**row)
