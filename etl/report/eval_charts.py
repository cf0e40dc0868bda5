"""The metric charts of an eval page: the confidence sweep, the confusion matrix, the classes.

Pure: :class:`~etl.report.data.EvalData` in, :class:`~etl.report.figures.Chart` out. A chart
whose panel left no rows is a "not available" chart saying why (:func:`absence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from etl.report.figures import (
    BAD,
    MUTED,
    SPLIT_COLOURS,
    Chart,
    Variant,
    confidence_label,
    figure,
    layout,
    missing,
    num,
    nums,
    split_sorted,
    text,
    texts,
)
from etl.report.model import Columns, EvalData, Row

WHOLE_SPLIT = "all classes (whole split)"


def absence(data: EvalData, status: str | None, panel: str) -> str:
    """Why an eval has no rows of ``panel``, from its status and the panel's ledger rows."""
    if status is not None and status != "done":
        return f"the evaluation is {status}: its panels are exported once it is done"
    states = [r for r in data.status if r["panel"] == panel]
    bad = [r for r in states if r["state"] != "ok"]
    if bad:
        first = bad[0]
        http = f"HTTP {first['http_status']}" if first["http_status"] is not None else ""
        why = ", ".join(x for x in (http, first["error_code"] or "") if x)
        return f"the {panel} panel ended {first['state']}" + (f" ({why})" if why else "")
    if not states:
        return f"the {panel} panel was not exported"
    return f"the {panel} panel returned no data"


def groups(cols: Columns, keys: Sequence[str]) -> dict[tuple[Any, ...], Columns]:
    """Rows of ``cols`` grouped by ``keys`` (first-seen order), each group as columns.

    Rows come sorted by their keys, so a group is a run of rows: found in one pass and cut
    out of each column by slicing (a run seen again is appended to its group).
    """
    out: dict[tuple[Any, ...], Columns] = {}
    if not cols:
        return out
    names = [k for k in cols if k not in keys]
    runs: list[tuple[tuple[Any, ...], int, int]] = []
    for n, key in enumerate(zip(*(cols[k] for k in keys))):
        if runs and runs[-1][0] == key:
            continue
        if runs:
            runs[-1] = (runs[-1][0], runs[-1][1], n)
        runs.append((key, n, n))
    if runs:
        runs[-1] = (runs[-1][0], runs[-1][1], len(cols[keys[0]]))
    for key, lo, hi in runs:
        group = out.setdefault(key, {k: [] for k in names})
        for k in names:
            group[k].extend(cols[k][lo:hi])
    return out


def sweep_charts(data: EvalData, status: str | None) -> list[Chart]:
    """Precision/recall and F1-versus-threshold per split, optimum marked; per class on demand."""
    titles = {"pr": "Precision / recall curve", "f1": "F1 versus confidence threshold"}
    if not data.sweep:
        why = absence(data, status, "confidence-sweep")
        return [missing(f"sweep-{k}", t, why) for k, t in titles.items()]
    curves = groups(data.sweep, ("class_name", "split"))
    best = {(r["class_name"], r["split"]): r for r in data.optimal}
    classes = [None, *sorted({c for c, _ in curves if c is not None})]
    charts = []
    for kind, title in titles.items():
        variants = []
        for cls in classes:
            splits = split_sorted(s for c, s in curves if c == cls)
            traces = [t for s in splits for t in _sweep_traces(kind, s, curves[(cls, s)],
                                                               best.get((cls, s)))]
            lay = _sweep_layout(kind, [best.get((cls, s)) for s in splits], splits)
            variants.append(Variant(WHOLE_SPLIT if cls is None else cls, figure(traces, lay)))
        charts.append(Chart(f"sweep-{kind}", title, tuple(variants), select_label="class",
                            note="star: the F1-optimal threshold (optimal_thresholds)"))
    return charts


def _sweep_traces(kind: str, split: str, curve: Columns, best: Row | None) -> list[dict[str, Any]]:
    colour = SPLIT_COLOURS.get(split, MUTED)
    x, y = (curve["recall"], curve["precision"]) if kind == "pr" else (curve["threshold"],
                                                                       curve["f1"])
    line = {"type": "scatter", "mode": "lines", "name": text(split), "x": nums(x), "y": nums(y),
            "line": {"color": colour, "width": 2}, "hovertemplate": f"{text(split)}<br>"
            + ("threshold %{customdata}<br>precision %{y}<br>recall %{x}" if kind == "pr"
               else "threshold %{x}<br>F1 %{y}") + "<extra></extra>"}
    if kind == "pr":  # the threshold of each point, for its hover text
        line["customdata"] = nums(curve["threshold"])
    if best is None:
        return [line]
    bx, by = ((best["recall"], best["precision"]) if kind == "pr"
              else (best["optimal_threshold"], best["f1"]))
    star = {"type": "scatter", "mode": "markers", "name": f"{text(split)} optimum",
            "x": nums([bx]), "y": nums([by]), "showlegend": False,
            "customdata": nums([best["optimal_threshold"]]),
            "marker": {"symbol": "star", "size": 14, "color": colour,
                       "line": {"color": "#000", "width": 1}},
            "hovertemplate": f"{text(split)}: F1-optimal threshold %{{customdata:.2f}}"
            "<extra></extra>"}
    return [line, star]


def _sweep_layout(kind: str, best: Sequence[Row | None], splits: Sequence[str]) -> dict[str, Any]:
    if kind == "pr":
        return layout(xaxis={"title": {"text": "recall"}, "range": [0, 1.02]},
                      yaxis={"title": {"text": "precision"}, "range": [0, 1.02]})
    dotted = {"dash": "dot", "width": 1}
    shapes = [{"type": "line", "x0": num(b["optimal_threshold"]),
               "x1": num(b["optimal_threshold"]), "y0": 0, "y1": 1, "yref": "paper",
               "line": {**dotted, "color": SPLIT_COLOURS.get(s, MUTED)}}
              for b, s in zip(best, splits) if b is not None and b["optimal_threshold"] is not None]
    return layout(shapes=shapes, xaxis={"title": {"text": "confidence threshold"},
                                        "range": [0, 1]},
                  yaxis={"title": {"text": "F1"}, "range": [0, 1.02]})


def confusion_chart(data: EvalData, status: str | None, task_type: str | None) -> Chart:
    """Counts and row-normalised shares side by side, per split and confidence variant."""
    title = "Confusion matrix"
    if not data.confusion:
        return missing("confusion", title, absence(data, status, "confusion-matrix"))
    unit = "pixels" if task_type == "semantic-segmentation" else "instances"
    variants = []
    matrices = groups(data.confusion, ("split", "confidence"))
    order = {s: i for i, s in enumerate(split_sorted(s for s, _ in matrices))}
    for (split, confidence), cells in sorted(
            matrices.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] is not None, kv[0][1])):
        label = f"{split} · {confidence_label(confidence, cells['confidence_threshold'][0])}"
        variants.append(Variant(label, _confusion_figure(cells, unit)))
    return Chart("confusion", title, tuple(variants), select_label="split and confidence",
                 height=520, note=f"counts are {unit}; rows are the actual class, columns the "
                 "predicted one, background last; right: each row divided by its total")


def _confusion_figure(cells: Columns, unit: str) -> dict[str, Any]:
    size = max(cells["actual_idx"]) + 1
    names: list[str] = [""] * size
    counts: list[list[int]] = [[0] * size for _ in range(size)]
    for a, p, name, count in zip(cells["actual_idx"], cells["predicted_idx"],
                                 cells["actual_class"], cells["count"]):
        names[a] = name
        counts[a][p] = count
    shares = [[c / sum(row) if sum(row) else None for c in row] for row in counts]
    labels = texts(names)
    common = {"type": "heatmap", "x": labels, "y": labels, "hoverongaps": False,
              "colorscale": [[0, "#f7fbff"], [0.5, "#6baed6"], [1, "#08306b"]]}
    cell_text = {"texttemplate": "%{z:,}"} if size <= 12 else {}
    traces = [
        {**common, "z": counts, "xaxis": "x", "yaxis": "y", **cell_text,
         "colorbar": {"x": 0.45, "len": 0.9, "title": {"text": unit}},
         "hovertemplate": f"actual %{{y}}<br>predicted %{{x}}<br>%{{z}} {unit}<extra></extra>"},
        {**common, "z": [nums(r) for r in shares], "zmin": 0, "zmax": 1,
         "xaxis": "x2", "yaxis": "y2", "colorbar": {"x": 1.0, "len": 0.9, "title": {"text": "share"}},
         **({"texttemplate": "%{z:.2f}"} if size <= 12 else {}),
         "hovertemplate": "actual %{y}<br>predicted %{x}<br>%{z:.3f} of the row<extra></extra>"}]
    axis = {"type": "category", "automargin": True, "tickangle": -40}
    lay = layout(height=540, margin={"t": 60},
                 xaxis={**axis, "domain": [0, 0.4], "title": {"text": "predicted"}},
                 yaxis={**axis, "autorange": "reversed", "title": {"text": "actual"}})
    lay["xaxis2"] = {**axis, "domain": [0.56, 0.96], "title": {"text": "predicted"}}
    lay["yaxis2"] = {**axis, "autorange": "reversed", "anchor": "x2"}
    lay["annotations"] = [
        {"text": f"counts ({unit})", "xref": "paper", "yref": "paper", "x": 0.2, "y": 1.02,
         "yanchor": "bottom",
         "showarrow": False},
        {"text": "row-normalised", "xref": "paper", "yref": "paper", "x": 0.76, "y": 1.02,
         "yanchor": "bottom",
         "showarrow": False}]
    return figure(traces, lay)


def class_chart(data: EvalData, status: str | None) -> Chart:
    """F1 per class, ranked; absent classes (no instances) listed as absent, not as zero."""
    title = "Per-class metrics"
    if not data.classes:
        return missing("classes", title, absence(data, status, "performance-by-class"))
    by_split: dict[str, list[Row]] = {}
    for row in data.classes:
        by_split.setdefault(row["split"], []).append(row)
    variants = [Variant(s, _class_figure(by_split[s])) for s in split_sorted(by_split)]
    return Chart("classes", title, tuple(variants), select_label="split",
                 height=max(320, 60 + 28 * max(len(v) for v in by_split.values())),
                 note="ranked by F1 (class_leaderboard); an absent class has no instances "
                 "in the split: no bar, not a zero")


def _class_figure(rows: list[Row]) -> dict[str, Any]:
    present = sorted((r for r in rows if not r["absent"]), key=lambda r: r["rank"])
    absent = sorted((r for r in rows if r["absent"]), key=lambda r: r["class_name"])
    ordered = [*present, *absent]
    names = texts(r["class_name"] for r in ordered)
    second = "iou" if any(r["iou"] is not None for r in present) else "map50"

    def bars(metric: str, label: str, colour: str) -> dict[str, Any]:
        return {"type": "bar", "orientation": "h", "name": label, "y": names,
                "x": nums(None if r["absent"] else r[metric] for r in ordered),
                "marker": {"color": colour},
                "hovertemplate": f"%{{y}}<br>{label} %{{x:.3f}}<extra></extra>"}

    notes = [{"x": 0, "y": name, "text": "absent (no instances)", "showarrow": False,
              "xanchor": "left", "font": {"color": BAD}} for name in texts(
        r["class_name"] for r in absent)]
    lay = layout(height=max(320, 60 + 28 * len(ordered)), barmode="group", annotations=notes,
                 xaxis={"title": {"text": "score"}, "range": [0, 1]},
                 yaxis={"type": "category", "autorange": "reversed"})
    return figure([bars("f1", "F1", "#1f77b4"),
                   bars(second, "IoU" if second == "iou" else "mAP@0.5", "#9ecae1")], lay)
