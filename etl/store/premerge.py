"""Merging a panel's tables while the crawl still runs, once every unit of the panel is done.

The image-predictions units are crawled first and end at about half the crawl; their two
tables hold nine rows in ten of a run. Merging them at publish time kept the second core idle
during the crawl and the network idle during the merge. So as soon as every unit of a panel
has its outcome, the sink hands the panel here, and one thread merges its tables (DuckDB and
the Parquet writer run without the GIL) into ``staging/<run>/premerged/``, beside the crawl.

Nothing here is published. The publish uses a premerged file only when the
:class:`~etl.store.merge.Basis` it was merged from is the one the publish itself would merge
from (:meth:`etl.store.merge.Merge.basis`: the same previous file, ok units and staged
files); any other premerged file, and any premerge that failed, is ignored and the table
merged at publish as before, where its error (a full disk, a damaged snapshot) is reported
as it always was. Atomic publish is untouched: the premerged files are staging, like the
staged parts, and a run that stops before publishing leaves them to be deleted with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Self

from etl.panels import PanelRequest
from etl.schemas import TABLES
from etl.store.commit import Commit
from etl.store.layout import DATA_FILE, PREMERGE_SPILL, PREMERGED
from etl.store.merge import Merge, Premerged
from etl.store.writer import staged_files

log = logging.getLogger(__name__)

# A panel staged smaller than this is left to the publish: a merge of its own costs a
# connection and a pass over the unit tables, which on a light workspace (every panel a
# few MB) added 10% of CPU for nothing (measured: light compare, CPU per request 1.10x).
MIN_BYTES = 16 * 1024 * 1024
# DuckDB's limit beside the crawl: half the publish merge's (measured on the image-heavy
# benchmark: 63 MB lower peak, same time; at 32 MB the image sort cannot run at all).
MEMORY = "64MB"


def panel_tables(panel: str) -> list[str]:
    """The tables a premerge of ``panel`` writes (``evaluations`` waits for the others)."""
    return [name for name, table in TABLES.items()
            if table.panel == panel and name != "evaluations"]


class Premerge:
    """One thread merging panels' tables ahead of the publish; a context manager that stops
    it (interrupting a merge under way) when the run leaves it."""

    def __init__(self, previous: Path | None, staging: Path, *,
                 published: Mapping[str, Mapping[str, object]] | None = None,
                 skip: Iterable[str] = (), min_bytes: int | None = None) -> None:
        self.previous, self.staging = previous, Path(staging)
        self.min_bytes = min_bytes  # None: MIN_BYTES
        self.published, self.skip = dict(published or {}), frozenset(skip)
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            1, thread_name_prefix="evals-etl-premerge")
        self._jobs: list[Future[dict[str, Premerged]]] = []
        self._lock = threading.Lock()
        self._merge: Merge | None = None  # the one under way, for stop() to interrupt
        self._stopped = threading.Event()  # seen between batches, should the interrupt miss

    def panel(self, panel: str, ok: Iterable[PanelRequest],
              attempted: Iterable[PanelRequest]) -> None:
        """Merge ``panel``'s tables from its ``ok`` units (all recorded: ``attempted``).

        Safe from any thread (the write-behind thread calls it, once the panel's staged
        files are closed); a no-op once stopped.
        """
        tables = panel_tables(panel)
        ok, attempted = tuple(ok), tuple(attempted)
        if not tables or not ok:
            return  # nothing fetched: the publish carries the previous file over
        floor = MIN_BYTES if self.min_bytes is None else self.min_bytes
        try:
            if floor and self._staged_bytes(tables) < floor:
                return  # merged in a blink at publish, in the one connection it opens anyway
        except OSError as exc:  # premerging is optional: the publish will say what is wrong
            log.debug("premerge of %s skipped: %s", panel, exc)
            return
        with self._lock:
            if self._pool is not None:
                self._jobs.append(self._pool.submit(self._run, tables, ok, attempted))

    def _staged_bytes(self, tables: list[str]) -> int:
        # Called behind the panel's closes: its files are whole.
        files = [f for name in tables for f in staged_files(self.staging / "tables" / name)]
        return sum(f.stat().st_size for f in files if f.is_file())

    def _run(self, tables: list[str], ok: tuple[PanelRequest, ...],
             attempted: tuple[PanelRequest, ...]) -> dict[str, Premerged]:
        commit = Commit(run_id="premerge", staging=self.staging, ok_units=ok,
                        attempted_units=attempted, panel_status=TABLES["panel_status"]
                        .schema.empty_table(), run_row=TABLES["runs"].schema.empty_table(),
                        listing=None)
        folder = self.staging / PREMERGED
        merge = Merge(self.previous, folder, self.staging, published=self.published,
                      skip=self.skip, spill=PREMERGE_SPILL, memory=MEMORY,
                      cancelled=self._stopped.is_set, check_damage=False)
        # Taken before the merge reads them: a file changed meanwhile then fails the check.
        bases = {name: merge.basis(TABLES[name], commit) for name in tables}
        with self._lock:
            if self._pool is None:
                return {}
            self._merge = merge
        try:
            rows = merge.run(commit, only=tables)
        except BaseException:
            for name in tables:  # a partial file would only take disk space from the publish
                (folder / name / DATA_FILE).unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._merge = None
        checked = frozenset((*attempted, *ok))  # what the merge's orphan check accepted
        return {name: Premerged(name, folder / name / DATA_FILE, count, bases[name], checked)
                for name, count in rows.items()}

    def results(self, *, queued: bool = False) -> dict[str, Premerged]:
        """The tables premerged: those done, and the one under way once it is.

        The panels still queued are dropped (unless ``queued``): the crawl is over, and the
        publish merges them faster on its own (no crawl to share the interpreter with, one
        connection for all). A premerge that failed is left out too (logged): the publish
        merges that table itself and reports what stops it.
        """
        with self._lock:
            # All at once, before waiting: the thread would start the next one meanwhile.
            jobs = [job for job in self._jobs if queued or not job.cancel()]
            self._jobs = []
        done: dict[str, Premerged] = {}
        for job in jobs:
            try:
                done.update(job.result())
            except Exception as exc:  # noqa: BLE001 - the publish redoes it, and reports it
                log.debug("premerge failed, the publish merges it: %s", exc)
        return done

    def stop(self) -> None:
        """Interrupt the merge under way, drop those queued, and wait for the thread."""
        self._stopped.set()
        with self._lock:
            pool, self._pool = self._pool, None
            if self._merge is not None:
                self._merge.interrupt()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
