"""The image charts of an eval page: the embedding scatter and the embedding clusters.

Pure. The scatter draws at most ``max_points`` images (a sample chosen in SQL: the first by
md5 of the image id, so the same images every time) and says so when it samples.
"""

from __future__ import annotations

from typing import Any

from etl.report.eval_charts import absence
from etl.report.figures import (
    MUTED,
    Chart,
    Variant,
    colour,
    confidence_label,
    figure,
    layout,
    missing,
    nums,
    text,
    texts,
)
from etl.report.model import EvalData

NOISE = -1


def scatter_chart(data: EvalData, status: str | None) -> Chart:
    """Every image (or a bounded sample) at its 2-D embedding, by cluster and by F1."""
    title = "Embedding scatter"
    images = data.images
    if not images:
        return missing("embedding", title, absence(data, status, "image-predictions"))
    shown, total = len(images["image_id"]), data.image_total
    variant = confidence_label(images["confidence"][0], images["confidence_threshold"][0])
    sample = (f"a sample of {shown:,} of {total:,} images (the first by md5 of the image id, "
              "the same every time)" if shown < total else f"all {total:,} images")
    note = f"{sample}; {variant}; hover a point for the image's name"
    return Chart("embedding", title, (
        Variant("colour by cluster", _by_cluster(images)),
        Variant("colour by F1", _by_f1(images))), select_label="colour", height=520, note=note)


def _hover(images: dict[str, list[Any]], rows: list[int]) -> dict[str, Any]:
    return {"text": texts(images["image_name"][i] for i in rows),
            "customdata": [[text(images["split"][i]), _f1_text(images["f1"][i]),
                            images["cluster_id"][i]] for i in rows],
            "hovertemplate": "%{text}<br>split %{customdata[0]} · F1 %{customdata[1]}"
            " · cluster %{customdata[2]}<extra></extra>"}


def _f1_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _axes() -> dict[str, Any]:
    return {"xaxis": {"title": {"text": "embedding x"}, "zeroline": False},
            "yaxis": {"title": {"text": "embedding y"}, "zeroline": False}}


def _by_cluster(images: dict[str, list[Any]]) -> dict[str, Any]:
    members: dict[int | None, list[int]] = {}
    for i, cluster in enumerate(images["cluster_id"]):
        members.setdefault(cluster, []).append(i)
    traces = []
    for n, cluster in enumerate(sorted(members, key=lambda c: (c is None, c))):
        rows = members[cluster]
        name = "noise" if cluster == NOISE else "no cluster" if cluster is None else f"cluster {cluster}"
        traces.append({"type": "scatter", "mode": "markers", "name": name,
                       "x": nums(images["embedding_x"][i] for i in rows),
                       "y": nums(images["embedding_y"][i] for i in rows),
                       "marker": {"size": 6, "opacity": 0.8, "color": MUTED if cluster in (
                           NOISE, None) else colour(n)}, **_hover(images, rows)})
    return figure(traces, layout(height=520, **_axes(), legend={"orientation": "v", "y": 1}))


def _by_f1(images: dict[str, list[Any]]) -> dict[str, Any]:
    rows = list(range(len(images["image_id"])))
    trace = {"type": "scatter", "mode": "markers", "name": "images",
             "x": nums(images["embedding_x"]), "y": nums(images["embedding_y"]),
             "marker": {"size": 6, "opacity": 0.85, "color": nums(images["f1"]), "cmin": 0,
                        "cmax": 1, "colorscale": "RdYlGn",
                        "colorbar": {"title": {"text": "image F1"}}},
             **_hover(images, rows)}
    return figure([trace], layout(height=520, **_axes(), showlegend=False))


def cluster_chart(data: EvalData, status: str | None) -> Chart:
    """Each embedding cluster's mean F1 (± its spread), weakest first, with its size."""
    title = "Embedding clusters (vector analysis)"
    if not data.clusters:
        return missing("clusters", title, absence(data, status, "vector-analysis"))
    rows = data.clusters
    names = ["noise" if r["cluster_id"] == NOISE else f"cluster {r['cluster_id']}" for r in rows]
    bars = {"type": "bar", "x": names, "y": nums(r["f1_mean"] for r in rows),
            "error_y": {"type": "data", "array": nums(r["f1_std"] for r in rows),
                        "visible": True, "color": MUTED},
            "customdata": [r["num_images"] for r in rows],
            "marker": {"color": [MUTED if r["cluster_id"] == NOISE else "#1f77b4" for r in rows]},
            "hovertemplate": "%{x}<br>mean F1 %{y:.3f}<br>%{customdata} images<extra></extra>"}
    lay = layout(xaxis={"type": "category", "title": {"text": "cluster (weakest first)"}},
                 yaxis={"title": {"text": "mean image F1"}, "range": [0, 1.05]},
                 showlegend=False)
    vector = data.vector or {}
    method = vector.get("clustering_method") or "clustering"
    facts = [f"{method}: {vector.get('n_clusters')} clusters",
             f"noise {_percent(vector.get('noise_ratio'))}",
             f"silhouette {_f1_text(vector.get('silhouette_score'))}",
             f"{confidence_label(rows[0]['confidence'], None)}"]
    return Chart("clusters", title, (Variant("clusters", figure([bars], lay)),),
                 note="; ".join(facts))


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
