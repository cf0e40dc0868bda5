"""The chart model every page shares, and the helpers its plotly figures are built with.

Pure. A :class:`Chart` is what a page shows in one place: one or more :class:`Variant`
figures (a select switches between them: a split, a class, a colouring) or, when the data
is not there, the reason it is not available. Figures are plain plotly.js specs
(``{"data": [...], "layout": {...}}``) serialised as JSON into the page; plotly.js draws them.

Text that plotly.js draws is pseudo-HTML to it (``<b>``, ``<br>``, entities), so every string
from the dataset goes into a figure through :func:`text` (HTML-escaped: plotly shows the
characters as they are). Numbers go through :func:`num` (rounded to 6 decimal places, NaN and
infinities as null): 6 decimal places keep pages small and are far below what a chart shows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Figure = dict[str, Any]
SPLIT_ORDER = ("test", "valid", "train", "all")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
SPLIT_COLOURS = {"test": "#1f77b4", "valid": "#ff7f0e", "train": "#2ca02c", "all": "#7f7f7f"}
BAD, GOOD, MUTED = "#d62728", "#2ca02c", "#7f7f7f"


@dataclass(frozen=True)
class Variant:
    label: str  # raw text: the page template escapes it
    figure: Figure


@dataclass(frozen=True)
class Chart:
    key: str  # unique within a page: the chart's element id is chart-<key>
    title: str
    variants: tuple[Variant, ...] = ()
    unavailable: str | None = None  # why there is no chart (then ``variants`` is empty)
    note: str | None = None  # shown under the chart (a sample, units, what is absent)
    select_label: str = "show"
    height: int = 420

    @property
    def available(self) -> bool:
        return bool(self.variants)

    def spec(self) -> dict[str, Any]:
        """What the page embeds for its script: the element id and every variant's figure."""
        return {"id": f"chart-{self.key}", "variants": [v.figure for v in self.variants]}


@dataclass(frozen=True)
class Table:
    """A table a page shows: raw cell values (the template escapes and formats them)."""

    key: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str | None = None


def missing(key: str, title: str, reason: str) -> Chart:
    return Chart(key, title, unavailable=reason)


def text(value: object) -> str:
    """A dataset string as plotly.js must be given it to show it as typed."""
    return html.escape("" if value is None else str(value), quote=False)


def texts(values: Iterable[object]) -> list[str]:
    return [text(v) for v in values]


def num(value: object) -> float | int | None:
    """A number for the page's JSON: ints as they are, floats to 6 decimal places."""
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, int):
        return value
    number = float(value)  # type: ignore[arg-type]
    return round(number, 6) if math.isfinite(number) else None


def nums(values: Iterable[object]) -> list[float | int | None]:
    """:func:`num` of each value; plain floats and ints take a fast path (pages hold millions)."""
    out: list[float | int | None] = []
    for value in values:
        if value.__class__ is float:
            out.append(round(value, 6) if value - value == 0 else None)  # NaN, inf: None
        elif value is None:
            out.append(None)
        elif isinstance(value, int) and value.__class__ is int:  # not a bool
            out.append(value)
        else:
            out.append(num(value))
    return out


def layout(title: str = "", *, height: int = 420, **extra: Any) -> dict[str, Any]:
    """The layout every figure starts from: system fonts only (nothing is downloaded)."""
    base: dict[str, Any] = {
        "height": height, "margin": {"l": 60, "r": 20, "t": 48 if title else 36, "b": 50},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                 "size": 12},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.18},
    }
    if title:
        base["title"] = {"text": text(title), "x": 0, "font": {"size": 14}}
    for axis in ("xaxis", "yaxis"):
        base[axis] = {"gridcolor": "#e5e5e5", "zerolinecolor": "#bdbdbd", "automargin": True}
    for key, value in extra.items():
        base[key] = {**base[key], **value} if isinstance(base.get(key), dict) else value
    return base


def figure(data: Sequence[dict[str, Any]], lay: dict[str, Any]) -> Figure:
    return {"data": list(data), "layout": lay}


def split_sorted(splits: Iterable[str]) -> list[str]:
    rank = {s: i for i, s in enumerate(SPLIT_ORDER)}
    return sorted(set(splits), key=lambda s: (rank.get(s, len(rank)), s))


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def confidence_label(confidence: int | None, threshold: float | None) -> str:
    """``default variant (20%)`` / ``confidence 50%``: how a confidence variant is named."""
    shown = "" if threshold is None else f" ({round(threshold * 100):d}%)"
    return f"server default{shown}" if confidence is None else f"confidence {confidence}%"
