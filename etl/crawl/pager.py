"""Image-predictions paging as pure verdicts: which offsets to ask for, and whether a pass held.

The first page reveals ``totalImages``; the rest are fetched concurrently at the offsets
:func:`offsets_after` gives. When every page is in, :func:`judge` says whether the pass is
whole: every page agreed on the total and together they held at least that many images (an
id repeated across pages is kept once; that is not a shortfall, the pages did cover the
total). A pass that is ``changed`` or ``short`` means the eval changed under us.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Verdict:
    kind: Literal["complete", "changed", "short"]
    problem: str = ""

    @property
    def complete(self) -> bool:
        return self.kind == "complete"


def offsets_after(first_page: int, total: int) -> range:
    """Offsets of the pages after the first, which held ``first_page`` images of ``total``."""
    if first_page <= 0:
        return range(0)  # an empty first page: nothing more to ask for
    return range(first_page, total, first_page)


def judge(totals: Collection[int], received: int) -> Verdict:
    """Whether pages that reported ``totals`` and held ``received`` images make a whole pass."""
    if len(set(totals)) > 1:
        return Verdict("changed", f"changed between pages ({sorted(set(totals))})")
    if totals and received < min(totals):
        return Verdict("short", f"promised {min(totals)} images, the pages held {received}")
    return Verdict("complete")
