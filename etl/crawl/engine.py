"""The crawl: list the workspace, plan, fetch every panel unit with bounded concurrency.

Concurrency is bounded twice on purpose: a fixed pool of workers takes units from the plan
(so a 100,000-unit plan never becomes 100,000 coroutines), and :class:`etl.crawl.http.Http` caps
requests in flight (so the extra page requests of image-predictions units stay within the
cap). Each unit ends in exactly one :class:`etl.crawl.ledger.Outcome`; its rows reach the sink only
when the whole unit succeeded, so a unit is published whole or not at all.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from anyio.abc import TaskGroup

from etl import crashpoints, redact
from etl.config import Config
from etl.crawl import ledger
from etl.crawl.client import Client
from etl.crawl.http import Http, HttpStats
from etl.crawl.images import Cost, ImagePass
from etl.crawl.listing import enumerate_evals
from etl.crawl.pager import judge
from etl.crawl.plan import EvalPlan, plan_comparisons, plan_run
from etl.crawl.resume import Key, Resumable, key, reusable
from etl.crawl.sink import Sink
from etl.crawl.tasks import task_group
from etl.errors import ApiError, AuthError, ContractError, RetryBudgetExhausted, StorageError
from etl.normalize import PANELS, FetchContext, contract_error, gc_paused
from etl.panels import EvalListing, PanelRequest, PreviousState


@dataclass(frozen=True)
class ProgressEvent:
    units_done: int
    units_total: int
    requests: int


@dataclass
class CrawlResult:
    listings: list[EvalListing]
    listing_complete: bool
    warnings: list[str]
    evals_exported: int
    http: HttpStats
    aborted: str | None = None
    reused: frozenset[Key] = frozenset()  # units taken over from a killed run, not fetched


async def crawl(
    config: Config,
    sink: Sink,
    *,
    run_id: str,
    previous: PreviousState | None,
    progress: Callable[[ProgressEvent], None] | None = None,
    resumable: Resumable | None = None,
) -> CrawlResult:
    """List, plan and fetch.

    Raises :class:`AuthError` (the key was refused, at any point: the run ends at once) and,
    when the listing itself cannot be had, the API error that stopped it. A run that spends
    its retry budget midway returns with ``aborted`` set and every unfinished unit recorded.
    """
    started = time.monotonic()
    async with Http(config.api, config.crawl) as http:
        client = Client(http, config.workspace)
        listing = await enumerate_evals(client)
        crashpoints.reach("listed")
        sink.listed(listing.evals)
        plans = plan_run(listing.evals, config.crawl, previous)
        versions = plan_comparisons(listing.evals, previous, config.workspace)
        engine = _Engine(client, sink, config, run_id, progress, started)
        await engine.run(plans, reusable(resumable, listing.evals), versions)
    crashpoints.reach("crawled")
    return CrawlResult(
        listings=listing.evals,
        listing_complete=listing.complete,
        warnings=listing.warnings,
        evals_exported=len(engine.evals_ok),
        http=http.stats,
        aborted=engine.aborted,
        reused=frozenset(engine.reused),
    )


class _Engine:
    def __init__(self, client: Client, sink: Sink, config: Config, run_id: str,
                 progress: Callable[[ProgressEvent], None] | None, started: float) -> None:
        self.client = client
        self.sink = sink
        self.config = config
        self.run_id = run_id
        self.progress = progress
        deadline = config.crawl.deadline_seconds
        self.deadline = None if deadline is None else started + deadline
        self.evals_ok: set[str] = set()
        self.aborted: str | None = None
        self.done = 0
        self.total = 0
        self._queue: deque[PanelRequest] = deque()
        self._running: set[PanelRequest] = set()
        self.reused: set[Key] = set()
        self.listings: dict[str, EvalListing] = {}
        self._left: Counter[str] = Counter()  # per panel, units queued or running

    async def run(self, plans: list[EvalPlan], reuse: Mapping[Key, ledger.Outcome],
                  versions: Sequence[PanelRequest] = ()) -> None:
        """Fetch the eval plans' units and the version panels' (``versions``: compare)."""
        self.listings = {p.listing.eval_id: p.listing for p in plans}
        # Longest units first (image-predictions pages), so the run does not end on a tail.
        units = [u for p in plans for u in p.fetch] + list(versions)
        units.sort(key=lambda u: u.panel != "image-predictions")
        self.total = len(units) + sum(len(p.not_done) for p in plans)
        for plan in plans:
            for unit in plan.not_done:
                self._record(ledger.not_done(unit, plan.listing.status))
        units = [u for u in units if not self._reuse(u, reuse.get(key(u)))]
        self._queue.extend(units)
        self._left.update(u.panel for u in units)
        self._tick()
        try:
            for panel in PANELS:
                if not self._left[panel]:
                    self.sink.panel_done(panel)  # nothing to fetch: done already
            async with task_group() as tg:
                for _ in range(min(self.config.crawl.concurrency, len(units))):
                    tg.start_soon(self._worker, tg)
        finally:
            # Whatever stopped the run, every planned unit still ends in an outcome.
            self._left.clear()  # the panels cut short are not done: nothing to premerge
            why = self.aborted or "the run stopped before this unit finished"
            for unit in sorted(self._running) + list(self._queue):
                self._record(ledger.not_attempted(unit, why))
            self._running.clear()
            self._queue.clear()

    async def _worker(self, tg: TaskGroup) -> None:
        while self._queue and self.aborted is None:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                while self._queue:
                    self._record(ledger.not_attempted(self._queue.popleft(),
                                                "not started before the --deadline"))
                return
            unit = self._queue.popleft()
            self._running.add(unit)
            try:
                outcome = await self._fetch(unit)
            except RetryBudgetExhausted as exc:
                self.aborted = f"the API kept failing: {exc}"
                tg.cancel_scope.cancel()
                return
            self._running.discard(unit)
            self._record(outcome)

    async def _fetch(self, unit: PanelRequest) -> ledger.Outcome:
        cost = Cost()
        try:
            if unit.panel == "image-predictions":
                await self._images(unit, cost)  # its rows are staged as they arrive
            else:
                cost.requests = 1
                response = await self.client.panel(unit)
                cost.attempts, fetched_at = response.attempts, response.fetched_at
                self.sink.archive(unit, unit.query(), fetched_at, response.body)
                if (mismatch := self._disagrees(unit, response.value)) is not None:
                    return mismatch
                ctx = self._ctx(unit, fetched_at)
                with gc_paused():
                    batches = PANELS[unit.panel].normalize(response.value, ctx)
                self.sink.emit(ctx, batches)
        except (AuthError, RetryBudgetExhausted, StorageError):
            raise  # they end the run, not the unit
        except msgspec.ValidationError as exc:
            return ledger.from_error(unit, contract_error(unit.panel, exc, unit.eval_id),
                                     cost.attempts, cost.requests)
        except ApiError as exc:
            # The failing request's attempts come on top of those of the pages that worked.
            attempts = cost.attempts + exc.attempts if unit.panel == "image-predictions" \
                else exc.attempts
            return ledger.from_error(unit, exc, attempts, cost.requests)
        except ContractError as exc:
            return ledger.from_error(unit, exc, cost.attempts, cost.requests)
        except Exception as exc:  # noqa: BLE001 - a bug on one payload must not sink the run
            return ledger.Outcome(unit, "error", None, "internal_error",
                                  f"{unit.label}, panel {unit.panel!r}: "
                                  f"{type(exc).__name__}: {exc}", cost.attempts, cost.requests)
        if unit.eval_id:  # a version panel's unit (compare) is no eval's
            self.evals_ok.add(unit.eval_id)
        return ledger.ok(unit, cost.attempts, cost.requests)

    async def _images(self, unit: PanelRequest, cost: Cost) -> None:
        """All pages of one image-predictions unit.

        A pass that :func:`etl.crawl.pager.judge` finds changed or short means the eval changed
        under us: start the unit over once, then give up with a contract error.
        """
        problem = ""
        for _ in range(2):
            rows = self.sink.unit()
            pages = ImagePass(self.client, self.sink, unit, cost, rows, self.config.crawl,
                              lambda at: self._ctx(unit, at))
            try:
                await pages.fetch()
            except BaseException:
                rows.discard()
                raise
            verdict = judge(pages.totals, pages.received)
            if verdict.complete:
                rows.commit()
                return
            problem = verdict.problem
            rows.discard()
        raise ContractError("image-predictions", "totalImages", f"{problem}, twice in a row",
                            unit.eval_id)

    def _disagrees(self, unit: PanelRequest, value: object) -> ledger.Outcome | None:
        """A ``get`` whose status is not the listing's: not ok, so it is fetched again next run.

        (Its panels were planned from the listing's status; publishing a get that says
        otherwise would leave the eval's headline metrics inconsistent until a full refresh.)
        """
        listed = self.listings.get(unit.eval_id)
        status = getattr(value, "status", None)
        if unit.panel != "get" or listed is None or status is None or status == listed.status:
            return None
        return ledger.Outcome(unit, "unavailable", 200, "listing_mismatch", redact.text(
            f"eval {unit.eval_id!r}: the listing says {listed.status!r} but get says "
            f"{status!r}; it changed mid-run and is fetched again next run"), 1, 1)

    def _reuse(self, unit: PanelRequest, outcome: ledger.Outcome | None) -> bool:
        """Take a killed run's outcome (and staged rows) for ``unit`` instead of fetching it."""
        if outcome is None:
            return False
        self.reused.add(key(unit))
        if outcome.state == "ok":
            self.evals_ok.add(unit.eval_id)
        self._record(outcome)
        return True

    def _ctx(self, unit: PanelRequest, fetched_at: datetime) -> FetchContext:
        return FetchContext(self.config.workspace, self.run_id, fetched_at, unit)

    def _record(self, outcome: ledger.Outcome) -> None:
        self.sink.record(outcome)
        self.done += 1
        panel = outcome.request.panel
        if self._left[panel]:  # a queued unit's: the last of its panel lets the sink know
            self._left[panel] -= 1
            if not self._left[panel]:
                self.sink.panel_done(panel)
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(self.done, max(self.total, self.done),
                                        self.client.http.stats.requests))
