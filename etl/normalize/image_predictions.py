"""image-predictions, one page at a time → ``image_predictions`` and ``image_confusion``.

This is the hot path (a big eval has tens of thousands of images), so columns are built
straight from the decoded structs, never through per-row dicts. ``cluster`` may be an
object ``{id, embedding2D}``, a bare id, or missing (the official CLI tolerates all three).
An image id already seen on an earlier page is dropped, so pages that overlap because the
listing shifted do not duplicate rows. An image's own ``split`` wins; when it is missing,
the requested split (unless ``all``) stands in. No I/O.

Throughput, decode + normalize of 1,000-image pages on the 2-core dev box: about 250-350k
rows/s (target 200k); ``tests/normalize/test_image_predictions.py::test_throughput`` prints
it and fails below 100k, the margin being for a loaded CI machine.
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    INT64_MAX,
    Batches,
    Count,
    FetchContext,
    Fraction,
    Header,
    Int,
    PanelCodec,
    build,
    check_eval_id,
)
from etl.normalize._decode import decoder

PANEL = "image-predictions"


class _Cluster(msgspec.Struct):
    id: Int | None = None
    embedding2D: tuple[float, float] | None = None


class _Stats(msgspec.Struct):
    truePositives: Count | None = None
    falsePositives: Count | None = None
    falseNegatives: Count | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


class _Image(msgspec.Struct):
    imageId: str
    imageName: str | None = None
    split: str | None = None
    augmentations: Count | None = None
    cluster: _Cluster | Int | None = None
    stats: _Stats | None = None
    confusion: list[tuple[Count, Count, Count]] | None = None


class ImagePage(Header, kw_only=True):
    """One decoded page; the crawler pages on ``total_images``, ``offset`` and ``limit``."""

    images: list[_Image]
    total_images: Count = msgspec.field(name="totalImages")
    offset: Count | None = None
    limit: Count | None = None
    split: str | None = None
    confidenceThreshold: Fraction | None = None


decode_page = decoder(ImagePage)

_NO_STATS = _Stats()
_NO_CLUSTER = _Cluster()


def normalize_page(page: ImagePage, ctx: FetchContext, seen: set[str]) -> Batches:
    """The page's images not in ``seen`` → batches; their ids are then added to ``seen``."""
    check_eval_id(PANEL, page.evalId, ctx)
    indexed = _new_images(page.images, seen)
    images = [im for _, im in indexed]
    n = len(images)
    stats = [im.stats or _NO_STATS for im in images]
    clusters = [_cluster(im.cluster) for im in images]
    embeddings = [c.embedding2D for c in clusters]
    requested = ctx.request.split or page.split
    fallback_split = None if requested == "all" else requested
    predictions = build("image_predictions", ctx, n, {
        "confidence": pa.repeat(pa.scalar(ctx.request.confidence, pa.int64()), n),
        "image_id": [im.imageId for im in images],
        "confidence_threshold": pa.repeat(pa.scalar(page.confidenceThreshold, pa.float64()), n),
        "image_name": [im.imageName for im in images],
        "split": [im.split or fallback_split for im in images],
        "augmentations": [im.augmentations for im in images],
        "cluster_id": [c.id for c in clusters],
        "embedding_x": [e[0] if e else None for e in embeddings],
        "embedding_y": [e[1] if e else None for e in embeddings],
        "true_positives": [s.truePositives for s in stats],
        "false_positives": [s.falsePositives for s in stats],
        "false_negatives": [s.falseNegatives for s in stats],
        "precision": [s.precision for s in stats],
        "recall": [s.recall for s in stats],
        "f1": [s.f1 for s in stats],
    })
    confusion = _confusion_batch(indexed, ctx)
    seen.update(im.imageId for im in images)
    return {"image_predictions": predictions, "image_confusion": confusion}


def _new_images(images: list[_Image], seen: set[str]) -> list[tuple[int, _Image]]:
    """The images not seen before, each with its index on the page (for error paths)."""
    fresh: list[tuple[int, _Image]] = []
    ids: set[str] = set()
    for i, im in enumerate(images):
        if im.imageId not in seen and im.imageId not in ids:
            ids.add(im.imageId)
            fresh.append((i, im))
    return fresh


def _cluster(value: _Cluster | int | None) -> _Cluster:
    if value is None:
        return _NO_CLUSTER
    if isinstance(value, int):
        return _Cluster(id=value)
    return value


def _confusion_batch(images: list[tuple[int, _Image]], ctx: FetchContext) -> pa.RecordBatch:
    listed = [(i, im.imageId, im.confusion) for i, im in images if im.confusion]
    ids = [image_id for _, image_id, triples in listed for _ in triples]
    triples = [t for _, _, image_triples in listed for t in image_triples]
    actual = [t[0] for t in triples]
    predicted = [t[1] for t in triples]
    counts = [t[2] for t in triples]
    if len(set(zip(ids, actual, predicted, strict=True))) != len(ids):
        ids, actual, predicted, counts = _merged(listed, ctx.eval_id)
    n = len(ids)
    return build("image_confusion", ctx, n, {
        "confidence": pa.repeat(pa.scalar(ctx.request.confidence, pa.int64()), n),
        "image_id": ids,
        "actual_idx": actual,
        "predicted_idx": predicted,
        "count": counts,
    })


def _merged(
    listed: list[tuple[int, str, list[tuple[int, int, int]]]], eval_id: str
) -> tuple[list[str], list[int], list[int], list[int]]:
    """A pair an image lists twice is one grain: its counts add up.

    Each count fits int64 (msgspec checks that), their sum need not: past the column's type
    it is a contract error at the triple that overflowed, not an OverflowError from pyarrow.
    """
    totals: dict[tuple[str, int, int], int] = {}
    for index, image_id, triples in listed:
        for j, (actual, predicted, count) in enumerate(triples):
            key = (image_id, actual, predicted)
            total = totals.get(key, 0) + count
            if total > INT64_MAX:
                raise ContractError(
                    PANEL, f"$.images[{index}].confusion[{j}]",
                    f"pair ({actual}, {predicted}) listed again: its counts sum past int64",
                    eval_id,
                )
            totals[key] = total
    return (
        [k[0] for k in totals], [k[1] for k in totals], [k[2] for k in totals],
        list(totals.values()),
    )


def normalize(page: ImagePage, ctx: FetchContext) -> Batches:
    """One page on its own (a fresh ``seen``): what ``PANELS`` and replays use."""
    return normalize_page(page, ctx, set())


CODEC = PanelCodec(decode_page, normalize)
