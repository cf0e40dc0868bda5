"""image-predictions, one page at a time → ``image_predictions`` and ``image_confusion``.

This is the hot path (a big eval has tens of thousands of images), so columns are built
straight from the decoded structs, never through per-row dicts. ``cluster`` may be an
object ``{id, embedding2D}``, a bare id, or missing (the official CLI tolerates all three).
An image id already seen on an earlier page is dropped, so pages that overlap because the
listing shifted do not duplicate rows. An image's own ``split`` wins; when it is missing,
the requested split (unless ``all``) stands in. No I/O.

Rows come in page order, not sorted by grain: a page's share of the grain order means
nothing across pages, and the publish merge sorts every table by grain anyway (sorting
here cost a quarter of the normalizer's time).

Throughput, decode + normalize of 1,000-image pages: ``python -m bench.run normalize``
(BENCHMARKS.md); ``tests/normalize/test_image_predictions.py::test_throughput`` (a soak)
prints it and fails below 100k rows/s, the margin being for a loaded CI machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

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
    """The page's images not in ``seen`` → batches; their ids are then added to ``seen``.

    Columns come out of the structs at C speed: ``attrgetter`` reads each image's fields as
    one tuple and ``zip(*...)`` transposes them, so no Python code runs per image. Only a
    page with an unusual shape (an image seen before, a bare-int cluster, a missing stats
    object...) takes the per-image comprehension for that column.
    """
    check_eval_id(PANEL, page.evalId, ctx)
    images, index = page.images, None
    ids = list(map(_IMAGE_ID, images))
    if len(set(ids)) != len(ids) or not seen.isdisjoint(ids):
        indexed = _new_images(images, seen)
        index = [i for i, _ in indexed]
        images = [im for _, im in indexed]
        ids = [im.imageId for im in images]
    n = len(images)
    names, splits, augmentations, clusters, stats, confusions = (
        _columns(_IMAGE_FIELDS, images, 6))
    if None in stats:
        stats = tuple(s or _NO_STATS for s in stats)
    tp, fp, fn, precision, recall, f1 = _columns(_STATS_FIELDS, stats, 6)
    if set(map(type, clusters)) - {_Cluster}:
        clusters = tuple(map(_cluster, clusters))
    cluster_ids, embeddings = _columns(_CLUSTER_FIELDS, clusters, 2)
    if None in embeddings:
        embeddings = tuple(e or _NO_EMBEDDING for e in embeddings)
    embedding_x, embedding_y = _columns(None, embeddings, 2)
    requested = ctx.request.split or page.split
    fallback_split = None if requested == "all" else requested
    if None in splits or "" in splits:
        splits = tuple(s or fallback_split for s in splits)
    predictions = build("image_predictions", ctx, n, sort=False, columns={
        "confidence": pa.repeat(pa.scalar(ctx.request.confidence, pa.int64()), n),
        "image_id": ids,
        "confidence_threshold": pa.repeat(pa.scalar(page.confidenceThreshold, pa.float64()), n),
        "image_name": names,
        "split": splits,
        "augmentations": augmentations,
        "cluster_id": cluster_ids,
        "embedding_x": embedding_x,
        "embedding_y": embedding_y,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    })
    confusion = _confusion_batch(ids, confusions, index, ctx)
    seen.update(ids)
    return {"image_predictions": predictions, "image_confusion": confusion}


_IMAGE_ID = attrgetter("imageId")
_IMAGE_FIELDS = attrgetter("imageName", "split", "augmentations", "cluster", "stats",
                           "confusion")
_STATS_FIELDS = attrgetter("truePositives", "falsePositives", "falseNegatives", "precision",
                           "recall", "f1")
_CLUSTER_FIELDS = attrgetter("id", "embedding2D")
_NO_EMBEDDING = (None, None)


def _columns(fields: attrgetter[Any] | None, rows: Sequence[Any], width: int
             ) -> tuple[tuple[Any, ...], ...]:
    """``rows`` transposed into ``width`` columns (of ``fields`` of each row, if given)."""
    if not rows:
        return ((),) * width
    return tuple(zip(*(rows if fields is None else map(fields, rows)), strict=True))


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


def _confusion_batch(ids: list[str], confusions: Sequence[list[tuple[int, int, int]] | None],
                     index: list[int] | None, ctx: FetchContext) -> pa.RecordBatch:
    """One row per (image, actual, predicted), built without a Python loop per triple.

    Only when an image lists a pair twice are the counts summed (:func:`_merged`), on the
    rare slow path.
    """
    lists: Sequence[Sequence[tuple[int, int, int]]] = (
        [c or () for c in confusions] if None in confusions else confusions)  # type: ignore[assignment]
    lengths = list(map(len, lists))
    triples = list(chain.from_iterable(lists))
    actual, predicted, counts = _columns(None, triples, 3)
    image_ids = list(chain.from_iterable(map(repeat, ids, lengths)))
    if len(set(zip(image_ids, actual, predicted, strict=True))) == len(image_ids):
        return _confusion_rows(ctx, image_ids, actual, predicted, counts)
    listed = [(i if index is None else index[i], image_id, list(c))
              for i, (image_id, c) in enumerate(zip(ids, lists, strict=True)) if c]
    return _confusion_rows(ctx, *_merged(listed, ctx.eval_id))


def _confusion_rows(ctx: FetchContext, image_ids: Sequence[str], actual: Sequence[int],
                    predicted: Sequence[int], counts: Sequence[int]) -> pa.RecordBatch:
    n = len(image_ids)
    return build("image_confusion", ctx, n, sort=False, columns={
        "confidence": pa.repeat(pa.scalar(ctx.request.confidence, pa.int64()), n),
        "image_id": image_ids,
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
