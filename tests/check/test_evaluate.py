"""The pure decision: candidates, baselines, tolerance, values that cannot be compared."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.check.evaluate import Observation, evaluate
from etl.check.rules import Rule
from etl.errors import ConfigError


def obs(eval_id: str, version: str, day: int, value: float | None,
        project: str = "p") -> Observation:
    return Observation(eval_id, project, version, datetime(2026, 1, day, tzinfo=UTC), value)


HISTORY = [obs("v1", "1", 1, 0.80), obs("v2", "2", 2, 0.90), obs("v3a", "3", 3, 0.70),
           obs("v3b", "3", 4, 0.86), obs("v4", "4", 5, 0.85)]


def findings(rule: Rule, observations: list[Observation]) -> list[tuple[str, str]]:
    return [(f.eval_id, f.baseline_eval_id) for f in evaluate(rule, observations).findings]


def test_previous_version_is_the_newest_eval_of_the_version_below() -> None:
    # v4's 0.85 against v3b's 0.86 (the newer of version 3's evals, not v3a's 0.70).
    assert findings(Rule("f1"), HISTORY) == [("v4", "v3b")]
    finding = evaluate(Rule("f1"), HISTORY).findings[0]
    assert finding.delta == pytest.approx(-0.01) and finding.baseline_version_id == "3"


def test_the_tolerance_decides() -> None:
    rule = Rule("f1", tolerance=0.0)
    assert findings(rule, HISTORY) == [("v4", "v3b")]
    assert findings(Rule("f1", tolerance=0.01), HISTORY) == []
    assert findings(Rule("f1", tolerance=0.005), HISTORY) == [("v4", "v3b")]


def test_best_so_far_and_pinned() -> None:
    assert findings(Rule("f1", baseline="best_so_far", tolerance=0.04), HISTORY) == [("v4", "v2")]
    assert findings(Rule("f1", baseline="pinned", eval_id="v1"), HISTORY) == []
    assert findings(Rule("f1", baseline="pinned", eval_id="v3b"), HISTORY) == [("v4", "v3b")]
    with pytest.raises(ConfigError, match="pinned eval 'gone'"):
        evaluate(Rule("f1", baseline="pinned", eval_id="gone"), HISTORY)


def test_the_candidate_is_each_projects_newest_eval() -> None:
    other = [obs("q1", "1", 1, 0.5, "q"), obs("q2", "2", 9, 0.9, "q")]
    outcome = evaluate(Rule("f1"), HISTORY + other)
    assert [(f.project, f.eval_id) for f in outcome.findings] == [("p", "v4")]
    assert (outcome.checked, outcome.skipped) == (2, 0)
    assert findings(Rule("f1", project="q"), HISTORY + other) == []


def test_values_that_cannot_be_compared_are_skipped_not_regressions() -> None:
    absent = [*HISTORY[:-1], obs("v4", "4", 5, None)]
    assert evaluate(Rule("f1"), absent).skipped == 1
    first = evaluate(Rule("f1"), [obs("v1", "1", 1, 0.1)])  # nothing to compare with
    assert (first.findings, first.checked, first.skipped) == ((), 0, 1)
    # Versions compare as numbers, not as text ("10" is above "9").
    assert findings(Rule("f1"), [obs("a", "9", 1, 0.9), obs("b", "10", 2, 0.5)]) == [("b", "a")]


def test_one_project_slug_in_two_workspaces_is_two_projects() -> None:
    here = [obs("a1", "1", 1, 0.9), obs("a2", "2", 2, 0.5)]
    there = [Observation("b1", "p", "1", datetime(2026, 1, 3, tzinfo=UTC), 0.1, "other")]
    outcome = evaluate(Rule("f1"), here + there)
    assert [(f.workspace, f.eval_id, f.baseline_eval_id) for f in outcome.findings] == [
        ("", "a2", "a1")]  # b1 is the other workspace's newest, with nothing to compare
    assert (outcome.checked, outcome.skipped) == (1, 1)
