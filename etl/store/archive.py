"""The raw response archive: every body a run received, kept for offline replay.

``evals-etl normalize`` re-normalizes a run from its archive without calling the API, so a
normalizer fix can be applied to data already fetched. One Parquet file per run, one row
per response (each image-predictions page is a row); bodies are stored byte-exact. The
writer buffers rows and writes a row group every ~16 MB, so a run's memory does not grow
with the size of the workspace.
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
    """Appends responses to one zstd Parquet file; ``close()`` finishes it.

    The file exists (possibly with zero rows) from construction on, so every run that got
    as far as crawling leaves an archive replay can open.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.path, SCHEMA, compression="zstd"
        )
        self._rows: list[ArchivedResponse] = []
        self._bytes = 0

    def append(self, response: ArchivedResponse) -> None:
        if self._writer is None:
            raise PublishError(f"archive {self.path} is closed")
        self._rows.append(response)
        self._bytes += len(response.body)
        if self._bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._rows or self._writer is None:
            return
        columns = {name: [getattr(r, name) for r in self._rows] for name in SCHEMA.names}
        table = pa.Table.from_pydict(columns, schema=SCHEMA)
        self._writer.write_table(table, row_group_size=table.num_rows)
        self._rows, self._bytes = [], 0

    def close(self) -> None:
        """Write what is buffered and close the file; safe to call twice."""
        if self._writer is None:
            return
        try:
            self._flush()
        finally:
            self._writer.close()
            self._writer = None


def read_archive(path: Path) -> Iterator[ArchivedResponse]:
    """Every archived response of ``path``, in the order they were appended."""
    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(batch_size=READ_BATCH_ROWS):
            for row in batch.to_pylist():
                yield ArchivedResponse(**row)
