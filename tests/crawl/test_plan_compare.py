"""The compare panel's plan: one unit per project version with a done eval, unless unchanged."""

from __future__ import annotations

from dataclasses import replace

from etl.crawl.plan import plan_comparisons
from etl.panels import EvalListing, PanelRequest, PreviousState, State

A = EvalListing("a", "done", "p", "1", "m1", "2026-04-27T20:04:10.904Z")
B = EvalListing("b", "done", "p", "1", None, "2026-04-26T20:04:10.904Z")
C = EvalListing("c", "done", "q", "2", None, "2026-04-25T20:04:10.904Z")
RUNNING = EvalListing("r", "running", "q", "3", None, "2026-04-24T20:04:10.904Z")
ORPHAN = EvalListing("o", "done", None, "1", None, "2026-04-23T20:04:10.904Z")
NOW = [A, B, C, RUNNING, ORPHAN]


def unit(project: str, version: str) -> PanelRequest:
    return PanelRequest.of_version("compare", project, version)


def previous(evals: list[EvalListing], state: State = "ok",
             unlisted: frozenset[str] = frozenset()) -> PreviousState:
    units = {(u.eval_id, u.panel, u.params): state for u in (unit("p", "1"), unit("q", "2"))}
    return PreviousState({e.eval_id: e for e in evals}, units, unlisted)


def test_a_full_refresh_asks_every_version_with_a_done_eval_once() -> None:
    units = plan_comparisons(NOW, None)
    assert units == [unit("p", "1"), unit("q", "2")]  # not q/3 (running), not the orphan
    assert units[0].params == "project=p&version=1" and units[0].eval_id == ""
    assert units[0].query() == {"project": "p", "version": "1"}
    assert units[0].label == "project 'p' version '1'"


def test_an_unchanged_version_is_not_asked_again() -> None:
    assert plan_comparisons(NOW, previous(NOW)) == []
    # The published created_at reads back as another spelling of the same instant.
    same = replace(A, created_at="2026-04-27T20:04:10.904000+00:00")
    assert plan_comparisons(NOW, previous([same, B, C])) == []


def test_a_new_finished_changed_or_vanished_eval_changes_its_version_only() -> None:
    new = EvalListing("n", "done", "q", "2", None, "2026-04-28T00:00:00.000Z")
    assert plan_comparisons([*NOW, new], previous(NOW)) == [unit("q", "2")]
    finished = replace(RUNNING, status="done", version_id="2")
    assert plan_comparisons([A, B, C, finished], previous([A, B, C, RUNNING])) == [unit("q", "2")]
    retrained = replace(B, model_id="m2")
    assert plan_comparisons([A, retrained, C], previous(NOW)) == [unit("p", "1")]
    assert plan_comparisons([A, C], previous(NOW)) == [unit("p", "1")]  # b left the listing


def test_evals_no_longer_listed_do_not_count_as_a_change_every_run() -> None:
    assert plan_comparisons([A, C], previous([A, B, C], unlisted=frozenset({"b"}))) == []


def test_a_version_whose_last_fetch_was_not_ok_is_asked_again() -> None:
    assert plan_comparisons(NOW, previous(NOW, state="unavailable")) == [
        unit("p", "1"), unit("q", "2")]
    assert plan_comparisons(NOW, previous(NOW, state="error")) == [
        unit("p", "1"), unit("q", "2")]


def test_a_version_without_a_comparison_is_asked_again_only_when_it_changes() -> None:
    # A 404 (not_materialized): the project went, or the server has no compare route.
    assert plan_comparisons(NOW, previous(NOW, state="not_materialized")) == []
    new = EvalListing("n", "done", "q", "2", None, "2026-04-28T00:00:00.000Z")
    assert plan_comparisons([*NOW, new], previous(NOW, state="not_materialized")) == [
        unit("q", "2")]


def test_another_workspaces_evals_under_the_same_slug_are_no_change() -> None:
    theirs = EvalListing("t", "done", "p", "1", None, "2026-04-20T00:00:00.000Z")
    units = {(u.eval_id, u.panel, u.params): "ok" for u in (
        PanelRequest.of_version("compare", "p", "1", "acme"),
        PanelRequest.of_version("compare", "q", "2", "acme"))}
    before = PreviousState({e.eval_id: e for e in [*NOW, theirs]}, units,
                           workspace_of={**{e.eval_id: "acme" for e in NOW}, "t": "beta"})
    assert plan_comparisons(NOW, before, "acme") == []
    assert plan_comparisons([theirs], before, "beta") == [
        PanelRequest.of_version("compare", "p", "1", "beta")]  # beta's own unit: never fetched
