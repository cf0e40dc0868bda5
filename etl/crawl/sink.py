"""Where the crawl delivers: the interface between the crawl and whoever stores its results.

The crawl never writes a file itself. Every method is synchronous on purpose: each appends to
a local staging file or a list, which is cheap next to a request, and being synchronous means
a unit's rows cannot interleave with another unit's half-way through a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import pyarrow as pa

from etl.crawl import ledger
from etl.normalize import FetchContext
from etl.panels import EvalListing, PanelRequest


class UnitRows(Protocol):
    """Where a big unit's rows stream page by page; kept only if the unit succeeds."""

    def write(self, table: str, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class Sink(Protocol):
    def listed(self, listings: Sequence[EvalListing]) -> None:
        """The listing the run plans from, before any unit is fetched."""

    def emit(self, ctx: FetchContext, batches: dict[str, pa.RecordBatch]) -> None:
        """A small unit's rows, all at once, after its one request succeeded."""

    def unit(self) -> UnitRows:
        """A big unit's rows, page by page: ``commit()`` when whole, else ``discard()``."""

    def archive(self, request: PanelRequest, query: dict[str, str],
                fetched_at: datetime, body: bytes) -> None:
        """One raw response body, as received."""

    def record(self, outcome: ledger.Outcome) -> None:
        """A unit's outcome: exactly once per planned unit."""

    def panel_done(self, panel: str) -> None:
        """Every unit of ``panel`` this crawl planned has its outcome (none, when it planned
        none): no more rows of it will come from this crawl."""
