"""Several workspaces in one run: each crawled with its own key and an equal share of the
concurrency cap, at the same time, into the one sink of the run.

A workspace whose key is refused, or whose listing cannot be had, is that workspace's
failure: it is recorded and the others go on (and publish). Only when every workspace failed
does the run fail, with the first workspace's error, as a run of that one workspace would.
A run of a single workspace is exactly :func:`etl.crawl.engine.crawl`, errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from etl.config import Config, WorkspaceSource
from etl.crawl.engine import CrawlResult, ProgressEvent, crawl
from etl.crawl.resume import Resumable
from etl.crawl.sink import Sink
from etl.crawl.tasks import task_group
from etl.errors import ApiError
from etl.panels import PreviousState


@dataclass(frozen=True)
class WorkspaceRun:
    """How one workspace of a run ended: its crawl, or the error that stopped it."""

    slug: str
    result: CrawlResult | None
    error: ApiError | None = None


def for_workspace(config: Config, source: WorkspaceSource, share: int) -> Config:
    """``config`` as a run of ``source`` alone would have it, with ``share`` requests in flight."""
    return replace(config, workspace=source.slug, workspaces=(),
                   api=replace(config.api, key=source.key),
                   crawl=replace(config.crawl, concurrency=share))


async def crawl_workspaces(
    config: Config, sink: Sink, *, run_id: str, previous: PreviousState | None,
    resumable: Resumable | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> list[WorkspaceRun]:
    sources = config.sources()
    if len(sources) == 1:
        result = await crawl(config, sink, run_id=run_id, previous=previous,
                             progress=progress, resumable=resumable)
        return [WorkspaceRun(config.workspace, result)]
    share = max(1, config.crawl.concurrency // len(sources))
    seen: dict[str, ProgressEvent] = {}
    runs: dict[str, WorkspaceRun] = {}

    def tick(slug: str, event: ProgressEvent) -> None:
        seen[slug] = event
        if progress is not None:
            progress(ProgressEvent(sum(e.units_done for e in seen.values()),
                                   sum(e.units_total for e in seen.values()),
                                   sum(e.requests for e in seen.values())))

    async def one(source: WorkspaceSource) -> None:
        try:
            result = await crawl(for_workspace(config, source, share), sink, run_id=run_id,
                                 previous=previous, resumable=resumable,
                                 progress=lambda e: tick(source.slug, e))
        except ApiError as exc:  # this workspace's key refused, or its listing out of reach
            runs[source.slug] = WorkspaceRun(source.slug, None, exc)
        else:
            runs[source.slug] = WorkspaceRun(source.slug, result)

    async with task_group() as tg:
        for source in sources:
            tg.start_soon(one, source)
    ordered = [runs[s.slug] for s in sources]
    if all(r.error is not None for r in ordered):
        error = ordered[0].error
        assert error is not None
        raise error
    return ordered
