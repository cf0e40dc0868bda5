"""Is the export healthy? A pure verdict over the run history, for ``status --check`` and pings.

Healthy means: the last run succeeded, or was partial only in ways the config accepts
(``[health] accept_partial``), and the data it published is no older than the allowed age.
``unavailable`` units are the API saying a panel does not exist for an eval (recommendations
not generated, a panel the app never computed): a property of the data, not a failure, so
by default a run partial only for them is healthy. Errors, units not attempted (a deadline)
and an incomplete listing are not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AcceptPartial = Literal["never", "unavailable", "always"]
ACCEPT_PARTIAL: tuple[str, ...] = ("never", "unavailable", "always")


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str  # one line: why healthy or not
    data_age_hours: float | None  # since the last published run finished (None: never)


def verdict(runs: Sequence[Mapping[str, Any]], now: datetime, *,
            max_age_hours: float | None = None,
            accept_partial: AcceptPartial = "unavailable") -> Verdict:
    """``runs`` oldest first, as :mod:`etl.history` records them."""
    published = [r for r in runs if r.get("published")]
    age = _hours(now, published[-1]["finished_at"]) if published else None
    if not runs:
        return Verdict(False, "no run is recorded in this folder yet", age)
    last = runs[-1]
    said = f"the last run ({_name(last)}, {last.get('finished_at')})"
    if last.get("status") not in ("success", "partial"):
        why = last.get("reason") or "no reason recorded"
        return Verdict(False, f"{said} ended {last.get('status')} with exit "
                              f"{last.get('exit_code')}: {why}", age)
    if last.get("status") == "partial" and (refusal := _partial_refused(last, accept_partial)):
        return Verdict(False, f"{said} was partial: {refusal}", age)
    if max_age_hours is not None and age is not None and age > max_age_hours:
        return Verdict(False, f"the data is {age:.1f} h old, over the {max_age_hours:g} h "
                              f"allowed (last published: {published[-1].get('finished_at')})", age)
    state = "succeeded" if last.get("status") == "success" else "was partial (accepted)"
    return Verdict(True, f"{said} {state}", age)


def _partial_refused(run: Mapping[str, Any], accept: AcceptPartial) -> str | None:
    """Why a partial run is not acceptable under ``accept`` (None: it is)."""
    if accept == "always":
        return None
    units = run.get("units") or {}
    counts = {k: int(units.get(k, 0)) for k in ("error", "unavailable", "not_attempted")}
    found = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items() if n)
    if accept == "never":
        return f"{found or run.get('reason')} (accept_partial = \"never\")"
    bad = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("error", "not_attempted") if counts[k]]
    if run.get("listing_complete") is False:
        bad.append("the listing was incomplete")
    return ", ".join(bad) + " (only unavailable panels are accepted)" if bad else None


def _name(run: Mapping[str, Any]) -> str:
    return str(run.get("run_id") or "no run id")


def _hours(now: datetime, stamp: Any) -> float | None:
    try:
        then = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return max(0.0, (now - then).total_seconds() / 3600)
