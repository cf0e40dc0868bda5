"""``export --dry-run``: what a run would fetch, from the listing alone.

It sends only list requests (the listing's partitions), plans exactly as a run would, and
returns counts: evals new, changed, pending (not ok last time, or not done yet), unchanged;
units per panel; the requests the plan needs at least (one per unit; image-predictions
units need one more per page of 1,000 images, which only the first page tells).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from etl.config import Config
from etl.crawl.client import Client
from etl.crawl.http import Http
from etl.crawl.listing import enumerate_evals
from etl.crawl.plan import plan_run
from etl.panels import PreviousState

# How a run's plan names why an eval is fetched, grouped the way an operator asks.
_KINDS = {"full refresh": "new", "new eval": "new", "listing changed": "changed",
          "panels not ok last time": "pending"}


@dataclass(frozen=True)
class Preview:
    mode: str  # full or incremental
    evals_listed: int
    listing_complete: bool
    evals: dict[str, int]  # new, changed, pending, unchanged
    units: dict[str, int]  # per panel, units the run would request
    units_recorded_without_request: int  # panels of evals not done yet
    requests_at_least: int
    list_requests: int
    warnings: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        evals = ", ".join(f"{k} {v}" for k, v in self.evals.items())
        units = ", ".join(f"{k} {v}" for k, v in sorted(self.units.items())) or "none"
        return [
            (f"dry run ({self.mode}): {self.evals_listed} evals listed with {self.list_requests} "
            f"list requests{'' if self.listing_complete else ' (listing INCOMPLETE)'}"),
            f"evals: {evals}",
            (f"units to request: {sum(self.units.values())} ({units}); "
            f"{self.units_recorded_without_request} recorded without a request (evals not done)"),
            (f"requests: at least {self.requests_at_least} (image-predictions pages beyond "
            "the first are known only once fetched)"),
            "nothing was fetched or written",
        ]


async def preview(config: Config, previous: PreviousState | None) -> Preview:
    async with Http(config.api, config.crawl) as http:
        listing = await enumerate_evals(Client(http, config.workspace))
    plans = {p.listing.eval_id: p for p in plan_run(listing.evals, config.crawl, previous)}
    kinds: Counter[str] = Counter()
    for item in listing.evals:
        plan = plans.get(item.eval_id)
        kinds["unchanged" if plan is None else _KINDS.get(plan.reason, "pending")] += 1
    units: Counter[str] = Counter(u.panel for p in plans.values() for u in p.fetch)
    return Preview(
        mode="full" if previous is None else "incremental",
        evals_listed=len(listing.evals), listing_complete=listing.complete,
        evals={k: kinds.get(k, 0) for k in ("new", "changed", "pending", "unchanged")},
        units=dict(units), units_recorded_without_request=sum(len(p.not_done)
                                                              for p in plans.values()),
        requests_at_least=sum(units.values()), list_requests=http.stats.requests,
        warnings=tuple(listing.warnings))
