"""vector-analysis → ``vector_analysis`` (one row) and ``vector_clusters``.

``clustering.parameters`` (HDBSCAN kwargs, snake_case, free-form) is kept as JSON text with
sorted keys. ``splitDistribution`` omits empty splits, so a missing split counts 0. No I/O.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa

from etl.normalize._common import (
    Batches,
    Count,
    FetchContext,
    Header,
    Int,
    PanelCodec,
    build,
    check_eval_id,
    duplicate_at,
    json_text,
)
from etl.normalize._decode import decoder

PANEL = "vector-analysis"


class _ClusteringMetrics(msgspec.Struct):
    noiseRatio: float | None = None
    silhouetteScore: float | None = None


class _Clustering(msgspec.Struct):
    method: str | None = None
    nClusters: Count | None = None
    metrics: _ClusteringMetrics | None = None
    parameters: dict[str, Any] | None = None
    processingTimeSeconds: float | None = None


class _Preprocessing(msgspec.Struct):
    method: str | None = None
    originalDimensions: Count | None = None
    targetDimensions: Count | None = None
    nNeighbors: Count | None = None
    minDistance: float | None = None


class _SplitDistribution(msgspec.Struct):
    train: Count = 0
    valid: Count = 0
    test: Count = 0


class _ClusterMetrics(msgspec.Struct):
    f1Mean: float | None = None
    f1Std: float | None = None
    f1Min: float | None = None
    f1Max: float | None = None
    precisionMean: float | None = None
    recallMean: float | None = None


class _Cluster(msgspec.Struct):
    id: Int
    numImages: Count | None = None
    splitDistribution: _SplitDistribution | None = None
    metrics: _ClusterMetrics | None = None
    sampleImages: list[str] | None = None


class VectorAnalysis(Header, kw_only=True):
    clusters: list[_Cluster]
    clustering: _Clustering | None = None
    preprocessing: _Preprocessing | None = None


_NO_SPLITS = _SplitDistribution()
_NO_METRICS = _ClusterMetrics()


def normalize(payload: VectorAnalysis, ctx: FetchContext) -> Batches:
    check_eval_id(PANEL, payload.evalId, ctx)
    c = payload.clustering or _Clustering()
    m = c.metrics or _ClusteringMetrics()
    p = payload.preprocessing or _Preprocessing()
    header = build("vector_analysis", ctx, 1, {
        "confidence": [ctx.request.confidence],
        "clustering_method": [c.method],
        "n_clusters": [c.nClusters],
        "noise_ratio": [m.noiseRatio],
        "silhouette_score": [m.silhouetteScore],
        "clustering_parameters": [None if c.parameters is None else json_text(c.parameters)],
        "processing_time_seconds": [c.processingTimeSeconds],
        "preprocessing_method": [p.method],
        "original_dimensions": [p.originalDimensions],
        "target_dimensions": [p.targetDimensions],
        "n_neighbors": [p.nNeighbors],
        "min_distance": [p.minDistance],
    })
    return {"vector_analysis": header, "vector_clusters": _clusters(payload.clusters, ctx)}


def _clusters(clusters: list[_Cluster], ctx: FetchContext) -> pa.RecordBatch:
    duplicate_at([k.id for k in clusters], PANEL, "$.clusters[{}].id", ctx.eval_id)
    clusters = sorted(clusters, key=_ID)  # the grain's order, so Arrow need not sort the batch
    n = len(clusters)
    dist = [k.splitDistribution or _NO_SPLITS for k in clusters]
    met = [k.metrics or _NO_METRICS for k in clusters]
    return build("vector_clusters", ctx, n, sort=False, columns={
        "confidence": [ctx.request.confidence] * n,
        "cluster_id": [k.id for k in clusters],
        "num_images": [k.numImages for k in clusters],
        "train_images": [d.train for d in dist],
        "valid_images": [d.valid for d in dist],
        "test_images": [d.test for d in dist],
        "f1_mean": [x.f1Mean for x in met],
        "f1_std": [x.f1Std for x in met],
        "f1_min": [x.f1Min for x in met],
        "f1_max": [x.f1Max for x in met],
        "precision_mean": [x.precisionMean for x in met],
        "recall_mean": [x.recallMean for x in met],
        "sample_images": [k.sampleImages for k in clusters],
    })


_ID = attrgetter("id")

CODEC = PanelCodec(decoder(VectorAnalysis), normalize)
