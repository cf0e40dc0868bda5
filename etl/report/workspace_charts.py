"""The charts of the overview and project pages: panel health, and metrics across versions.

Pure: rows of the views in, :class:`~etl.report.figures.Chart` out.
"""

from __future__ import annotations

from typing import Any

from etl.report.figures import (
    BAD,
    GOOD,
    MUTED,
    Chart,
    Variant,
    colour,
    figure,
    layout,
    missing,
    num,
    nums,
    text,
    texts,
)
from etl.report.model import Row

STATE_COLOURS = {"ok": GOOD, "not_done": "#ff7f0e", "unavailable": "#9467bd",
                 "not_materialized": MUTED, "error": BAD}


def headline_name(rows: list[Row]) -> str:
    """mAP@0.5 when the rows have one, else mIoU (semantic segmentation): as version_trends."""
    return "mAP@0.5" if any(r.get("map") is not None for r in rows) else "mIoU"


def panel_health_chart(states: list[Row]) -> Chart:
    """Panel units by panel and final state (panel_status), stacked."""
    title = "Panel health"
    if not states:
        return missing("panel-health", title, "no panel was planned for these evaluations")
    panels = sorted({r["panel"] for r in states})
    count = {(r["panel"], r["state"]): r["units"] for r in states}
    traces = [{"type": "bar", "orientation": "h", "name": text(state), "y": texts(panels),
               "x": [count.get((p, state), 0) for p in panels],
               "marker": {"color": STATE_COLOURS.get(state, MUTED)},
               "hovertemplate": f"%{{y}}: %{{x}} units {text(state)}<extra></extra>"}
              for state in [*STATE_COLOURS, *sorted({r["state"] for r in states}
                                                    - set(STATE_COLOURS))]
              if any(s == state for _, s in count)]
    lay = layout(height=max(260, 80 + 34 * len(panels)), barmode="stack",
                 xaxis={"title": {"text": "panel units"}},
                 yaxis={"type": "category", "autorange": "reversed"})
    return Chart("panel-health", title, (Variant("panel health", figure(traces, lay)),),
                 note="how the latest fetch of every planned panel unit ended (panel_status)")


def trend_chart(trends: list[Row]) -> Chart:
    """The headline metric and F1 by version (version_trends): best, latest, regressions."""
    title = "Headline metric by version"
    points = [r for r in trends if r["map"] is not None or r["miou"] is not None]
    if not points:
        return missing("trend", title, "no version of this project has a done evaluation "
                       "with a headline metric")
    metric = headline_name(points)
    labels = [f"v{text(r['version_id'])}" for r in points]
    heads = [r["map"] if r["map"] is not None else r["miou"] for r in points]
    best = max(range(len(points)), key=lambda i: (heads[i], -i))
    custom = [[text(r["eval_id"]), r["created_at"].strftime("%Y-%m-%d") if r["created_at"]
               else ""] for r in points]
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": metric, "x": labels,
         "y": nums(heads), "customdata": custom, "line": {"color": "#1f77b4", "width": 2},
         "hovertemplate": f"%{{x}}<br>{metric} %{{y:.3f}}<br>eval %{{customdata[0]}}"
         "<br>%{customdata[1]}<extra></extra>"},
        {"type": "scatter", "mode": "lines+markers", "name": "F1", "x": labels,
         "y": nums(r["f1"] for r in points), "line": {"color": "#9ecae1", "dash": "dot"},
         "hovertemplate": "%{x}<br>F1 %{y:.3f}<extra></extra>"}]
    regressed = [i for i, r in enumerate(points) if r["regressed"]]
    traces.append({"type": "scatter", "mode": "markers", "name": "regression",
                   "x": [labels[i] for i in regressed], "y": nums(heads[i] for i in regressed),
                   "marker": {"color": BAD, "size": 12, "symbol": "triangle-down"},
                   "hoverinfo": "skip", "visible": True if regressed else "legendonly"})
    notes = [_note(labels[best], heads[best], "best", GOOD, -40)]
    if len(points) > 1 or best != len(points) - 1:
        notes.append(_note(labels[-1], heads[-1], "latest", "#1f77b4", 40))
    notes += [_note(labels[i], heads[i], f"▼ {points[i]['headline_delta']:+.3f}", BAD, 25,
                    ay=30) for i in regressed if points[i]["headline_delta"] is not None]
    lay = layout(annotations=notes, xaxis={"type": "category", "title": {"text": "version"}},
                 yaxis={"title": {"text": "score"}, "range": [0, 1.05]})
    return Chart("trend", title, (Variant(metric, figure(traces, lay)),),
                 note=f"{metric} of each version's latest done evaluation (version_trends); "
                 "a red triangle marks a version whose headline metric fell")


def _note(x: str, y: float, label: str, tint: str, ax: int, ay: int = -30) -> dict[str, Any]:
    return {"x": x, "y": num(y), "text": label, "showarrow": True, "arrowhead": 2, "ax": ax,
            "ay": ay, "font": {"color": tint}, "arrowcolor": tint}


def history_chart(evals: list[Row]) -> Chart:
    """Every done evaluation of the project over time, one colour per version."""
    title = "Evaluations over time"
    done = [r for r in evals if r["status"] == "done" and r["headline"] is not None]
    if not done:
        return missing("history", title, "no done evaluation with a headline metric")
    metric = headline_name(done)
    versions = sorted({r["version_id"] for r in done}, key=_version_order)
    traces = []
    for n, version in enumerate(versions):
        rows = [r for r in done if r["version_id"] == version]
        traces.append({"type": "scatter", "mode": "markers", "name": f"v{text(version)}",
                       "x": [r["created_at"].isoformat() for r in rows],
                       "y": nums(r["headline"] for r in rows),
                       "customdata": [text(r["eval_id"]) for r in rows],
                       "marker": {"size": 10, "color": colour(n)},
                       "hovertemplate": f"%{{x}}<br>{metric} %{{y:.3f}}<br>eval "
                       "%{customdata}<extra></extra>"})
    lay = layout(xaxis={"type": "date", "title": {"text": "created"}},
                 yaxis={"title": {"text": metric}, "range": [0, 1.05]})
    return Chart("history", title, (Variant(metric, figure(traces, lay)),),
                 note=f"{metric} of every done evaluation (eval_overview), by creation time")


def _version_order(version: str | None) -> tuple[int, int, str]:
    """Numeric versions in numeric order ("10" after "9"), then the others by name."""
    text_ = version or ""
    return (0, int(text_), text_) if text_.isdigit() else (1, 0, text_)
