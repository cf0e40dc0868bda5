"""What the crawls of one run add up to, when it covers several workspaces.

Each workspace's crawl (:mod:`etl.crawl.workspaces`) ends in its own result or error; the
run publishes one snapshot. This module combines them: one result for the summary, how each
workspace ended (for the summary, the ``runs`` row and the final record), which workspaces'
listings were complete (only within those may an eval be marked no longer listed), and the
``panel_status`` and listing rows stamped with the workspace each eval belongs to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from etl.crawl import ledger
from etl.crawl.engine import CrawlResult
from etl.crawl.http import HttpStats
from etl.crawl.workspaces import WorkspaceRun
from etl.errors import EXIT_API_DOWN, EXIT_OK, EXIT_PARTIAL, AuthError
from etl.normalize import listing_batch
from etl.panels import PanelRequest


def combined(runs: Sequence[WorkspaceRun]) -> CrawlResult:
    """One result for the whole run (listings, warnings and counts of every workspace)."""
    done = [r.result for r in runs if r.result is not None]
    if len(runs) == 1 and done:
        return done[0]
    return CrawlResult(
        listings=[item for r in done for item in r.listings],
        listing_complete=len(done) == len(runs) and all(r.listing_complete for r in done),
        warnings=[w for r in done for w in r.warnings],
        evals_exported=sum(r.evals_exported for r in done),
        http=HttpStats(requests=sum(r.http.requests for r in done),
                       retries=sum(r.http.retries for r in done),
                       max_in_flight=max((r.http.max_in_flight for r in done), default=0)),
        aborted=next((r.aborted for r in done if r.aborted), None),
        reused=frozenset().union(*(r.reused for r in done)),
    )


@dataclass(frozen=True)
class Owners:
    """Whose unit is it: a version unit names its workspace; an eval's is the workspace that
    listed it (``fallback``, the run's first workspace, for one no listing had)."""

    by_eval: Mapping[str, str]
    fallback: str

    @classmethod
    def of(cls, runs: Sequence[WorkspaceRun], fallback: str) -> Owners:
        found: dict[str, str] = {}
        for run in runs:
            for item in run.result.listings if run.result is not None else []:
                found.setdefault(item.eval_id, run.slug)
        return cls(found, fallback)

    def __call__(self, request: PanelRequest) -> str:
        return request.workspace or self.by_eval.get(request.eval_id, self.fallback)


def endings(runs: Sequence[WorkspaceRun], outcomes: Sequence[ledger.Outcome],
            owner: Owners) -> tuple[dict[str, Any], ...]:
    """How each workspace ended: status, exit code, reason, evals listed and exported."""
    bad: dict[str, list[ledger.Outcome]] = defaultdict(list)
    for o in outcomes:
        if not o.attempted or o.state in ("error", "unavailable"):
            bad[owner(o.request)].append(o)
    lines = []
    for run in runs:
        result, error = run.result, run.error
        if error is not None:
            status = "refused" if isinstance(error, AuthError) else "failed"
            code, reason = error.exit_code, str(error)
        elif result is not None and result.aborted:
            status, code, reason = "failed", EXIT_API_DOWN, result.aborted
        elif result is not None and (bad[run.slug] or not result.listing_complete):
            first = bad[run.slug][0] if bad[run.slug] else None
            status, code = "partial", EXIT_PARTIAL
            reason = (f"{first.state}: {first.message}" if first is not None
                      else "listing incomplete")
        else:
            status, code, reason = "success", EXIT_OK, None
        lines.append({"workspace": run.slug, "status": status, "exit_code": code,
                      "reason": reason,
                      "evals_listed": len(result.listings) if result is not None else 0,
                      "evals_exported": result.evals_exported if result is not None else 0})
    return tuple(lines)


def listing_table(runs: Sequence[WorkspaceRun], run_id: str, finished: datetime
                  ) -> tuple[pa.Table | None, tuple[str, ...]]:
    """The listing rows of every workspace whose listing was complete, and those workspaces."""
    complete = [r for r in runs if r.result is not None and r.result.listing_complete]
    if not complete:
        return None, ()
    batches = [listing_batch(r.result.listings, r.slug, run_id, finished)
               for r in complete if r.result is not None]
    return pa.Table.from_batches(batches), tuple(r.slug for r in complete)


def panel_status_table(recorded: Sequence[ledger.Outcome], owner: Owners,
                       run_id: str, finished: datetime) -> pa.Table:
    by_workspace: dict[str, list[ledger.Outcome]] = defaultdict(list)
    for o in recorded:
        by_workspace[owner(o.request)].append(o)
    batches = [ledger.outcomes_batch(items, workspace, run_id, finished)
               for workspace, items in by_workspace.items()]
    if not batches:
        return pa.Table.from_batches([ledger.outcomes_batch([], "", run_id, finished)])
    return pa.Table.from_batches(batches)
