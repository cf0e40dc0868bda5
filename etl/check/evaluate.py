"""Which evals regressed: a rule applied to the values the dataset holds. Pure.

The *candidate* of a project (of a workspace) is its newest done, listed eval (by creation
time): the model a nightly check asks about. Its *baseline* is, by the rule:

* ``previous_version``: the newest eval with a value on the highest version below the
  candidate's (versions compare as numbers);
* ``best_so_far``: the eval with the highest value among the project's evals created before
  the candidate;
* ``pinned``: the eval the rule names (its project's candidate is compared with it).

A regression is a candidate value below the baseline's by more than the tolerance. A
candidate or baseline without a value (a class absent from the split, a metric the task does
not have) is not comparable: no finding, counted in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from etl.check.rules import Rule
from etl.errors import ConfigError


@dataclass(frozen=True)
class Observation:
    """One eval's value of a rule's metric (None: not measured, or the class is absent)."""

    eval_id: str
    project: str
    version_id: str | None
    created_at: datetime | None
    value: float | None
    workspace: str = ""  # an output folder may hold several workspaces' evals


@dataclass(frozen=True)
class Finding:
    rule: Rule
    project: str
    eval_id: str
    version_id: str | None
    value: float
    baseline_eval_id: str
    baseline_version_id: str | None
    baseline_value: float
    workspace: str = ""

    @property
    def delta(self) -> float:
        return self.value - self.baseline_value

    @property
    def key(self) -> str:
        """The same regression of the same evals under the same rule: one key."""
        return (f"{self.rule.key}|{self.workspace}|{self.project}|{self.eval_id}|"
                f"{self.baseline_eval_id}")


@dataclass(frozen=True)
class Outcome:
    findings: tuple[Finding, ...]
    checked: int  # candidates compared with a baseline
    skipped: int  # candidates without a comparable value or baseline


def evaluate(rule: Rule, observations: Iterable[Observation]) -> Outcome:
    by_project: dict[tuple[str, str], list[Observation]] = {}
    for o in observations:
        if rule.project is None or o.project == rule.project:
            by_project.setdefault((o.workspace, o.project), []).append(o)
    pinned = _pinned(rule, by_project)
    findings, checked, skipped = [], 0, 0
    for (workspace, project), evals in sorted(by_project.items()):
        if pinned is not None and (workspace, project) != (pinned.workspace, pinned.project):
            continue
        evals.sort(key=_age)
        candidate = evals[-1]
        baseline = pinned or _baseline(rule, candidate, evals[:-1])
        if candidate.value is None or baseline is None or baseline.value is None \
                or baseline.eval_id == candidate.eval_id:
            skipped += 1
            continue
        checked += 1
        if candidate.value < baseline.value - rule.tolerance:
            findings.append(Finding(rule, project, candidate.eval_id, candidate.version_id,
                                    candidate.value, baseline.eval_id, baseline.version_id,
                                    baseline.value, workspace))
    return Outcome(tuple(findings), checked, skipped)


def _age(o: Observation) -> tuple[bool, datetime | None, str]:
    return (o.created_at is not None, o.created_at, o.eval_id)  # unknown times sort oldest


def _pinned(rule: Rule, by_project: dict[tuple[str, str], list[Observation]]
            ) -> Observation | None:
    if rule.baseline != "pinned":
        return None
    found = [o for evals in by_project.values() for o in evals if o.eval_id == rule.eval_id]
    if not found:
        raise ConfigError(f"rule {rule.title!r}: the pinned eval {rule.eval_id!r} is not a "
                          "done, listed eval of the published dataset")
    return found[0]


def _baseline(rule: Rule, candidate: Observation,
              earlier: Sequence[Observation]) -> Observation | None:
    valued = [o for o in earlier if o.value is not None]
    if rule.baseline == "best_so_far":
        return max(valued, key=lambda o: (o.value, _age(o)), default=None)
    mine = _version(candidate.version_id)
    lower = [o for o in valued if (v := _version(o.version_id)) is not None
             and mine is not None and v < mine]
    return max(lower, key=lambda o: (_version(o.version_id), _age(o)), default=None)


def _version(version_id: str | None) -> int | None:
    try:
        return None if version_id is None else int(version_id)
    except ValueError:
        return None
