"""Hypothesis strategies for the normalizer properties: valid payloads per panel, the
contract's shape as a small spec, and broken payloads derived from valid ones.

Valid payloads follow ``../shared/api-contract.md`` §3-§9 and §17: awkward class names,
sizes down to 0, optional fields randomly left out, nulls where the contract allows them and
unknown ``x-…`` fields now and then on any object (never on objects whose keys are data, such
as ``splits``, ``perClass`` and ``perThreshold``, where an extra key would be a new row).

The spec (``spec_for``) is written from the contract, independently of ``etl.normalize``'s
structs. A mutation is classified against it: a required field removed, a value of the wrong
type, null where null is not allowed, a negative count, NaN/Infinity or truncated bytes must
be a ContractError; an optional field removed, null where it is allowed, or anything done to
an unknown field must be tolerated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

# -- cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A payload and the request it answers (``panel == "list"`` is the listing body)."""

    panel: str
    payload: Any
    eval_id: str
    split: str | None = None
    confidence: int | None = None
    ascii_json: bool = False  # encode with \\u escapes: exercises the decoder's escape paths

    def body(self, payload: Any = ...) -> bytes:
        doc = self.payload if payload is ... else payload
        return json.dumps(doc, ensure_ascii=self.ascii_json, allow_nan=False).encode()


# -- leaves ------------------------------------------------------------------------------------

AWKWARD_NAMES = (
    "Car-rims", "vélo 🚲", 'a,b "quoted"', "it's", "tab\there", "new\nline", "", " ",
    "back\\slash", "0.37", "null", "$.splits", "[...]", "日本語", "\u0000nul", "emoji 👩‍👩‍👧",
    "a`b", "x - at `$.y`",  # msgspec quotes paths in backticks: a key must not end one early
)
# Every code point JSON and UTF-8 can carry (no lone surrogates).
_CHARS = st.characters(codec="utf-8")
text = st.text(_CHARS, max_size=12)
names = st.one_of(st.sampled_from(AWKWARD_NAMES), text)
ids = st.text(_CHARS, min_size=1, max_size=24)
splits = st.one_of(st.sampled_from(["train", "valid", "test", "all"]), text)
metric = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0, 1]))  # the docs write "precision": 0
# Tiny fractions are written in exponent notation ("5e-05"): a body cut inside one must still
# read as malformed (test_a_body_cut_inside_a_number_is_malformed pins the minimal case).
fraction = st.one_of(st.floats(0.0, 1.0), st.floats(0.0, 1e-4))
finite = st.floats(allow_nan=False, allow_infinity=False)
count = st.one_of(st.integers(0, 10_000), st.just(2**63 - 1))
small_int = st.integers(-(2**63) + 1, 2**63 - 1)
percent = st.integers(0, 100)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), finite, text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)
    ),
    max_leaves=4,
)


def nullable(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO-8601 with milliseconds, in UTC (``Z``) or with an offset, as the API writes them.

    Any year 1-9999 (the years before 1000 are written with their zeros); an offset that would
    take the instant out of that range in UTC is an error, pinned by
    test_timestamps_at_the_edges_of_the_calendar_are_read, so such a draw is written in UTC.
    """
    local = draw(st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)))
    local = local.replace(microsecond=local.microsecond // 1000 * 1000)
    hours = draw(st.sampled_from([0, 0, 2, -5, 14]))
    moment = local.replace(tzinfo=timezone(timedelta(hours=hours)))
    try:
        moment.astimezone(UTC)
    except OverflowError:
        hours, moment = 0, local.replace(tzinfo=UTC)
    if hours == 0:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="milliseconds")


@st.composite
def objects(
    draw: st.DrawFn,
    required: Mapping[str, st.SearchStrategy[Any]] | None = None,
    optional: Mapping[str, st.SearchStrategy[Any]] | None = None,
) -> dict[str, Any]:
    """A JSON object: the required members, a random subset of the optional ones and now and
    then an unknown ``x-…`` member (which a normalizer must ignore)."""
    doc = draw(st.fixed_dictionaries(dict(required or {}), optional=dict(optional or {})))
    if draw(st.integers(0, 3)) == 0:
        doc[f"x-{draw(text)}"] = draw(json_values)
    return doc


def header(eval_id: str) -> dict[str, st.SearchStrategy[Any]]:
    """Panel header fields (§17: optional); project/versionId/modelId are ignored by panels."""
    return {
        "evalId": st.just(eval_id),
        "project": nullable(text),
        "versionId": st.sampled_from(["4", "12"]),
        "modelId": nullable(ids),
    }


def metrics(*keys: str) -> dict[str, st.SearchStrategy[Any]]:
    return {k: nullable(metric) for k in keys}


# -- valid payloads, one strategy per panel ------------------------------------------------------


@st.composite
def get_cases(draw: st.DrawFn) -> Case:
    eval_id = draw(ids)
    status = draw(st.one_of(st.sampled_from(["done", "running", "failed"]), text))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "evalId": st.just(eval_id),
        "project": nullable(text),
        "projectId": text,
        "versionId": nullable(st.one_of(st.text("0123456789", min_size=1, max_size=3),
                                        st.integers(1, 999))),
        "modelId": nullable(ids),
        "modelUrl": nullable(text),
        "createdAt": nullable(timestamps()),
    }
    if status == "done":
        summary = objects(optional=metrics("mAP", "mIoU", "precision", "recall"))
        optional["summary"] = nullable(summary)
    doc = draw(objects({"status": st.just(status)}, optional))
    if "evalId" not in doc and draw(st.booleans()):
        doc["id"] = eval_id  # the legacy key the SDK still accepts
    return Case("get", doc, eval_id, ascii_json=draw(st.booleans()))


MAPS = ("map50", "map50_95", "map75")


# A class without instances has null mAPs: a present null is still the class's `all` row.
_MAP_VALUES = metrics(*MAPS)
_BUCKET = nullable(objects(optional=_MAP_VALUES))
_SIZES = objects(optional={"small": _BUCKET, "medium": _BUCKET, "large": _BUCKET})
_OD_CLASS = objects(optional={**_MAP_VALUES, "byObjectSize": nullable(_SIZES)})
_SEMSEG_CLASS = objects(optional={
    "classID": nullable(st.integers(0, 300)), "iou": nullable(metric),
    **metrics("precision", "recall", "f1"), "optimalThreshold": nullable(fraction),
})


def _map_split(semseg: bool) -> st.SearchStrategy[dict[str, Any]]:
    per_class = nullable(st.dictionaries(names, nullable(_SEMSEG_CLASS if semseg else _OD_CLASS),
                                         max_size=4))
    if semseg:
        fields = {"mIoU": nullable(metric), "miou": nullable(metric),
                  **metrics("precision", "recall", "f1")}
    else:
        fields = {**_MAP_VALUES, "byObjectSize": nullable(_SIZES)}
    return objects(optional={**fields, "perClass": per_class})


@st.composite
def map_results_cases(draw: st.DrawFn, semseg: bool) -> Case:
    eval_id = draw(ids)
    task = ("semantic-segmentation" if semseg
            else draw(st.sampled_from(["object-detection-like", "keypoint-detection"])))
    optional = {**header(eval_id), "taskType": st.just(task)}
    required: dict[str, st.SearchStrategy[Any]] = {}
    if semseg:  # absent taskType means object-detection-like, so semseg always says so
        required["taskType"] = optional.pop("taskType")
    required["splits"] = st.dictionaries(splits, _map_split(semseg), max_size=3)
    return Case("map-results", draw(objects(required, optional)), eval_id,
                ascii_json=draw(st.booleans()))


@st.composite
def threshold_keys(draw: st.DrawFn) -> dict[str, float]:
    """Distinct thresholds written as the API does ("0.37") or in other plain decimals."""
    hundredths = draw(st.lists(st.integers(0, 100), unique=True, max_size=8))
    keys: dict[str, float] = {}
    for h in hundredths:
        style = draw(st.sampled_from(["%.2f", "repr", "%.3f"]))
        key = repr(h / 100) if style == "repr" else style % (h / 100)
        keys[key] = float(key)
    return keys


_SWEEP_METRICS = objects(optional=metrics("precision", "recall", "f1"))


@st.composite
def _sweep(draw: st.DrawFn, with_classes: bool) -> dict[str, Any]:
    per_threshold = {k: draw(_SWEEP_METRICS) for k in draw(threshold_keys())}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "optimalThreshold": nullable(fraction),
        "optimalMetrics": nullable(_SWEEP_METRICS),
    }
    if with_classes:
        optional["perClass"] = nullable(
            st.dictionaries(names, nullable(_sweep(with_classes=False)), max_size=3))
    return draw(objects({"perThreshold": st.just(per_threshold)}, optional))


@st.composite
def confidence_sweep_cases(draw: st.DrawFn) -> Case:
    eval_id = draw(ids)
    required = {"splits": st.dictionaries(splits, _sweep(with_classes=True), max_size=3)}
    return Case("confidence-sweep", draw(objects(required, header(eval_id))), eval_id,
                ascii_json=draw(st.booleans()))


@st.composite
def performance_by_class_cases(draw: st.DrawFn, semseg: bool) -> Case:
    eval_id = draw(ids)
    split = draw(st.sampled_from(["train", "valid", "test"]))
    class_names = draw(st.lists(names, unique=True, max_size=8))
    shape = ({"classID": nullable(small_int), "iou": nullable(metric)} if semseg
             else {k: nullable(metric) for k in MAPS})
    fields = {**shape, **metrics("precision", "recall", "f1"),
              "optimalThreshold": nullable(fraction)}
    classes = [draw(objects({"className": st.just(n)}, fields)) for n in class_names]
    task = "semantic-segmentation" if semseg else "object-detection-like"
    optional = {**header(eval_id), "split": st.just(split)}
    required: dict[str, st.SearchStrategy[Any]] = {"classes": st.just(classes)}
    if semseg:
        required["taskType"] = st.just(task)
    else:
        optional["taskType"] = st.just(task)
    return Case("performance-by-class", draw(objects(required, optional)), eval_id, split=split,
                ascii_json=draw(st.booleans()))


@st.composite
def confusion_matrix_cases(draw: st.DrawFn) -> Case:
    eval_id = draw(ids)
    split = draw(st.sampled_from(["train", "valid", "test", "all"]))
    classes = draw(st.lists(names, unique=True, max_size=6))
    n = len(classes)
    matrix = draw(st.lists(st.lists(count, min_size=n, max_size=n), min_size=n, max_size=n))
    optional = {**header(eval_id), "split": st.just(split),
                "confidenceThreshold": nullable(fraction)}
    doc = draw(objects({"classes": st.just(classes), "matrix": st.just(matrix)}, optional))
    return Case("confusion-matrix", doc, eval_id, split=split,
                confidence=draw(nullable(percent)), ascii_json=draw(st.booleans()))


_CLUSTERING = objects(optional={
    "method": nullable(text), "nClusters": nullable(count),
    "metrics": nullable(objects(optional=metrics("noiseRatio", "silhouetteScore"))),
    "parameters": nullable(st.dictionaries(text, json_values, max_size=4)),
    "processingTimeSeconds": nullable(finite),
})
_PREPROCESSING = objects(optional={
    "method": nullable(text), "originalDimensions": nullable(count),
    "targetDimensions": nullable(count), "nNeighbors": nullable(count),
    "minDistance": nullable(finite),
})
_CLUSTER_FIELDS = {
    "numImages": nullable(count),
    "splitDistribution": nullable(objects(optional={s: count for s in ("train", "valid", "test")})),
    "metrics": nullable(objects(optional=metrics(
        "f1Mean", "f1Std", "f1Min", "f1Max", "precisionMean", "recallMean"))),
    "sampleImages": nullable(st.lists(text, max_size=4)),
}


@st.composite
def vector_analysis_cases(draw: st.DrawFn) -> Case:
    eval_id = draw(ids)
    cluster_ids = draw(st.lists(st.one_of(st.integers(-1, 60), small_int), unique=True,
                                max_size=8))
    clusters = [draw(objects({"id": st.just(i)}, _CLUSTER_FIELDS)) for i in cluster_ids]
    optional = {**header(eval_id), "clustering": nullable(_CLUSTERING),
                "preprocessing": nullable(_PREPROCESSING)}
    doc = draw(objects({"clusters": st.just(clusters)}, optional))
    return Case("vector-analysis", doc, eval_id, confidence=draw(nullable(percent)),
                ascii_json=draw(st.booleans()))


_EMBEDDING = st.tuples(finite, finite).map(list)
_IMAGE_CLUSTER = st.one_of(
    st.none(), small_int,
    objects(optional={"id": nullable(small_int), "embedding2D": nullable(_EMBEDDING)}),
)
_STATS = objects(optional={
    "truePositives": nullable(count), "falsePositives": nullable(count),
    "falseNegatives": nullable(count), **metrics("precision", "recall", "f1"),
})
INT64_MAX = 2**63 - 1
# Small indices so that an image listing one (actual, predicted) pair twice happens often, and
# counts up to int64's bound, so that a repeated pair's sum reaches it.
_TRIPLE = st.tuples(st.integers(0, 3), st.integers(0, 3),
                    st.one_of(st.integers(0, 10**6), st.integers(2**62, INT64_MAX))).map(list)


@st.composite
def _confusion(draw: st.DrawFn) -> list[list[int]]:
    """An image's triples; a repeated pair's counts sum to int64's bound at most (valid).

    Going past it is a contract error: the ``overflow`` semantic break, in ``broken``.
    """
    triples = draw(st.lists(_TRIPLE, max_size=4))
    totals: dict[tuple[int, int], int] = {}
    for triple in triples:
        key = (triple[0], triple[1])
        triple[2] = min(triple[2], INT64_MAX - totals.get(key, 0))
        totals[key] = totals.get(key, 0) + triple[2]
    return triples
# A few ids are drawn from a tiny pool: an image id seen twice on a page must be kept once.
_IMAGE_IDS = st.one_of(st.sampled_from(["img-a", "img-b", "img-c"]), ids)


@st.composite
def image_predictions_cases(draw: st.DrawFn) -> Case:
    eval_id = draw(ids)
    split = draw(st.sampled_from(["train", "valid", "test", "all"]))
    image_fields = {
        "imageName": nullable(text), "split": nullable(st.sampled_from(["train", "valid", "test"])),
        "augmentations": nullable(count), "cluster": _IMAGE_CLUSTER, "stats": nullable(_STATS),
        "confusion": nullable(_confusion()),
    }
    images = draw(st.lists(objects({"imageId": _IMAGE_IDS}, image_fields), max_size=12))
    optional = {**header(eval_id), "offset": nullable(count), "limit": nullable(count),
                "split": st.just(split), "confidenceThreshold": nullable(fraction)}
    required = {"images": st.just(images), "totalImages": st.integers(len(images), 10**6)}
    return Case("image-predictions", draw(objects(required, optional)), eval_id, split=split,
                confidence=draw(nullable(percent)), ascii_json=draw(st.booleans()))


_ITEM = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.one_of(st.sampled_from(["missed_detection", "wrong_class", "class_imbalance",
                               "overconfident_fp", "dataset_health"]), text),
    st.dictionaries(text.filter(lambda k: k != "type"), json_values, max_size=3),
)
_REC_SUMMARY = objects(optional={
    "confidenceThreshold": nullable(percent), "split": nullable(splits),
    "generatedAt": nullable(timestamps()), "count": nullable(count),
    **metrics("f1", "precision", "recall"),
})


@st.composite
def recommendations_cases(draw: st.DrawFn, generated: bool) -> Case:
    eval_id = draw(ids)
    if not generated:
        doc = draw(objects({"generated": st.just(False)}, header(eval_id)))
    else:
        body = objects(optional={"summary": nullable(_REC_SUMMARY),
                                 "items": nullable(st.lists(_ITEM, max_size=6))})
        required = {"generated": st.just(True), "recommendations": body}
        optional = {**header(eval_id), "generatedAt": nullable(timestamps())}
        doc = draw(objects(required, optional))
    return Case("recommendations", doc, eval_id, ascii_json=draw(st.booleans()))


_LIST_IDS = st.one_of(st.sampled_from(["evalA", "evalB"]), ids)


@st.composite
def _list_row(draw: st.DrawFn) -> dict[str, Any]:
    eval_id = draw(_LIST_IDS)
    key = draw(st.sampled_from(["evalId", "id", "both"]))
    ident = ({"evalId": eval_id, "id": eval_id} if key == "both" else {key: eval_id})
    optional = {
        "project": nullable(text), "projectId": text,
        "versionId": nullable(st.one_of(st.text("0123456789", min_size=1, max_size=3),
                                        st.integers(1, 999))),
        "modelId": nullable(ids), "modelUrl": nullable(text), "createdAt": nullable(timestamps()),
    }
    required = {"status": st.one_of(st.sampled_from(["done", "running", "failed"]), text),
                **{k: st.just(v) for k, v in ident.items()}}
    return draw(objects(required, optional))


@st.composite
def list_cases(draw: st.DrawFn) -> Case:
    doc = draw(objects({"evals": st.lists(_list_row(), max_size=8)}))
    return Case("list", doc, "", ascii_json=draw(st.booleans()))


VALID: dict[str, st.SearchStrategy[Case]] = {
    "get": get_cases(),
    "map-results/od": map_results_cases(semseg=False),
    "map-results/semseg": map_results_cases(semseg=True),
    "confidence-sweep": confidence_sweep_cases(),
    "performance-by-class/od": performance_by_class_cases(semseg=False),
    "performance-by-class/semseg": performance_by_class_cases(semseg=True),
    "confusion-matrix": confusion_matrix_cases(),
    "vector-analysis": vector_analysis_cases(),
    "image-predictions": image_predictions_cases(),
    "recommendations/generated": recommendations_cases(generated=True),
    "recommendations/not-generated": recommendations_cases(generated=False),
    "list": list_cases(),
}

# -- the contract as a spec ---------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    nullable: bool = True


@dataclass(frozen=True)
class Num(Spec):
    kind: str = "float"  # float | int | count (>= 0) | percent (0..100) | fraction (0..1)

    @property
    def bounded_below(self) -> bool:
        return self.kind in ("count", "percent", "fraction")


@dataclass(frozen=True)
class Str(Spec):
    pass


@dataclass(frozen=True)
class Bool(Spec):
    pass


@dataclass(frozen=True)
class Obj(Spec):
    # name -> (required, spec); members not named here are unknown, hence ignored
    fields: Mapping[str, tuple[bool, Spec]] = field(default_factory=dict)


@dataclass(frozen=True)
class Map(Spec):
    """An object whose keys are data (split, class or threshold names)."""

    value: Spec = field(default_factory=Spec)


@dataclass(frozen=True)
class Arr(Spec):
    item: Spec = field(default_factory=Spec)


@dataclass(frozen=True)
class Tup(Spec):
    items: tuple[Spec, ...] = ()


@dataclass(frozen=True)
class Union(Spec):
    options: tuple[Spec, ...] = ()


@dataclass(frozen=True)
class Free(Spec):
    """Any JSON, kept or dropped as is: unknown fields, free-form parameters, item details."""


FREE = Free()


def nn(spec: Spec) -> Spec:
    return replace(spec, nullable=False)


def req(spec: Spec) -> tuple[bool, Spec]:
    return True, nn(spec)


def opt(spec: Spec) -> tuple[bool, Spec]:
    return False, spec


F, I, C = Num(), Num(kind="int"), Num(kind="count")
P, FR = Num(kind="percent"), Num(kind="fraction")
S = Str()
EVAL_HEADER = {"evalId": opt(S)}


def _obj(fields: Mapping[str, tuple[bool, Spec]], nullable: bool = True) -> Obj:
    return Obj(nullable=nullable, fields=dict(fields))


_MAP = {k: opt(F) for k in MAPS}
_MAP_SIZES = _obj({s: opt(_obj(_MAP)) for s in ("small", "medium", "large")})
_MAP_CLASS = _obj({**_MAP, "byObjectSize": opt(_MAP_SIZES)})
_MAP_SPLIT = _obj({**_MAP, "byObjectSize": opt(_MAP_SIZES), "mIoU": opt(F), "miou": opt(F),
                   "precision": opt(F), "recall": opt(F), "f1": opt(F),
                   "perClass": opt(Map(value=_MAP_CLASS))}, nullable=False)
_SWEEP_M = _obj({k: opt(F) for k in ("precision", "recall", "f1")})
_SWEEP = {"perThreshold": req(Map(value=nn(_SWEEP_M))), "optimalThreshold": opt(FR),
          "optimalMetrics": opt(_SWEEP_M)}
_CLASS_SPEC = _obj({
    "className": req(S), "classID": opt(I), **_MAP, "iou": opt(F), "precision": opt(F),
    "recall": opt(F), "f1": opt(F), "optimalThreshold": opt(FR),
}, nullable=False)
_CLUSTER_SPEC = _obj({
    "id": req(I), "numImages": opt(C),
    "splitDistribution": opt(_obj({s: opt(nn(C)) for s in ("train", "valid", "test")})),
    "metrics": opt(_obj({k: opt(F) for k in ("f1Mean", "f1Std", "f1Min", "f1Max",
                                              "precisionMean", "recallMean")})),
    "sampleImages": opt(Arr(item=nn(S))),
}, nullable=False)
_IMAGE_SPEC = _obj({
    "imageId": req(S), "imageName": opt(S), "split": opt(S), "augmentations": opt(C),
    "cluster": opt(Union(options=(
        nn(_obj({"id": opt(I), "embedding2D": opt(Tup(items=(nn(F), nn(F))))})), nn(I)))),
    "stats": opt(_obj({"truePositives": opt(C), "falsePositives": opt(C),
                       "falseNegatives": opt(C), "precision": opt(F), "recall": opt(F),
                       "f1": opt(F)})),
    "confusion": opt(Arr(item=nn(Tup(items=(nn(C), nn(C), nn(C)))))),
}, nullable=False)
_ROW = {
    "status": req(S), "evalId": opt(S), "id": opt(S), "project": opt(S), "projectId": opt(S),
    "versionId": opt(Union(options=(nn(S), nn(I)))), "modelId": opt(S), "modelUrl": opt(S),
    "createdAt": opt(S),
}


def _recommendations_spec(generated: Any) -> Obj:
    item = Obj(nullable=False, fields={"type": req(S)})  # other item fields: Free (kept whole)
    summary = _obj({"confidenceThreshold": opt(P), "split": opt(S), "generatedAt": opt(S),
                    "count": opt(C), "f1": opt(F), "precision": opt(F), "recall": opt(F)})
    body = _obj({"summary": opt(summary), "items": opt(Arr(item=item))})
    # §9.4: the recommendations object is what generated=true announces.
    return _obj({**EVAL_HEADER, "generated": req(Bool()), "generatedAt": opt(S),
                 "recommendations": req(body) if generated is True else opt(body)},
                nullable=False)


SPECS: dict[str, Callable[[Any], Spec]] = {
    "get": lambda doc: _obj({**_ROW, "summary": opt(_obj(
        {k: opt(F) for k in ("mAP", "mIoU", "precision", "recall")}))}, nullable=False),
    "map-results": lambda doc: _obj({**EVAL_HEADER, "taskType": opt(S),
                                     "splits": req(Map(value=_MAP_SPLIT))}, nullable=False),
    "confidence-sweep": lambda doc: _obj({**EVAL_HEADER, "splits": req(Map(value=_obj(
        {**_SWEEP, "perClass": opt(Map(value=_obj(_SWEEP)))}, nullable=False)))}, nullable=False),
    "performance-by-class": lambda doc: _obj({**EVAL_HEADER, "taskType": opt(S), "split": opt(S),
                                              "classes": req(Arr(item=_CLASS_SPEC))},
                                             nullable=False),
    "confusion-matrix": lambda doc: _obj({
        **EVAL_HEADER, "split": opt(S), "confidenceThreshold": opt(FR),
        "classes": req(Arr(item=nn(S))), "matrix": req(Arr(item=nn(Arr(item=nn(C)))))},
        nullable=False),
    "vector-analysis": lambda doc: _obj({
        **EVAL_HEADER, "clusters": req(Arr(item=_CLUSTER_SPEC)),
        "clustering": opt(_obj({
            "method": opt(S), "nClusters": opt(C), "parameters": opt(Map(value=FREE)),
            "metrics": opt(_obj({"noiseRatio": opt(F), "silhouetteScore": opt(F)})),
            "processingTimeSeconds": opt(F)})),
        "preprocessing": opt(_obj({
            "method": opt(S), "originalDimensions": opt(C), "targetDimensions": opt(C),
            "nNeighbors": opt(C), "minDistance": opt(F)}))}, nullable=False),
    "image-predictions": lambda doc: _obj({
        **EVAL_HEADER, "images": req(Arr(item=_IMAGE_SPEC)), "totalImages": req(C),
        "offset": opt(C), "limit": opt(C), "split": opt(S), "confidenceThreshold": opt(FR)},
        nullable=False),
    "recommendations": lambda doc: _recommendations_spec(doc.get("generated")),
    "list": lambda doc: _obj({"evals": req(Arr(item=_obj(_ROW, nullable=False)))},
                             nullable=False),
}


def spec_for(case: Case, doc: Any = None) -> Spec:
    return SPECS[case.panel](case.payload if doc is None else doc)


# -- walking payloads along the spec -------------------------------------------------------------

Path = tuple[str | int, ...]
_PLAIN = re.compile(r"^[A-Za-z0-9_-]+$")


def json_path(path: Path) -> str:
    """``$.splits.test.perClass["a,b"]`` / ``$.classes[3]``: how an error names a field."""
    out = "$"
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _PLAIN.match(seg):
            out += f".{seg}"
        else:
            out += f"[{json.dumps(seg, ensure_ascii=False)}]"
    return out


def nodes(doc: Any, path: Path = ()) -> list[Path]:
    """Every value's path, the root included."""
    found = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += nodes(v, (*path, i))
    return found


def get_at(doc: Any, path: Path) -> Any:
    for seg in path:
        doc = doc[seg]
    return doc


def _pick(spec: Spec, value: Any) -> Spec:
    """The member of a union that ``value`` is written as."""
    if not isinstance(spec, Union):
        return spec
    for option in spec.options:
        if isinstance(option, Obj) and isinstance(value, dict):
            return option
        if isinstance(option, Num) and _is_number(value):
            return option
        if isinstance(option, Str) and isinstance(value, str):
            return option
    return spec


@dataclass(frozen=True)
class Located:
    spec: Spec          # FREE when the value is unknown to the contract (ignored)
    required: bool      # the member is a required field of its object
    is_field: bool      # a member of an object the contract describes (not a data key)


def locate(root: Spec, doc: Any, path: Path) -> Located:
    spec, required, is_field, value = root, True, False, doc
    for seg in path:
        spec = _pick(spec, value)
        if isinstance(spec, Free):
            required, is_field = False, isinstance(value, dict)
        elif isinstance(spec, Obj):
            if seg in spec.fields:
                required, spec = spec.fields[seg]  # type: ignore[index]
                is_field = True
            else:
                required, spec, is_field = False, FREE, True
        elif isinstance(spec, Map):
            required, spec, is_field = False, spec.value, False
        elif isinstance(spec, Arr):
            required, spec, is_field = False, spec.item, False
        elif isinstance(spec, Tup):
            required, spec, is_field = False, spec.items[seg], False  # type: ignore[index]
        value = value[seg]
    return Located(spec, required, is_field)  # a union stays whole: any member may be written


def ignored(root: Spec, doc: Any, path: Path) -> bool:
    """The value sits in, or is, something the normalizer does not read."""
    return any(isinstance(locate(root, doc, path[:i]).spec, Free) for i in range(len(path) + 1))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_JSON_TYPE: dict[type[Spec], type] = {
    Str: str, Bool: bool, Obj: dict, Map: dict, Arr: list, Tup: list,
}


def accepts(spec: Spec, value: Any) -> bool:
    """Whether ``value``'s JSON type (not its content) is one ``spec`` takes."""
    if value is None:
        return spec.nullable or isinstance(spec, Free)
    if isinstance(spec, Union):
        return any(accepts(o, value) for o in spec.options)
    if isinstance(spec, Num):
        ok = isinstance(value, int) if spec.kind in ("int", "count", "percent") else True
        return _is_number(value) and ok
    if isinstance(spec, Free):
        return True
    if isinstance(spec, Tup):  # a fixed-length array: a list of another length is no such tuple
        return isinstance(value, list) and len(value) == len(spec.items)
    return isinstance(value, _JSON_TYPE[type(spec)])


# -- broken payloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Broken:
    """A broken body and what the contract says must happen to it.

    ``field`` is the JSON path the ContractError must name (None when any path is fine);
    ``tolerated`` marks a mutation of an optional or unknown field, which must normalize,
    with ``doc`` the mutated payload to count rows from; ``same_rows`` when the row counts
    must even equal the unmutated payload's (the field was one the normalizer ignores).
    """

    kind: str
    path: str
    body: bytes
    doc: Any = None
    field: str | None = None
    malformed: bool = False
    tolerated: bool = False
    same_rows: bool = False


def _set(doc: Any, path: Path, value: Any) -> Any:
    doc = json.loads(json.dumps(doc))  # a deep copy that stays JSON
    if not path:
        return value
    parent = get_at(doc, path[:-1])
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: Path) -> Any:
    doc = json.loads(json.dumps(doc))
    del get_at(doc, path[:-1])[path[-1]]
    return doc


def wrong_type(value: Any) -> Any:
    """A value of another JSON type: string for number, list for object, and so on."""
    if isinstance(value, bool):
        return str(value).lower()
    if _is_number(value):
        return str(value)
    if isinstance(value, str):
        return 7
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return []  # null


def _outcome(case: Case, kind: str, path: Path, doc: Any, *, tolerated: bool,
             same_rows: bool = False) -> Broken:
    if tolerated and case.panel == "list":
        # evalId and id are each optional, but a row needs one of them (§3, legacy id).
        for i, row in enumerate(doc["evals"]):
            if not (row.get("evalId") or row.get("id")):
                return Broken(kind, json_path(path), case.body(doc), doc=doc,
                              field=f"$.evals[{i}].evalId")
    return Broken(kind, json_path(path), case.body(doc), doc=doc,
                  field=None if tolerated else json_path(path),
                  tolerated=tolerated, same_rows=same_rows)


@st.composite
def broken(draw: st.DrawFn, case: Case) -> Broken:
    doc, root = case.payload, spec_for(case)
    paths = nodes(doc)
    kinds = ["delete", "wrong_type", "null", "nan", "truncate", "negative", "semantic"]
    kind = draw(st.sampled_from(kinds))
    if kind == "delete":
        members = [p for p in paths if p and isinstance(get_at(doc, p[:-1]), dict)
                   and (locate(root, doc, p).is_field or ignored(root, doc, p[:-1]))]
        if members:
            path = draw(st.sampled_from(members))
            where = locate(root, doc, path)
            skip = ignored(root, doc, path)
            return _outcome(case, kind, path, _delete(doc, path), tolerated=not where.required,
                            same_rows=skip)
    if kind == "wrong_type":
        path = draw(st.sampled_from(paths))
        new = wrong_type(get_at(doc, path))
        skip = ignored(root, doc, path)
        ok = skip or accepts(locate(root, doc, path).spec, new)
        return _outcome(case, kind, path, _set(doc, path, new), tolerated=ok, same_rows=skip)
    if kind == "null":
        path = draw(st.sampled_from(paths))
        skip = ignored(root, doc, path)
        ok = skip or accepts(locate(root, doc, path).spec, None)
        return _outcome(case, kind, path, _set(doc, path, None), tolerated=ok, same_rows=skip)
    if kind == "negative":
        bounded = [p for p in paths if _is_number(get_at(doc, p)) and not ignored(root, doc, p)
                   and isinstance(s := locate(root, doc, p).spec, Num) and s.bounded_below]
        if bounded:
            path = draw(st.sampled_from(bounded))
            value = get_at(doc, path)
            new = -abs(value) - (1 if isinstance(value, int) else draw(st.floats(1e-9, 1e9)))
            return _outcome(case, kind, path, _set(doc, path, new), tolerated=False)
    if kind == "nan":
        numbers = [p for p in paths if _is_number(get_at(doc, p))]
        if numbers:
            path = draw(st.sampled_from(numbers))
            token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
            marker = "\u2063nan-marker\u2063"
            text = case.body(_set(doc, path, marker)).decode()
            quoted = json.dumps(marker, ensure_ascii=case.ascii_json)
            assert text.count(quoted) == 1
            return Broken(kind, json_path(path), text.replace(quoted, token).encode(),
                          field=json_path(path))
    if kind == "semantic":
        options = semantic_breaks(case)
        if options:
            label, bad, where = draw(st.sampled_from(options))
            return Broken(f"semantic:{label}", where, case.body(bad), doc=bad, field=where)
    body = case.body()
    # Half the cuts fall inside a number: "1.3" of "1.3e-107" is a number msgspec can check
    # (and refuse) before it finds the body cut, yet the body is still malformed.
    inside = [i for i in range(1, len(body))
              if body[i - 1:i].isdigit() and body[i:i + 1] in b"0123456789.eE+-"]
    if inside and draw(st.booleans()):
        cut = draw(st.sampled_from(inside))
    else:
        cut = draw(st.integers(0, len(body) - 1))
    return Broken("truncate", f"byte {cut}", body[:cut], malformed=True)


def semantic_breaks(case: Case) -> list[tuple[str, Any, str]]:
    """Well-typed payloads that still break the contract: (label, payload, field it names)."""
    doc = case.payload
    out: list[tuple[str, Any, str]] = []
    if case.panel != "list":
        out.append(("another eval", {**doc, "evalId": case.eval_id + "-other"}, "$.evalId"))
    if case.panel == "get" and doc.get("createdAt") is not None:
        out.append(("bad timestamp", {**doc, "createdAt": "27/04/2026"}, "$.createdAt"))
    if case.panel == "list" and doc["evals"]:
        first = {k: v for k, v in doc["evals"][0].items() if k not in ("evalId", "id")}
        out.append(("no id", {**doc, "evals": [first, *doc["evals"][1:]]}, "$.evals[0].evalId"))
    if case.panel == "confidence-sweep":
        out += _bad_thresholds(doc)
    if case.panel == "performance-by-class" and doc["classes"]:
        classes = [*doc["classes"], doc["classes"][0]]
        out.append(("class twice", {**doc, "classes": classes},
                    f"$.classes[{len(classes) - 1}].className"))
    if case.panel == "confusion-matrix":
        out += _bad_matrices(doc)
    if case.panel == "image-predictions":
        out += _overflowing_pairs(doc)
    if case.panel == "vector-analysis" and doc["clusters"]:
        clusters = [*doc["clusters"], doc["clusters"][0]]
        out.append(("cluster twice", {**doc, "clusters": clusters},
                    f"$.clusters[{len(clusters) - 1}].id"))
    if case.panel == "recommendations" and doc["generated"] is True:
        if doc.get("generatedAt") is not None:
            out.append(("bad timestamp", {**doc, "generatedAt": "2026-13-45"}, "$.generatedAt"))
        elif (doc["recommendations"].get("summary") or {}).get("generatedAt") is not None:
            path = ("recommendations", "summary", "generatedAt")
            out.append(("bad timestamp", _set(doc, path, "yesterday"), json_path(path)))
    return out


def _bad_thresholds(doc: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """A sweep key that is no fraction in [0, 1], or a second key for the same threshold."""
    out = []
    for split, body in doc["splits"].items():
        per = body["perThreshold"]
        if not per:
            continue
        first = next(iter(per))
        for bad in ("abc", "1.5", "-0.1", "", "0.3.4", " 0.3"):
            if bad not in per:
                renamed = {(bad if k == first else k): v for k, v in per.items()}
                out.append((f"threshold key {bad!r}",
                            _set(doc, ("splits", split, "perThreshold"), renamed),
                            json_path(("splits", split, "perThreshold", bad))))
        twin = f"{float(first):.4f}"
        if twin not in per:
            out.append(("threshold twice",
                        _set(doc, ("splits", split, "perThreshold", twin), per[first]),
                        json_path(("splits", split, "perThreshold"))))
        break
    return out


def _overflowing_pairs(doc: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """A pair listed again by the image that kept it, its counts now summing past int64."""
    kept: set[str] = set()
    for i, image in enumerate(doc["images"]):
        if image["imageId"] in kept:
            continue  # a later copy of an image is dropped, whatever its triples
        kept.add(image["imageId"])
        triples = image.get("confusion") or []
        for actual, predicted, n in triples:
            if n:
                path = ("images", i, "confusion", len(triples))
                bad = _set(doc, path[:-1], [*triples, [actual, predicted, INT64_MAX]])
                return [("pair summing past int64", bad, json_path(path))]
    return []


def _bad_matrices(doc: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """A class listed twice, a short row, one row too many."""
    n = len(doc["classes"])
    out: list[tuple[str, Any, str]] = [
        ("extra row", {**doc, "matrix": [*doc["matrix"], [0] * n]}, "$.matrix")]
    if n:
        wider = [[*row, 0] for row in doc["matrix"]] + [[0] * (n + 1)]
        out.append(("class twice",
                    {**doc, "classes": [*doc["classes"], doc["classes"][0]], "matrix": wider},
                    f"$.classes[{n}]"))
        out.append(("short row", _set(doc, ("matrix", n - 1), doc["matrix"][-1][:-1]),
                    f"$.matrix[{n - 1}]"))
    return out
