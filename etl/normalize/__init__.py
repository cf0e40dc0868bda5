"""Payload bytes → Arrow record batches in the schemas of ``etl.schemas``. No I/O, no globals.

Each panel has a :class:`PanelCodec`: a typed msgspec decode (unknown fields ignored,
optional fields None) and a pure normalize. :func:`normalize_body` runs both and turns every
failure into ``ContractError(panel, field, problem, eval_id)``, the field being a JSON path
such as ``$.splits.test.map50``. Malformed JSON gets field ``$`` and a problem starting
``malformed JSON:`` (the crawler may retry it as a truncated body); NaN/Infinity are value
problems at their path.

What is required: the containers a panel is made of (``splits``, ``perThreshold``,
``classes``, ``matrix``, ``clusters``, ``images``, ``totalImages``, ``generated``) and the
fields a row's grain is built from (``className``, cluster ``id``, ``imageId``, item
``type``, the get ``status``). Measured values are optional: missing becomes NULL.

The returned dict holds a batch for every table of the panel (``TABLES_BY_PANEL``), zero
rows when empty, with lineage from the :class:`FetchContext`.
"""

from __future__ import annotations

import msgspec

from etl.errors import ContractError
from etl.normalize import (
    compare,
    confidence_sweep,
    confusion_matrix,
    evaluations,
    image_predictions,
    map_results,
    performance_by_class,
    recommendations,
    vector_analysis,
)
from etl.normalize._common import Batches, FetchContext, PanelCodec, gc_paused, parse_timestamp
from etl.normalize._decode import contract_error
from etl.normalize.evaluations import (
    ListPage,
    ProjectInfo,
    decode_listing,
    decode_workspace,
    listing_batch,
)
from etl.normalize.image_predictions import ImagePage, decode_page, normalize_page
from etl.panels import Panel
from etl.timestamps import iso_utc

PANELS: dict[Panel, PanelCodec] = {
    "get": evaluations.CODEC,
    "map-results": map_results.CODEC,
    "confidence-sweep": confidence_sweep.CODEC,
    "performance-by-class": performance_by_class.CODEC,
    "confusion-matrix": confusion_matrix.CODEC,
    "vector-analysis": vector_analysis.CODEC,
    "image-predictions": image_predictions.CODEC,
    "recommendations": recommendations.CODEC,
    "compare": compare.CODEC,
}

# The listing is not a panel unit; ARCHITECTURE.md names its normalizer this way.


def normalize_body(ctx: FetchContext, body: bytes) -> Batches:
    """Decode and normalize one response body of ``ctx.request.panel``.

    Raises ContractError naming the eval, the panel and the field on any failure.
    """
    panel = ctx.request.panel
    codec = PANELS[panel]
    try:
        payload = codec.decode(body)
        return codec.normalize(payload, ctx)
    except ContractError as exc:
        if exc.eval_id:
            raise
        raise exc.with_eval(ctx.eval_id) from None
    except msgspec.MsgspecError as exc:
        raise contract_error(panel, exc, ctx.eval_id) from None


__all__ = [
    "PANELS",
    "Batches",
    "ContractError",
    "FetchContext",
    "ImagePage",
    "ListPage",
    "PanelCodec",
    "ProjectInfo",
    "contract_error",
    "decode_listing",
    "decode_page",
    "decode_workspace",
    "gc_paused",
    "iso_utc",
    "listing_batch",
    "normalize_body",
    "normalize_page",
    "parse_timestamp",
]
