"""Which panel units a run fetches: the fan-out per eval and the incremental selection. Pure.

The fan-out follows the config: get, map-results, confidence-sweep, vector-analysis and
recommendations once per eval; performance-by-class and confusion-matrix per split;
confusion-matrix, vector-analysis and image-predictions (``split=all``) per confidence
variant. Incremental runs select by set, not by cursor: an eval is refetched when it is new,
when its listed fields changed, or when it was not done last time; otherwise only its units
whose last outcome was neither ``ok`` nor ``not_materialized`` (or that the config newly
asks for) are fetched. The compare panel belongs to a project version: see
:func:`plan_comparisons`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from etl.config import CrawlConfig
from etl.panels import EvalListing, PanelRequest, PreviousState


def units_for(eval_id: str, crawl: CrawlConfig) -> list[PanelRequest]:
    """Every panel unit the config plans for one eval, in a stable order."""
    units = [
        PanelRequest(eval_id, "get"),
        PanelRequest(eval_id, "map-results"),
        PanelRequest(eval_id, "confidence-sweep"),
        PanelRequest(eval_id, "recommendations"),
    ]
    units += [PanelRequest(eval_id, "performance-by-class", split) for split in crawl.splits]
    for confidence in crawl.confidences:
        units += [PanelRequest(eval_id, "confusion-matrix", split, confidence) for split in crawl.splits]
        units.append(PanelRequest(eval_id, "vector-analysis", None, confidence))
        units.append(PanelRequest(eval_id, "image-predictions", "all", confidence))
    return units


@dataclass(frozen=True)
class EvalPlan:
    """The work for one listed eval: ``fetch`` are requested; ``not_done`` are recorded without a call."""

    listing: EvalListing
    fetch: tuple[PanelRequest, ...]
    not_done: tuple[PanelRequest, ...]
    reason: str


def plan_eval(
    listing: EvalListing, crawl: CrawlConfig, previous: PreviousState | None
) -> EvalPlan | None:
    """The plan for one eval, or None when everything it needs is already current."""
    units = units_for(listing.eval_id, crawl)
    reason = _refetch_reason(listing, previous)
    if reason is None:
        assert previous is not None
        pending = tuple(u for u in units if _worth_another_try(
            previous.units.get((u.eval_id, u.panel, u.params))))
        if not pending:
            return None
        units, reason = list(pending), "panels not ok last time"
    if listing.status != "done":
        # Running and failed evals have no panel data (409 for every panel): ask only for
        # the eval itself, and try the panels again on a later run.
        return EvalPlan(
            listing, tuple(u for u in units if u.panel == "get"),
            tuple(u for u in units if u.panel != "get"), reason,
        )
    return EvalPlan(listing, tuple(units), (), reason)


def _worth_another_try(state: str | None) -> bool:
    # A variant that was never materialized stays so for a done eval (api-contract §17: no
    # retry); it is asked again only when the eval's listing changes. None: a unit the
    # config newly asks for.
    return state not in ("ok", "not_materialized")


def _refetch_reason(listing: EvalListing, previous: PreviousState | None) -> str | None:
    if previous is None:
        return "full refresh"
    before = previous.evals.get(listing.eval_id)
    if before is None:
        return "new eval"
    if before.status != "done":
        return f"was {before.status}"
    if _listed_fields(before) != _listed_fields(listing):
        return "listing changed"
    return None


def _listed_fields(listing: EvalListing) -> tuple[object, ...]:
    # model_url is optional in the API; it appearing later is not a change of the eval.
    return (listing.status, listing.project, listing.version_id, listing.model_id,
            _instant(listing.created_at))


def _instant(value: str | None) -> object:
    # The previous state reads created_at back from Parquet (ms, UTC) while the listing
    # sends ISO text; compare instants, not spellings.
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # 3.11 reads a trailing Z
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=parsed.microsecond // 1000 * 1000)


def plan_comparisons(listings: list[EvalListing], previous: PreviousState | None,
                     workspace: str | None = None) -> list[PanelRequest]:
    """One compare unit per (project, version) with a done eval, unless it is unchanged.

    compare answers from the done evals of a project version, so a version is *unchanged*
    when the listing shows the same done evals there (ids, models and creation times) as the
    published ``evaluations`` rows still listed did, and its last compare fetch was ok (or a
    404, ``not_materialized``: no comparison to read). A new or finished eval, one gone from
    the listing, or a model changing makes it fetched again; a version without done evals, or
    whose project was deleted (``project`` null), has none.
    """
    now = _done_by_version(listings)
    before: dict[tuple[str, str], frozenset[tuple[object, ...]]] = {}
    if previous is not None:
        mine = previous.workspace_of
        before = _done_by_version([
            e for e in previous.evals.values() if e.eval_id not in previous.unlisted
            and (workspace is None or mine.get(e.eval_id, workspace) == workspace)])
    units = []
    for (project, version), evals in sorted(now.items()):
        unit = PanelRequest.of_version("compare", project, version, workspace)
        state = None if previous is None else previous.units.get(
            (unit.eval_id, unit.panel, unit.params))
        if not _worth_another_try(state) and before.get((project, version)) == evals:
            continue
        units.append(unit)
    return units


def _done_by_version(listings: list[EvalListing]
                     ) -> dict[tuple[str, str], frozenset[tuple[object, ...]]]:
    found: dict[tuple[str, str], set[tuple[object, ...]]] = {}
    for e in listings:
        if e.status == "done" and e.project is not None and e.version_id is not None:
            found.setdefault((e.project, e.version_id), set()).add(
                (e.eval_id, e.model_id, _instant(e.created_at)))
    return {k: frozenset(v) for k, v in found.items()}


def plan_run(
    listings: list[EvalListing], crawl: CrawlConfig, previous: PreviousState | None
) -> list[EvalPlan]:
    """Plans for every eval that needs work, in eval id order (list order is never relied on)."""
    plans = (plan_eval(item, crawl, previous) for item in sorted(listings, key=lambda x: x.eval_id))
    return [p for p in plans if p is not None]
