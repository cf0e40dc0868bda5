"""Per-image predictions and vector-analysis clusters of one simulated eval, built lazily.

Pure. Image ``i`` of an eval is derived from (seed, eval id, i) alone, and the cluster
assignment is a closed form, so a page of a 200,000-image eval costs only its own images,
and cluster sizes (numImages, splitDistribution, noiseRatio) are exact counts of what the
image pages report, computed without visiting the images.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from etl.simulator.common import ALPHABET, CLASS_WORDS, SPLITS, rng_for
from etl.simulator.metrics import absent, miss_weights, point, split_curve

if TYPE_CHECKING:
    from etl.simulator.workspace import SimEval


@dataclass(frozen=True)
class Clusters:
    """Image ``i`` belongs to cluster ``owner[(a*i + b) % m]`` (``-1`` is HDBSCAN noise).

    With ``a`` coprime to ``m``, any ``m`` consecutive images cover every residue once, so
    counts over an index range are closed-form and no cluster is empty when ``m <= n``.
    """

    n_clusters: int
    owner: tuple[int, ...]
    a: int
    b: int
    centers: dict[int, tuple[float, float]]  # cluster id -> 2-D embedding centre

    def of(self, index: int) -> int:
        return self.owner[(self.a * index + self.b) % len(self.owner)]

    def counts(self, lo: int, hi: int) -> dict[int, int]:
        """Images per cluster among indices ``[lo, hi)``."""
        counts = dict.fromkeys(self.centers, 0)
        full, rest = divmod(hi - lo, len(self.owner))
        for cluster in self.owner:
            counts[cluster] += full
        for i in range(hi - rest, hi):
            counts[self.of(i)] += 1
        return counts

    def members(self, cluster: int, n: int, k: int) -> list[int]:
        """The first ``k`` image indices below ``n`` in ``cluster``."""
        m = len(self.owner)
        inverse = pow(self.a, -1, m)
        firsts = [((r - self.b) * inverse) % m for r, c in enumerate(self.owner) if c == cluster]
        return sorted(i + j * m for i in firsts for j in range(k) if i + j * m < n)[:k]


def clusters(ev: SimEval) -> Clusters:
    return _clusters(ev.seed, ev.eval_id, ev.n_images)


@lru_cache(maxsize=4096)
def _clusters(seed: int, eval_id: str, n_images: int) -> Clusters:
    rng = rng_for(seed, eval_id, "clusters")
    if n_images < 2:
        return Clusters(1, (0,), 1, 0, {0: (0.0, 0.0)})
    k = max(1, min(rng.randint(3, 40), n_images // 8, n_images - 1))
    owner = [-1] * rng.randint(1, 3) + [c for c in range(k) for _ in range(rng.randint(1, 4))]
    while len(owner) > n_images:  # keep m <= n so that no cluster is empty
        owner.pop(next(i for i in range(len(owner) - 1, 0, -1) if owner.count(owner[i]) > 1))
    rng.shuffle(owner)
    m = len(owner)
    a = next(x for x in range(rng.randint(1, m), 3 * m + 1) if math.gcd(x, m) == 1)
    centers = {c: (rng.uniform(-12, 12), rng.uniform(-12, 12)) for c in sorted(set(owner))}
    return Clusters(k, tuple(owner), a, rng.randrange(m), centers)


# ``hostile_names``: one image in two gets a markup-like name (still unique: the index follows).
HOSTILE_STEMS = ('"><img src=x onerror=alert(1)>', "<script>alert(1)</script>")


def identity(ev: SimEval, index: int) -> tuple[str, str]:
    """``(imageId, imageName)`` of image ``index``; never depends on the confidence."""
    digest = hashlib.blake2b(f"{ev.seed}:{ev.eval_id}:{index}".encode(), digest_size=32).digest()
    number, chars = int.from_bytes(digest[:16], "big"), []
    for _ in range(20):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    word = CLASS_WORDS[digest[16] % len(CLASS_WORDS)]
    if ev.hostile_names and index % 2:
        word = HOSTILE_STEMS[index // 2 % 2]
    stem = f"{word}_{index:06d}"
    return "".join(chars), f"{stem}_jpg.rf.{digest[16:].hex()}.jpg"


def image(ev: SimEval, index: int, confidence: int) -> dict[str, Any]:
    """Image ``index`` as image-predictions reports it at ``confidence`` percent."""
    image_id, name = identity(ev, index)
    split = next(s for s in SPLITS if index < ev.split_range(s)[1])
    # ``base`` draws what the confidence cannot change; ``rng`` what it can.
    base, rng = rng_for(ev.seed, ev.eval_id, index), rng_for(ev.seed, ev.eval_id, index, confidence)
    groups = clusters(ev)
    cluster = groups.of(index)
    cx, cy = groups.centers[cluster]
    present = [i for i, c in enumerate(ev.classes) if c not in absent(ev, split)]
    shown = base.sample(present, min(len(present), base.randint(1, 2)))
    at = point(split_curve(ev, split), confidence / 100)
    background = len(ev.classes)
    cells: dict[tuple[int, int], int] = {}
    for cls in shown:
        # Ground-truth objects: found, or else taken for another class or missed, in the
        # proportions of the confusion matrix's row for this split and confidence (so the
        # pairs an image shows are pairs the matrix has, at about its rates).
        columns, weights = miss_weights(ev, split, confidence, cls)
        for _ in range(base.randint(0, 4)):
            hit = rng.random() < at["recall"]
            cell = (cls, cls if hit else rng.choices(columns, weights)[0])
            cells[cell] = cells.get(cell, 0) + 1
        for _ in range(rng.randint(0, 3)):  # extra predictions: some are false positives
            if rng.random() > at["precision"]:
                cells[(background, cls)] = cells.get((background, cls), 0) + 1
    # Detection counting: a wrong class is a false positive of the predicted class and a
    # false negative of the actual one, as in the matrix (last row FP, last column FN).
    tp = sum(n for (a, p), n in cells.items() if a == p)
    fp = sum(n for (a, p), n in cells.items() if a != p and p != background)
    fn = sum(n for (a, p), n in cells.items() if a != p and a != background)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "imageId": image_id, "imageName": name, "split": split,
        "augmentations": base.randint(0, 3),
        "cluster": {"id": cluster,
                    "embedding2D": [cx + base.gauss(0, 1.5), cy + base.gauss(0, 1.5)]},
        "stats": {"truePositives": tp, "falsePositives": fp, "falseNegatives": fn,
                  "precision": round(precision, 3), "recall": round(recall, 3),
                  "f1": round(f1, 3)},
        "confusion": [[a, p, n] for (a, p), n in sorted(cells.items())]}


def page(ev: SimEval, split: str, confidence: int, offset: int, limit: int) -> dict[str, Any]:
    lo, hi = ev.split_range(split)
    return {"split": split, "confidenceThreshold": confidence / 100, "totalImages": hi - lo,
            "offset": offset, "limit": limit,
            "images": [image(ev, i, confidence)
                       for i in range(lo + offset, min(hi, lo + offset + limit))]}


def vector_analysis(ev: SimEval, confidence: int) -> dict[str, Any]:
    """Clusters span every split; only their metrics depend on ``confidence``."""
    groups = clusters(ev)
    by_split = {s: groups.counts(*ev.split_range(s)) for s in SPLITS}
    f1 = point(split_curve(ev, "test"), confidence / 100)["f1"]
    rows: list[dict[str, Any]] = []
    for cid in groups.centers:
        rng = rng_for(ev.seed, ev.eval_id, "cluster", cid, confidence)
        mean = min(1.0, max(0.0, f1 + rng.uniform(-0.3, 0.15)))
        rows.append({
            "id": cid, "numImages": sum(by_split[s][cid] for s in SPLITS),
            "splitDistribution": {s: by_split[s][cid] for s in SPLITS if by_split[s][cid]},
            "metrics": {"f1Mean": mean, "f1Std": rng.uniform(0.02, 0.25),
                        "f1Min": mean * rng.uniform(0.2, 0.9),
                        "f1Max": min(1.0, mean * 1.3 + 0.05),
                        "precisionMean": min(1.0, mean * rng.uniform(0.8, 1.2)),
                        "recallMean": min(1.0, mean * rng.uniform(0.8, 1.2))},
            "sampleImages": [identity(ev, i)[1] for i in groups.members(cid, ev.n_images, 3)]})
    noise = sum(r["numImages"] for r in rows if r["id"] == -1)
    rng = rng_for(ev.seed, ev.eval_id, "vector")
    return {
        "clustering": {
            "method": "hdbscan", "nClusters": groups.n_clusters,
            "metrics": {"noiseRatio": noise / ev.n_images,
                        "silhouetteScore": rng.uniform(0.2, 0.7)},
            "parameters": {"min_cluster_size": 2, "min_samples": 1,
                           "cluster_selection_method": "eom", "metric": "euclidean"},
            "processingTimeSeconds": rng.uniform(0.5, 20.0)},
        "preprocessing": {"method": "umap", "originalDimensions": 768, "targetDimensions": 10,
                          "nNeighbors": 30, "minDistance": 0.05},
        "clusters": rows}
