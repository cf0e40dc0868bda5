"""The fan-out per eval and the incremental selection."""

from __future__ import annotations

from etl.config import CrawlConfig
from etl.crawl.plan import plan_eval, plan_run, units_for
from etl.panels import EvalListing, PreviousState

DONE = EvalListing("e1", "done", "p", "1", None, "2026-04-27T20:04:10.904Z")


def test_default_fan_out_covers_every_panel_once_per_split_and_confidence() -> None:
    units = units_for("e1", CrawlConfig())
    panels = [u.panel for u in units]
    assert panels.count("get") == 1
    assert panels.count("performance-by-class") == 3
    assert panels.count("confusion-matrix") == 3
    assert panels.count("image-predictions") == 1
    assert len(units) == len(set(units)) == 12
    images = next(u for u in units if u.panel == "image-predictions")
    assert images.split == "all" and images.confidence is None


def test_confidences_multiply_the_confidence_panels_only() -> None:
    units = units_for("e1", CrawlConfig(confidences=(None, 50), splits=("test",)))
    assert sorted(u.params for u in units if u.panel == "confusion-matrix") == [
        "split=test", "split=test&confidence=50"]
    assert [u.panel for u in units].count("map-results") == 1


def test_running_eval_fetches_get_only_and_records_the_rest_not_done() -> None:
    plan = plan_eval(EvalListing("e2", "running", "p", "1", None, None), CrawlConfig(), None)
    assert plan is not None
    assert [u.panel for u in plan.fetch] == ["get"]
    assert len(plan.not_done) == 11


def _previous(state: str = "ok", listing: EvalListing = DONE) -> PreviousState:
    units = {(u.eval_id, u.panel, u.params): state for u in units_for("e1", CrawlConfig())}
    return PreviousState({"e1": listing}, units)  # type: ignore[arg-type]


def test_unchanged_done_eval_with_all_units_ok_is_skipped() -> None:
    assert plan_eval(DONE, CrawlConfig(), _previous()) is None


def test_created_at_spelling_does_not_count_as_a_change() -> None:
    stored = EvalListing("e1", "done", "p", "1", None, "2026-04-27 20:04:10.904000+00:00")
    assert plan_eval(DONE, CrawlConfig(), _previous(listing=stored)) is None


def test_only_units_not_ok_are_refetched() -> None:
    previous = _previous()
    key = ("e1", "confusion-matrix", "split=test")
    previous.units[key] = "unavailable"  # type: ignore[index]
    plan = plan_eval(DONE, CrawlConfig(), previous)
    assert plan is not None and [u.params for u in plan.fetch] == ["split=test"]


def test_changed_listing_and_previously_running_evals_refetch_everything() -> None:
    moved = EvalListing("e1", "done", "p", "2", None, DONE.created_at)
    assert len(plan_eval(moved, CrawlConfig(), _previous()).fetch) == 12  # type: ignore[union-attr]
    was_running = EvalListing("e1", "running", "p", "1", None, DONE.created_at)
    plan = plan_eval(DONE, CrawlConfig(), _previous(listing=was_running))
    assert plan is not None and plan.reason == "was running"


def test_new_confidence_in_config_fetches_just_the_new_units() -> None:
    plan = plan_eval(DONE, CrawlConfig(confidences=(None, 50)), _previous())
    assert plan is not None
    assert {u.confidence for u in plan.fetch} == {50}


def test_plan_run_is_independent_of_list_order() -> None:
    a = EvalListing("a", "done", "p", "1", None, None)
    b = EvalListing("b", "failed", "p", "1", None, None)
    assert plan_run([a, b], CrawlConfig(), None) == plan_run([b, a], CrawlConfig(), None)


def test_a_variant_never_materialized_is_not_asked_again_until_the_eval_changes() -> None:
    previous = _previous()
    key = ("e1", "vector-analysis", "")
    previous.units[key] = "not_materialized"  # type: ignore[index]
    assert plan_eval(DONE, CrawlConfig(), previous) is None
    moved = EvalListing("e1", "done", "p", "2", None, DONE.created_at)
    assert plan_eval(moved, CrawlConfig(), previous) is not None
