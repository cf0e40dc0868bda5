"""Image-predictions paging as pure verdicts: which offsets to ask for, and whether a pass held.

The first page reveals ``totalImages``; the rest are fetched at the offsets
:func:`offsets_after` gives, stepping by the page size *asked for* (a server cannot make us
step by one image). :func:`implausible` refuses a total no page could support before any
more is asked, and :func:`short_page` stops a pass at the first page that ends the data
before the total does, so a lying ``totalImages`` costs a bounded number of requests. When
every page is in, :func:`judge` says whether the pass is whole: every page agreed on the total
and together they held at least that many images (an id repeated across pages is kept once;
that is not a shortfall, the pages did cover the total). A pass that is ``changed`` or
``short`` means the eval changed under us.
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


def offsets_after(limit: int, total: int) -> range:
    """Offsets of the pages after the first, ``limit`` images each, up to ``total``."""
    return range(limit, total, max(limit, 1))


def short_page(offset: int, held: int, total: int, limit: int) -> bool:
    """A page with fewer images than asked for that ends before ``total``: the data ends."""
    return held < limit and offset + held < total


def implausible(total: int, first_page: int, limit: int, max_images: int) -> str | None:
    """Why ``totalImages`` cannot be believed after the first page, or None."""
    if total > max_images:
        return (f"{total:,} images is beyond crawl.max_images_per_unit ({max_images:,}); "
                "raise it if this eval is really that large")
    if short_page(0, first_page, total, limit):
        return f"the first page held {first_page} of the {limit} images asked for, of {total:,}"
    return None


def judge(totals: Collection[int], received: int) -> Verdict:
    """Whether pages that reported ``totals`` and held ``received`` images make a whole pass."""
    if len(set(totals)) > 1:
        return Verdict("changed", f"changed between pages ({sorted(set(totals))})")
    if totals and received < min(totals):
        return Verdict("short", f"promised {min(totals)} images, the pages held {received}")
    return Verdict("complete")
