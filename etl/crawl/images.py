"""One pass over the pages of an image-predictions unit, in bounded requests and tasks.

The first page reveals ``totalImages``; the others are fetched by a few workers (never one
task per page: a total of 10**9 must not become 10**9 coroutines) that stop at the first page
ending the data early. The verdicts are the pure functions of :mod:`etl.crawl.pager`: a lying
total costs one request (:func:`~etl.crawl.pager.implausible`), or the pages before the first
short one plus one per worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from etl.config import CrawlConfig
from etl.crawl.client import Client
from etl.crawl.http import Response
from etl.crawl.pager import implausible, offsets_after, short_page
from etl.crawl.sink import Sink, UnitRows
from etl.crawl.tasks import task_group
from etl.errors import ContractError
from etl.normalize import FetchContext, gc_paused
from etl.normalize.image_predictions import normalize_page
from etl.panels import PanelRequest

MAX_PAGE_WORKERS = 8  # pages of one unit in flight at most (the HTTP limiter caps the run)


@dataclass
class Cost:
    """What one unit spent: HTTP attempts (retries included) and requests (pages)."""

    attempts: int = 0
    requests: int = 0


class ImagePass:
    """The pages of one unit, each normalized into ``rows`` as it arrives."""

    def __init__(self, client: Client, sink: Sink, unit: PanelRequest, cost: Cost,
                 rows: UnitRows, crawl: CrawlConfig,
                 context: Callable[[datetime], FetchContext]) -> None:
        self.client, self.sink, self.unit, self.cost, self.rows = client, sink, unit, cost, rows
        self.size = crawl.image_page_size
        self.max_images = crawl.max_images_per_unit
        self.workers = max(1, min(MAX_PAGE_WORKERS, crawl.concurrency))
        self.context = context
        self.seen: set[str] = set()  # image ids already kept: a repeat on a later page is dropped
        self.totals: list[int] = []
        self.received = 0  # images the pages held, repeats included
        self.ended_early = False

    async def fetch(self) -> None:
        first = (await self._get(0)).value
        problem = implausible(first.total_images, len(first.images), self.size, self.max_images)
        if problem is not None:
            raise ContractError("image-predictions", "totalImages", problem, self.unit.eval_id)
        offsets = iter(offsets_after(self.size, first.total_images))
        async with task_group() as tg:  # the first failing page decides the unit
            for _ in range(self.workers):
                tg.start_soon(self._worker, offsets)

    async def _worker(self, offsets: Iterator[int]) -> None:
        for offset in offsets:  # shared: each offset goes to one worker
            if self.ended_early:
                return
            page = (await self._get(offset)).value
            if short_page(offset, len(page.images), page.total_images, self.size):
                self.ended_early = True  # the data ends here: asking further is wasted

    async def _get(self, offset: int) -> Response:
        self.cost.requests += 1
        response = await self.client.image_page(self.unit, offset, self.size)
        self.cost.attempts += response.attempts
        query = {**self.unit.query(), "offset": str(offset), "limit": str(self.size)}
        self.sink.archive(self.unit, query, response.fetched_at, response.body)
        page = response.value
        self.totals.append(page.total_images)
        self.received += len(page.images)
        ctx = self.context(response.fetched_at)
        with gc_paused():
            batches = normalize_page(page, ctx, self.seen)
        for table, batch in batches.items():
            self.rows.write(table, batch)
        return response
