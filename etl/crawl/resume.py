"""Which units a run takes over from a killed one instead of fetching them again. Pure.

A killed run's journal (``store.journal``) holds the outcome of every unit it staged for good,
each with the listing row its eval had then. A unit is reused only when its eval is listed now exactly as it
was then (same status, version, model, creation time...): otherwise the eval changed and its
units are fetched again, so what is published stays whole units of one consistent export.
Every outcome the killed run reached is reused, ``unavailable`` included: an uninterrupted run
would have ended with it too, and the next nightly run tries such units again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from etl.crawl import ledger
from etl.panels import EvalListing, PanelRequest

Key = tuple[str, str, str]  # (eval_id, panel, params)
REUSABLE = frozenset({"ok", "not_materialized", "error", "unavailable"})


def key(request: PanelRequest) -> Key:
    return request.eval_id, request.panel, request.params


@dataclass(frozen=True)
class Resumable:
    """What a killed run left: its final outcomes, each with its eval's listing row then."""

    run_id: str
    outcomes: tuple[tuple[ledger.Outcome, EvalListing | None], ...] = ()

    @classmethod
    def from_journal(cls, run_id: str, records: Iterable[Mapping[str, Any]]) -> Resumable:
        return cls(run_id, tuple(
            (ledger.from_record(r), EvalListing(**r["listing"]) if r.get("listing") else None)
            for r in records))


def reusable(resumable: Resumable | None, listings_now: Iterable[EvalListing]
             ) -> dict[Key, ledger.Outcome]:
    """The outcomes of ``resumable`` this run may take as its own, by unit."""
    if resumable is None:
        return {}
    now = {item.eval_id: item for item in listings_now}
    return {
        key(o.request): o for o, seen in resumable.outcomes
        if o.state in REUSABLE and seen is not None and now.get(o.request.eval_id) == seen
    }
