"""Properties of every normalizer, over random payloads (strategies in ``strategies.py``).

Valid payloads: ``normalize_body`` succeeds, every table of the panel comes back in exactly
its schema, row counts equal what the payload implies and key values round-trip (class
names byte-exact, sweep keys as ``float(key)``, percents as fractions). The expectations are
computed here from the payload dict, never by calling a normalizer.

Broken payloads (derived from valid ones): a ContractError that names the panel, the eval and
the field, and never another exception type; or, where the mutation only touched an optional
or unknown field, a normal result whose row counts are what the mutated payload implies
(and, for an unknown field, what the original implied): never a row dropped in silence.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from etl.errors import ContractError
from etl.normalize import (
    FetchContext,
    decode_listing,
    decode_page,
    listing_batch,
    normalize_body,
    normalize_page,
)
from etl.panels import PanelRequest
from etl.schemas import TABLES, TABLES_BY_PANEL
from normalize.strategies import MAPS, VALID, Broken, Case, broken
from normalize.support import FETCHED_AT, rows, run

VALID_EXAMPLES = 40
BROKEN_EXAMPLES = 80
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
OD = "object-detection-like"
SIZES = ("small", "medium", "large")


def normalize(case: Case, body: bytes) -> dict[str, Any]:
    """Table name -> batch; the listing body also gives its decoded rows as "listings".

    A bad listing row costs its own eval, not the listing: it comes back as a problem, which
    is raised here so that it is held to the same standard as a panel's ContractError.
    """
    if case.panel == "list":
        page = decode_listing(body)
        # Every row sent is accounted for: decoded, or a problem that says why not.
        assert page.rows == len(json.loads(body)["evals"])
        assert page.rows == len(page.evals) + len(page.problems)
        if page.problems:
            raise page.problems[0]
        batch = listing_batch(page.evals, "acme", "run-1", FETCHED_AT)
        return {"evaluations": batch, "listings": page.evals}
    panel: Any = case.panel  # a Panel literal, drawn at run time
    request = PanelRequest(case.eval_id, panel, case.split, case.confidence)
    return normalize_body(FetchContext("acme", "run-1", FETCHED_AT, request), body)


def counts(out: dict[str, Any]) -> dict[str, int]:
    return {k: len(v) if isinstance(v, list) else v.num_rows for k, v in out.items()}


def check_schemas(case: Case, out: dict[str, Any]) -> None:
    tables = {"evaluations"} if case.panel == "list" else {
        t.name for t in TABLES_BY_PANEL[case.panel]}
    assert set(out) - {"listings"} == tables
    for name in tables:
        batch = out[name]
        assert isinstance(batch, pa.RecordBatch)
        assert batch.schema.equals(TABLES[name].schema, check_metadata=True), name
        if case.panel != "list":
            assert set(batch.column("eval_id").to_pylist()) <= {case.eval_id}


def utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def name_bytes(value: str | None) -> bytes | None:
    """Class names compared as UTF-8 bytes: byte-exact, not merely equal-looking."""
    return None if value is None else value.encode()


# -- what a payload implies ----------------------------------------------------------------------


def map_entity_rows(split: str, name: str | None, m: dict[str, Any]) -> list[tuple[Any, ...]]:
    # An entity with no mAP field at all (a semseg class) has no size row; one whose mAPs
    # are all null (a class without instances) still has its `all` row, as a null class has.
    found = []
    if any(k in m for k in (*MAPS, "byObjectSize")):
        found.append((split, name_bytes(name), "all", *(m.get(k) for k in MAPS)))
    buckets = m.get("byObjectSize")
    if buckets is not None:
        for size in SIZES:
            bucket = buckets.get(size) or {}
            found.append((split, name_bytes(name), size, *(bucket.get(k) for k in MAPS)))
    return found


def map_size_rows(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    found = []
    for split, s in doc["splits"].items():
        found += map_entity_rows(split, None, s)
        for name, c in (s.get("perClass") or {}).items():
            found += ([(split, name_bytes(name), "all", None, None, None)] if c is None
                      else map_entity_rows(split, name, c))
    return found


def sweep_entities(doc: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any]]]:
    found: list[tuple[str, str | None, dict[str, Any]]] = []
    for split, s in doc["splits"].items():
        found.append((split, None, s))
        found += [(split, n, c) for n, c in (s.get("perClass") or {}).items() if c is not None]
    return found


def has_optimum(sweep: dict[str, Any]) -> bool:
    return sweep.get("optimalThreshold") is not None or sweep.get("optimalMetrics") is not None


def kept_images(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """§17: an image id seen twice is kept once (the first)."""
    seen: dict[str, dict[str, Any]] = {}
    for image in doc["images"]:
        seen.setdefault(image["imageId"], image)
    return list(seen.values())


def image_confusion(doc: dict[str, Any]) -> dict[tuple[Any, ...], int]:
    """Triples of kept images; a pair listed twice by one image is one row, counts summed."""
    totals: dict[tuple[Any, ...], int] = {}
    for image in kept_images(doc):
        for actual, predicted, n in image.get("confusion") or []:
            key = (image["imageId"], actual, predicted)
            totals[key] = totals.get(key, 0) + n  # zero counts are rows too
    return totals


def implied_counts(case: Case, doc: Any) -> dict[str, int]:
    """Row counts per table that ``doc`` implies, read off the payload alone."""
    panel = case.panel
    if panel == "list":
        evals = doc["evals"]
        return {"listings": len(evals),
                "evaluations": len({r.get("evalId") or r.get("id") for r in evals})}
    if panel == "get":
        return {"evaluations": 1}
    if panel == "map-results":
        return {"split_metrics": len(doc["splits"]), "size_metrics": len(map_size_rows(doc))}
    if panel == "confidence-sweep":
        entities = sweep_entities(doc)
        return {"confidence_sweep": sum(len(e[2]["perThreshold"]) for e in entities),
                "optimal_thresholds": sum(has_optimum(e[2]) for e in entities)}
    if panel == "performance-by-class":
        return {"class_metrics": len(doc["classes"])}
    if panel == "confusion-matrix":
        return {"confusion_matrix": len(doc["classes"]) ** 2}
    if panel == "vector-analysis":
        return {"vector_analysis": 1, "vector_clusters": len(doc["clusters"])}
    if panel == "image-predictions":
        return {"image_predictions": len(kept_images(doc)),
                "image_confusion": len(image_confusion(doc))}
    assert panel == "recommendations"
    items = ((doc.get("recommendations") or {}).get("items") or []) if doc["generated"] else []
    return {"recommendation_summary": 1, "recommendations": len(items)}


# -- what must round-trip ------------------------------------------------------------------------


def check_get(case: Case, out: dict[str, Any]) -> None:
    doc, (row,) = case.payload, out["evaluations"].to_pylist()
    summary = doc.get("summary") or {}
    project = doc.get("project") if doc.get("project") is not None else doc.get("projectId")
    version = doc.get("versionId")
    assert row == {**row, "eval_id": case.eval_id, "status": doc["status"], "project": project,
                   "version_id": None if version is None else str(version),
                   "model_id": doc.get("modelId"), "model_url": doc.get("modelUrl"),
                   "created_at": utc(doc.get("createdAt")), "map": summary.get("mAP"),
                   "miou": summary.get("mIoU"), "precision": summary.get("precision"),
                   "recall": summary.get("recall"), "listed": True}


def check_map_results(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    task = doc.get("taskType") or OD
    expected = [
        (split, task, *(s.get(k) for k in MAPS),
         s.get("mIoU") if s.get("mIoU") is not None else s.get("miou"),
         s.get("precision"), s.get("recall"), s.get("f1"))
        for split, s in doc["splits"].items()
    ]
    assert Counter(rows(out["split_metrics"])) == Counter(expected)
    got = [(r[0], name_bytes(r[1]), *r[2:]) for r in rows(out["size_metrics"])]
    assert Counter(got) == Counter(map_size_rows(doc))


def check_confidence_sweep(case: Case, out: dict[str, Any]) -> None:
    entities = sweep_entities(case.payload)
    sweep = [
        (split, name_bytes(name), float(key), m.get("precision"), m.get("recall"), m.get("f1"))
        for split, name, e in entities for key, m in e["perThreshold"].items()
    ]
    got = [(r[0], name_bytes(r[1]), *r[2:]) for r in rows(out["confidence_sweep"])]
    assert Counter(got) == Counter(sweep)
    optimal = [
        (split, name_bytes(name), e.get("optimalThreshold"),
         *((e.get("optimalMetrics") or {}).get(k) for k in ("precision", "recall", "f1")))
        for split, name, e in entities if has_optimum(e)
    ]
    got = [(r[0], name_bytes(r[1]), *r[2:]) for r in rows(out["optimal_thresholds"])]
    assert Counter(got) == Counter(optimal)


def check_performance_by_class(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    task = doc.get("taskType") or OD
    expected = [
        (case.split, name_bytes(c["className"]), task, c.get("classID"),
         *(c.get(k) for k in (*MAPS, "iou", "precision", "recall", "f1", "optimalThreshold")))
        for c in doc["classes"]
    ]
    got = [(r[0], name_bytes(r[1]), *r[2:]) for r in rows(out["class_metrics"])]
    assert Counter(got) == Counter(expected)


def check_confusion_matrix(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    classes, n = doc["classes"], len(doc["classes"])
    expected = [
        (case.split, case.confidence, name_bytes(classes[a]), name_bytes(classes[p]),
         doc.get("confidenceThreshold"), a, p, doc["matrix"][a][p])
        for a in range(n) for p in range(n)
    ]
    got = [(*r[:2], name_bytes(r[2]), name_bytes(r[3]), *r[4:])
           for r in rows(out["confusion_matrix"])]
    assert got == expected  # the matrix's own order, every cell, zeros included


def check_vector_analysis(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    clustering = doc.get("clustering") or {}
    pre = doc.get("preprocessing") or {}
    (header,) = out["vector_analysis"].to_pylist()
    params = header.pop("clustering_parameters")
    assert (None if params is None else json.loads(params)) == clustering.get("parameters")
    assert header == {**header, "confidence": case.confidence,
                      "clustering_method": clustering.get("method"),
                      "n_clusters": clustering.get("nClusters"),
                      "noise_ratio": (clustering.get("metrics") or {}).get("noiseRatio"),
                      "processing_time_seconds": clustering.get("processingTimeSeconds"),
                      "preprocessing_method": pre.get("method"),
                      "original_dimensions": pre.get("originalDimensions"),
                      "min_distance": pre.get("minDistance")}
    expected = []
    for c in doc["clusters"]:
        dist = c.get("splitDistribution") or {}
        met = c.get("metrics") or {}
        expected.append((case.confidence, c["id"], c.get("numImages"),
                         *(dist.get(s, 0) for s in ("train", "valid", "test")),
                         *(met.get(k) for k in ("f1Mean", "f1Std", "f1Min", "f1Max",
                                                "precisionMean", "recallMean")),
                         c.get("sampleImages")))
    got = rows(out["vector_clusters"])
    assert sorted(got, key=lambda r: r[1]) == sorted(expected, key=lambda r: r[1])


def check_image_predictions(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    requested = case.split or doc.get("split")
    fallback = None if requested == "all" else requested
    expected = []
    for im in kept_images(doc):
        cluster = im.get("cluster")
        if isinstance(cluster, int):
            cluster = {"id": cluster}
        cluster = cluster or {}
        embedding = cluster.get("embedding2D") or (None, None)
        stats = im.get("stats") or {}
        expected.append((
            case.confidence, im["imageId"], doc.get("confidenceThreshold"), im.get("imageName"),
            im.get("split") or fallback, im.get("augmentations"), cluster.get("id"), *embedding,
            *(stats.get(k) for k in ("truePositives", "falsePositives", "falseNegatives",
                                     "precision", "recall", "f1")),
        ))
    assert Counter(rows(out["image_predictions"])) == Counter(expected)
    got = {(r[1], r[2], r[3]): r[4] for r in rows(out["image_confusion"])}
    assert got == image_confusion(doc)
    assert set(rows(out["image_confusion"], "confidence")) <= {(case.confidence,)}


def check_recommendations(case: Case, out: dict[str, Any]) -> None:
    doc = case.payload
    (summary,) = out["recommendation_summary"].to_pylist()
    if not doc["generated"]:
        assert summary["generated"] is False
        assert {k: v for k, v in summary.items() if v is not None} == {
            "generated": False, "workspace": "acme", "eval_id": case.eval_id,
            "run_id": "run-1", "fetched_at": FETCHED_AT}
        return
    body = doc["recommendations"]
    s = body.get("summary") or {}
    items = body.get("items") or []
    pct = s.get("confidenceThreshold")
    stamp = doc.get("generatedAt") if doc.get("generatedAt") is not None else s.get("generatedAt")
    assert summary == {**summary, "generated": True, "generated_at": utc(stamp),
                       "confidence_threshold": None if pct is None else pct / 100,
                       "confidence_pct": pct, "split": s.get("split"),
                       "item_count": s["count"] if s.get("count") is not None else len(items),
                       "f1": s.get("f1"), "precision": s.get("precision"),
                       "recall": s.get("recall")}
    got = [(r["item_index"], r["type"], json.loads(r["details"]))
           for r in out["recommendations"].to_pylist()]
    assert got == [(i, item["type"], item) for i, item in enumerate(items)]


def check_list(case: Case, out: dict[str, Any]) -> None:
    evals = case.payload["evals"]
    listings = out["listings"]
    for row, listing in zip(evals, listings, strict=True):
        project = row.get("project") if row.get("project") is not None else row.get("projectId")
        version = row.get("versionId")
        assert (listing.eval_id, listing.status, listing.project, listing.version_id,
                listing.model_id, listing.model_url) == (
            row.get("evalId") or row.get("id"), row["status"], project,
            None if version is None else str(version), row.get("modelId"), row.get("modelUrl"))
        assert utc(listing.created_at) == utc(row.get("createdAt"))
    ids = out["evaluations"].column("eval_id").to_pylist()
    assert ids == sorted({x.eval_id for x in listings})  # one row per eval, first one wins


CHECKS = {
    "get": check_get, "map-results": check_map_results,
    "confidence-sweep": check_confidence_sweep,
    "performance-by-class": check_performance_by_class,
    "confusion-matrix": check_confusion_matrix, "vector-analysis": check_vector_analysis,
    "image-predictions": check_image_predictions, "recommendations": check_recommendations,
    "list": check_list,
}

# -- the properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VALID))
@settings(PROPERTY, max_examples=VALID_EXAMPLES)
@given(data=st.data())
def test_valid_payloads_normalize_row_for_row(name: str, data: st.DataObject) -> None:
    case = data.draw(VALID[name], label="case")
    out = normalize(case, case.body())
    check_schemas(case, out)
    assert counts(out) == implied_counts(case, case.payload)
    CHECKS[case.panel](case, out)


@pytest.mark.parametrize("name", list(VALID))
@settings(PROPERTY, max_examples=BROKEN_EXAMPLES)
@given(data=st.data())
def test_broken_payloads_fail_clearly_or_lose_no_row(name: str, data: st.DataObject) -> None:
    case = data.draw(VALID[name], label="case")
    bad = data.draw(broken(case), label="broken")
    event(f"{bad.kind}: {'tolerated' if bad.tolerated else 'error'}")
    try:
        out = normalize(case, bad.body)
    except ContractError as err:
        assert not bad.tolerated, f"{bad.kind} at {bad.path} must be tolerated, got: {err}"
        check_error(case, bad, err)
        return
    assert bad.tolerated, f"{bad.kind} at {bad.path} was accepted"
    check_schemas(case, out)
    assert counts(out) == implied_counts(case, bad.doc)
    if bad.same_rows:
        assert counts(out) == implied_counts(case, case.payload)


@settings(PROPERTY, max_examples=VALID_EXAMPLES)
@given(case=VALID["image-predictions"], cuts=st.lists(st.integers(0, 12), max_size=3))
def test_image_pages_of_one_eval_keep_each_image_once(case: Case, cuts: list[int]) -> None:
    """Pages cut anywhere (overlapping ids included) add up to the eval's distinct images."""
    images = case.payload["images"]
    bounds = sorted({0, len(images), *(min(c, len(images)) for c in cuts)})
    seen: set[str] = set()
    got: list[str] = []
    request = PanelRequest(case.eval_id, "image-predictions", case.split, case.confidence)
    ctx = FetchContext("acme", "run-1", FETCHED_AT, request)
    for start, end in pairwise(bounds):
        body = {**case.payload, "images": images[start:end], "offset": start}
        page = decode_page(case.body(body))
        assert page.total_images == case.payload["totalImages"]
        out = normalize_page(page, ctx, seen)
        check_schemas(case, out)
        got += out["image_predictions"].column("image_id").to_pylist()
    assert sorted(got) == sorted(im["imageId"] for im in kept_images(case.payload))
    assert seen == set(got)


def check_error(case: Case, bad: Broken, err: ContractError) -> None:
    panel = case.panel
    assert err.panel == panel
    if panel != "list":  # a listing error names the row's eval when it has one
        assert err.eval_id == case.eval_id
        assert repr(case.eval_id) in str(err)
    assert repr(panel) in str(err) and repr(err.field) in str(err)
    if bad.malformed:
        assert err.field == "$" and err.problem.startswith("malformed JSON: "), str(err)
    else:
        assert err.field == bad.field, f"{bad.kind} at {bad.path}: {err}"
        assert not err.problem.startswith("malformed"), str(err)


# -- bugs the properties found, each pinned by its minimal payload --------------------------------


def test_repeated_pairs_summing_past_int64_are_a_contract_error() -> None:
    body = {"totalImages": 2, "images": [
        {"imageId": "a", "confusion": [[1, 3, 5]]},
        {"imageId": "b", "confusion": [[1, 3, 2**63 - 1], [0, 0, 0], [1, 3, 1]]}]}
    with pytest.raises(ContractError) as caught:
        run("image-predictions", body, "test")
    assert caught.value.field == "$.images[1].confusion[2]"
    assert caught.value.eval_id is not None
    # Summing up to the bound exactly is still a count.
    body["images"][1]["confusion"][2] = [1, 3, 0]
    out = run("image-predictions", body, "test")["image_confusion"]
    assert (2**63 - 1,) in rows(out, "count")


def test_a_backtick_in_a_key_keeps_the_field_path() -> None:
    body = {"splits": {"test": {"perClass": {"a`b": {"map50": "x"}}}}}
    with pytest.raises(ContractError) as caught:
        run("map-results", body)
    assert caught.value.field == '$.splits.test.perClass["a`b"].map50'


def test_a_class_with_null_maps_keeps_its_all_row() -> None:
    # A class without instances in the split: its mAPs are null (as in performance-by-class).
    # Sent as a null entry, with null figures or with one null figure: one `all` row of NULLs.
    nulls = {"map50": None, "map50_95": None, "map75": None}
    for entry in (None, nulls, {"map50": None}, {"byObjectSize": None}):
        body = {"splits": {"test": {"perClass": {"ghost": entry}}}}
        got = rows(run("map-results", body)["size_metrics"], "class_name", "object_size", "map50")
        assert got == [("ghost", "all", None)], entry


@pytest.mark.parametrize(("text", "moment"), [
    ("9999-12-31T23:59:59.999-05:00", None),  # after 9999 in UTC: a clear error, not a crash
    ("0001-01-01T00:00:00.000+01:00", None),  # before year 1 in UTC
    ("0001-01-01T00:00:00.000Z", datetime(1, 1, 1, tzinfo=UTC)),
    ("0999-06-30T12:00:00.000-05:00", datetime(999, 6, 30, 17, tzinfo=UTC)),
    ("9999-12-31T23:59:59.999Z", datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
])
def test_timestamps_at_the_edges_of_the_calendar_are_read(
    text: str, moment: datetime | None,
) -> None:
    body = {"status": "done", "createdAt": text}
    if moment is None:
        with pytest.raises(ContractError) as caught:
            run("get", body)
        assert (caught.value.panel, caught.value.field) == ("get", "$.createdAt")
    else:
        (row,) = run("get", body)["evaluations"].to_pylist()
        assert row["created_at"] == moment
        # The listing keeps canonical text that reads back as the same instant.
        page = decode_listing(json.dumps({"evals": [{**body, "evalId": "e"}]}).encode())
        assert not page.problems
        assert page.evals[0].created_at == moment.isoformat(timespec="milliseconds")[:-6] + "Z"
        (listed,) = listing_batch(page.evals, "acme", "run-1", FETCHED_AT).to_pylist()
        assert listed["created_at"] == moment


def test_a_body_cut_inside_a_number_is_malformed() -> None:
    # The whole body ended "optimalThreshold": 1.3499948571719674e-107}]}; cut after "1.3".
    body = b'{"classes": [{"className": "a", "optimalThreshold": 1.3'
    with pytest.raises(ContractError) as caught:
        run("performance-by-class", body, "test")
    assert caught.value.field == "$" and caught.value.problem.startswith("malformed JSON: ")


def test_a_complete_body_with_a_bad_value_before_a_nan_is_not_malformed() -> None:
    # msgspec stops at the bad value; the NaN after it makes the body no strict JSON, yet the
    # body is whole: retrying it cannot help, so it stays a value problem.
    body = b'{"classes": [{"className": "a", "optimalThreshold": 1.5, "iou": NaN}]}'
    with pytest.raises(ContractError) as caught:
        run("performance-by-class", body, "test")
    assert caught.value.field == "$.classes[0].optimalThreshold"
    assert not caught.value.problem.startswith("malformed")
