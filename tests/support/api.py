"""The crawler's own API client against a real simulator, without a whole export around it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from etl.config import ApiConfig, CrawlConfig, Secret
from etl.crawl.client import Client
from etl.crawl.http import Http
from etl.simulator import SimHandle
from tests.support.runs import FAST


@asynccontextmanager
async def api_client(sim: SimHandle, *, key: str | None = None,
                     **crawl: Any) -> AsyncIterator[Client]:
    """A :class:`Client` on one :class:`Http` session, built as ``etl.crawl.engine`` builds it.

    The retry clock is the suite's fast one (``FAST``); ``crawl`` overrides CrawlConfig fields.
    """
    api = ApiConfig(url=sim.url, key=Secret(key or sim.options.api_key), read_timeout=5,
                    total_timeout=10)
    async with Http(api, CrawlConfig(**{**FAST, "concurrency": 8, **crawl})) as http:
        yield Client(http, sim.options.workspace)
