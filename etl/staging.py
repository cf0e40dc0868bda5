"""The crawl's :class:`~etl.crawl.sink.Sink`, backed by the store: staged rows, the raw archive,
and the checkpoint journal that lets the next run take over a killed run's work.

When a unit ends and the last checkpoint is older than :data:`CHECKPOINT_SHARE` of the run so
far (and at least :data:`CHECKPOINT_MIN_SECONDS`), the sink closes its staged part files and
archive part whole and appends one journal line naming them with the outcomes whose rows
they hold. A run killed at any point has therefore lost about 1% of its work at most, plus
the units in flight, while a long run makes only a few hundred checkpoints (their spacing
grows with the run), so the merge never reads an unbounded number of small files.

When every crawl of the run says a panel is done (:meth:`RunSink.panel_done`), the sink
closes that panel's staged parts and, behind those closes, hands the panel to the run's
:class:`~etl.store.premerge.Premerge`, which merges its tables while the crawl goes on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from etl.crawl import ledger
from etl.errors import StorageError
from etl.normalize import FetchContext
from etl.panels import EvalListing, PanelRequest
from etl.store.archive import ArchivedResponse, ArchiveWriter
from etl.store.behind import WriteBehind
from etl.store.journal import Checkpoint, Journal
from etl.store.premerge import Premerge, panel_tables
from etl.store.writer import StagingWriter, UnitFiles

CHECKPOINT_SHARE = 0.01
CHECKPOINT_MIN_SECONDS = 0.05


class _GuardedUnit:
    """A big unit's files, whose write failures become the run's :class:`StorageError`."""

    def __init__(self, sink: RunSink, files: UnitFiles) -> None:
        self.sink, self.files = sink, files

    def write(self, table: str, batch: pa.RecordBatch) -> None:
        with self.sink.storage(self.sink.staging / "tables" / table):
            self.files.write(table, batch)

    def commit(self) -> None:
        with self.sink.storage(self.sink.staging / "tables"):
            self.files.commit()

    def discard(self) -> None:
        if self.sink.failed is not None:  # the run is stopping: nothing to keep
            try:
                self.files.discard()
            except (OSError, pa.ArrowException):
                pass
            return
        # A write queued earlier may fail here (store.behind): the run's StorageError too.
        with self.sink.storage(self.sink.staging / "tables"):
            self.files.discard()


class RunSink:
    """Normalized batches to the staging writer, bodies to the archive, outcomes journaled."""

    def __init__(self, staging: Path, *, archive_parts: int = 0, crawls: int = 1) -> None:
        self.staging = Path(staging)
        self.crawls = crawls  # one per workspace of the run
        # Set by the run once it knows what the publish will merge from (None: no premerge).
        self.premerge: Premerge | None = None
        self._panels_done: Counter[str] = Counter()
        # Parquet encoding and compression run on a thread of their own, off the event loop.
        self.behind = WriteBehind()
        self.writer = StagingWriter(self.staging / "tables", behind=self.behind)
        self.archive_writer = ArchiveWriter(self.staging / "archive", first_part=archive_parts,
                                            behind=self.behind)
        self.journal = Journal(self.staging)
        self.outcomes: list[ledger.Outcome] = []
        self._unjournaled: list[ledger.Outcome] = []
        self._listings: dict[str, dict[str, object]] = {}  # eval id -> its listing row
        self._started = self._last_checkpoint = time.monotonic()
        self.failed: StorageError | None = None  # once a write failed, every later one fails

    @contextmanager
    def storage(self, path: Path) -> Iterator[None]:
        """A write under ``path``: a full or read-only disk stops the run at once, clearly."""
        if self.failed is not None:
            raise self.failed
        try:
            yield
        except (OSError, pa.ArrowException) as exc:
            error = StorageError.of(exc, path, "staging the crawl's results")
            if error is None:
                raise
            self.failed = error
            raise error from exc

    def listed(self, listings: Sequence[EvalListing]) -> None:
        self._listings = {item.eval_id: asdict(item) for item in listings}

    def emit(self, ctx: FetchContext, batches: dict[str, pa.RecordBatch]) -> None:
        for table, batch in batches.items():
            if batch.num_rows:
                with self.storage(self.staging / "tables" / table):
                    self.writer.write(table, batch)

    def unit(self) -> _GuardedUnit:
        return _GuardedUnit(self, self.writer.unit())

    def archive(
        self, request: PanelRequest, query: dict[str, str], fetched_at: datetime, body: bytes
    ) -> None:
        with self.storage(self.archive_writer.folder):
            self.archive_writer.append(ArchivedResponse(
                eval_id=request.eval_id,
                panel=request.panel,
                split=request.split,
                confidence=request.confidence,
                query="&".join(f"{k}={v}" for k, v in sorted(query.items())),
                fetched_at=fetched_at,
                body=body,
            ))

    def record(self, outcome: ledger.Outcome) -> None:
        self.outcomes.append(outcome)
        if outcome.attempted:
            self._unjournaled.append(outcome)
        now = time.monotonic()
        due = max(CHECKPOINT_MIN_SECONDS, (now - self._started) * CHECKPOINT_SHARE)
        if self._unjournaled and now - self._last_checkpoint >= due:
            self.checkpoint()

    def panel_done(self, panel: str) -> None:
        """One crawl has every outcome of ``panel``: once all have, premerge its tables."""
        self._panels_done[panel] += 1
        if self.premerge is None or self.failed is not None \
                or self._panels_done[panel] != self.crawls:
            return
        tables = panel_tables(panel)
        mine = [o for o in self.outcomes if o.request.panel == panel]
        with self.storage(self.staging / "tables"):
            self.writer.finish(tables)
            # Behind the closes: the premerge reads the panel's files once they are whole.
            self.behind.submit(self.premerge.panel, panel,
                               [o.request for o in mine if o.state == "ok"],
                               [o.request for o in mine])

    def checkpoint(self) -> None:
        """Make everything recorded so far durable for a successor run."""
        with self.storage(self.staging):
            files = self.writer.checkpoint() + self.archive_writer.checkpoint()
            records = tuple({**ledger.to_record(o),
                             "listing": self._listings.get(o.request.eval_id)}
                            for o in self._unjournaled)
            # Behind the closes of the files it names: written once they are whole on disk.
            self.behind.submit(self.journal.append, Checkpoint(
                tuple(p.relative_to(self.staging).as_posix() for p in files), records))
        self._unjournaled = []
        self._last_checkpoint = time.monotonic()

    def close(self) -> None:
        if self.failed is not None:  # stopping: close what can be closed, report the first
            for close in (self.writer.close, self.archive_writer.close, self.behind.close):
                try:
                    close()
                except (OSError, pa.ArrowException):
                    pass
            return
        try:
            with self.storage(self.staging):
                self.writer.close()
                self.archive_writer.close()
                self.behind.drain()  # the writes queued last fail here, as the run's error
        finally:
            self.behind.stop()
