"""``evals-etl check``: regression rules over the published dataset, for a nightly gate.

:mod:`rules` reads the rules file, :mod:`data` the values (read-only, through the views),
:mod:`evaluate` decides (pure), :mod:`state` remembers what ``--since-last`` already told,
:mod:`notify` posts a webhook. :func:`run_check` wires them; the command is
``etl/cli/check.py``; a regression is exit 9 (``errors.EXIT_REGRESSION``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from etl.check import data, notify, state
from etl.check.evaluate import Finding, evaluate
from etl.check.rules import Rule, RuleSet, load
from etl.errors import EtlError

__all__ = ["Finding", "Report", "Rule", "RuleSet", "load", "run_check"]


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    findings: tuple[Finding, ...]
    checked: int
    skipped: int


@dataclass(frozen=True)
class Report:
    results: tuple[RuleResult, ...]
    reported: tuple[Finding, ...]  # every finding, or with --since-last the new ones only
    since_last: bool
    notified: str | None = None  # how the webhook went (None: nothing was sent)
    delivered: bool = True

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.results for f in r.findings)


def run_check(db: Path, out: Path, rules: RuleSet, *, since_last: bool,
              now: datetime) -> Report:
    """Evaluate every rule over ``db``; with ``since_last``, report and remember new ones."""
    results = []
    for rule in rules.rules:
        outcome = evaluate(rule, data.observations(db, rule))
        results.append(RuleResult(rule, outcome.findings, outcome.checked, outcome.skipped))
    everything = tuple(f for r in results for f in r.findings)
    reported = everything
    if since_last:
        seen = state.previous_keys(out) or frozenset()
        reported = tuple(f for f in everything if f.key not in seen)
        state.save(out, frozenset(f.key for f in everything), now)
    report = Report(tuple(results), reported, since_last)
    if not reported or rules.notify.webhook_url is None:
        return report
    try:
        attempts = notify.send(rules.notify, reported, data.workspace(db))
    except EtlError as exc:
        return Report(report.results, reported, since_last,
                      f"webhook not delivered: {exc}", delivered=False)
    return Report(report.results, reported, since_last,
                  f"webhook delivered ({attempts} attempt{'s' * (attempts > 1)})")
