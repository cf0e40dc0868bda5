"""Enumerate every evaluation of a workspace despite the list endpoint's 200-row cap.

The list endpoint has no cursor (api-contract §12): a page holding exactly 200 rows may be
missing the rest. So a full page is split by filter, finest last: status, then project (from
``GET /:workspace``), then version (workspace-wide, so rows are kept whatever their project),
then model. Evals of deleted projects (``project: null``) are reached through the version and
model filters. Results are deduplicated by ``evalId`` and never depend on list order. A
partition that is still full at the finest level makes the listing incomplete, with a warning:
then no eval is marked "no longer listed" on the strength of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import anyio

from etl.crawl.client import LIST_LIMIT, Client
from etl.crawl.tasks import task_group
from etl.errors import BadRequestError, ContractError, NotFoundError, TransientError
from etl.normalize.evaluations import ListPage, ProjectInfo
from etl.panels import EvalListing

STATUSES = ("running", "done", "failed")


@dataclass
class Listing:
    evals: list[EvalListing]
    complete: bool
    warnings: list[str] = field(default_factory=list)


class _Enumerator:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.found: dict[str, EvalListing] = {}
        self.memo: dict[tuple[tuple[str, str], ...], ListPage | None] = {}
        self._locks: dict[tuple[tuple[str, str], ...], anyio.Lock] = {}
        self.complete = True
        self.warnings: list[str] = []
        self._projects: list[ProjectInfo] | None = None
        self._conflicts: set[tuple[str, EvalListing]] = set()

    async def query(self, **filters: str) -> ListPage | None:
        """One list call (memoized); a failed partition makes the listing incomplete."""
        key = tuple(sorted(filters.items()))
        # Project buckets run concurrently and share the workspace-wide version queries:
        # the lock makes the second asker wait for the first answer instead of resending.
        async with self._locks.setdefault(key, anyio.Lock()):
            if key not in self.memo:
                self.memo[key] = await self._send(filters)
        return self.memo[key]

    async def _send(self, filters: dict[str, str]) -> ListPage | None:
        try:
            page = await self.client.list_evals(**filters)
        except (TransientError, BadRequestError, NotFoundError, ContractError) as exc:
            self._incomplete(f"listing {_describe(filters)} failed: {exc}")
            return None
        self.absorb(page, filters)
        return page

    def absorb(self, page: ListPage, filters: dict[str, str]) -> None:
        for row in page.evals:
            seen = self.found.setdefault(row.eval_id, row)
            if seen != row and (row.eval_id, row) not in self._conflicts:
                # The documented rule: the first row the listing returned for an id wins.
                self._conflicts.add((row.eval_id, row))
                self.warnings.append(
                    f"listing {_describe(filters)}: eval {row.eval_id!r} listed twice with "
                    f"different fields; kept the first ({_differences(seen, row)})")
        for problem in page.problems:
            # The eval behind a bad row cannot be named, so it cannot be marked as gone.
            self._incomplete(f"listing {_describe(filters)}: row skipped: {problem}")

    async def projects(self) -> list[ProjectInfo]:
        if self._projects is None:
            try:
                self._projects = await self.client.projects()
            except (TransientError, BadRequestError, NotFoundError, ContractError) as exc:
                self._incomplete(f"cannot list the workspace's projects: {exc}")
                self._projects = []
        return self._projects

    async def status_bucket(self, status: str) -> None:
        if not _full(await self.query(status=status)):
            return
        projects = await self.projects()
        async with task_group() as tg:
            for project in projects:
                tg.start_soon(self.project_bucket, project, status)
        # Evals of deleted projects: only version- and model-filtered calls can reach them.
        versions = max((p.versions for p in projects), default=0)
        orphan_rows: list[EvalListing] = []
        full_versions = []
        for version in range(1, versions + 1):
            page = await self.query(version=str(version), status=status)
            if page is not None and _full(page):
                full_versions.append(version)
                orphan_rows += [r for r in page.evals if r.project is None]
        if full_versions and orphan_rows:
            # Only when a full bucket showed deleted-project evals: one that shows none is
            # taken to hold none (no filter could find them anyway, and warning every large
            # workspace about evals nobody has seen would drown the real warnings).
            await self.model_buckets(orphan_rows, status, f"deleted projects, status={status}")

    async def project_bucket(self, project: ProjectInfo, status: str) -> None:
        if not _full(await self.query(project=project.slug, status=status)):
            return
        for version in range(1, project.versions + 1):
            page = await self.query(version=str(version), status=status)
            if page is not None and _full(page):
                mine = [r for r in page.evals if r.project == project.slug]
                await self.model_buckets(mine, status, f"version={version}, status={status}")

    async def model_buckets(self, rows: Iterable[EvalListing], status: str, where: str) -> None:
        rows = list(rows)
        models = sorted({r.model_id for r in rows if r.model_id})
        if any(r.model_id is None for r in rows):
            # No filter reaches an eval without a modelId: those past the cap stay unseen.
            self._incomplete(
                f"listing {where} returns {LIST_LIMIT} rows including evals without a modelId,"
                " which no finer filter can reach: evaluations beyond the API's cap may be missing")
        for model in models:
            if _full(await self.query(model=model, status=status)):
                self._incomplete(
                    f"listing model={model}, status={status} still returns {LIST_LIMIT} rows: "
                    "evaluations beyond the API's cap may be missing")
        if not models:
            self._incomplete(
                f"listing {where} returns {LIST_LIMIT} rows and no finer filter applies: "
                "evaluations beyond the API's cap may be missing")

    def _incomplete(self, warning: str) -> None:
        self.complete = False
        if warning not in self.warnings:  # project buckets share their version queries
            self.warnings.append(warning)


async def enumerate_evals(client: Client) -> Listing:
    """Every eval of the workspace, deduplicated, sorted by id.

    The first, unfiltered call is not guarded: if even that fails, there is nothing to do.
    """
    enum = _Enumerator(client)
    first = await client.list_evals()
    enum.absorb(first, {})
    if _full(first):
        async with task_group() as tg:
            for status in STATUSES:
                tg.start_soon(enum.status_bucket, status)
    evals = sorted(enum.found.values(), key=lambda e: e.eval_id)
    return Listing(evals, enum.complete, enum.warnings)


def _differences(first: EvalListing, other: EvalListing) -> str:
    fields = [f for f in ("status", "project", "version_id", "model_id", "created_at",
                          "model_url") if getattr(first, f) != getattr(other, f)]
    return ", ".join(f"{f} {getattr(first, f)!r} vs {getattr(other, f)!r}" for f in fields)


def _full(page: ListPage | None) -> bool:
    return page is not None and page.rows >= LIST_LIMIT


def _describe(filters: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(filters.items())) or "(unfiltered)"
