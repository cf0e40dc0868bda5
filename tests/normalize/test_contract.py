"""What holds for every panel: schemas, a batch per table, lineage, tolerance and errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from etl.errors import ContractError
from etl.normalize import PANELS, contract_error
from etl.panels import PANELS as PANEL_NAMES
from etl.schemas import TABLES, TABLES_BY_PANEL, TIMESTAMP
from normalize.support import EVAL_ID, FETCHED_AT, PAYLOADS, payload, run

# (panel, payload file, split requested, confidence requested)
EXAMPLES = [
    ("get", "get_done", None, None),
    ("get", "get_running", None, None),
    ("map-results", "map_results_od", None, None),
    ("map-results", "map_results_semseg", None, None),
    ("confidence-sweep", "confidence_sweep", None, None),
    ("performance-by-class", "performance_by_class_od", "test", None),
    ("performance-by-class", "performance_by_class_semseg", "test", None),
    ("confusion-matrix", "confusion_matrix", "test", 50),
    ("vector-analysis", "vector_analysis", None, None),
    ("image-predictions", "image_predictions", "test", 20),
    ("recommendations", "recommendations", None, None),
    ("recommendations", "recommendations_not_generated", None, None),
]
IDS = [e[1] for e in EXAMPLES]


def eval_for(name: str) -> str:
    return "fNyWx6PC74rCc18IuZ3M" if name == "get_running" else EVAL_ID


def test_every_panel_has_a_codec() -> None:
    assert set(PANELS) == set(PANEL_NAMES)


@pytest.mark.parametrize(("panel", "name", "split", "confidence"), EXAMPLES, ids=IDS)
def test_a_batch_per_table_in_exactly_its_schema(panel, name, split, confidence):
    out = run(panel, payload(name), split, confidence, eval_id=eval_for(name))
    assert set(out) == {t.name for t in TABLES_BY_PANEL[panel]}
    for table, batch in out.items():
        assert isinstance(batch, pa.RecordBatch)
        assert batch.schema.equals(TABLES[table].schema, check_metadata=True), table


@pytest.mark.parametrize(("panel", "name", "split", "confidence"), EXAMPLES, ids=IDS)
def test_lineage_comes_from_the_context(panel, name, split, confidence):
    out = run(panel, payload(name), split, confidence, eval_id=eval_for(name))
    for batch in out.values():
        for row in batch.select(["workspace", "eval_id", "run_id", "fetched_at"]).to_pylist():
            assert row == {"workspace": "acme", "eval_id": eval_for(name), "run_id": "run-1",
                           "fetched_at": FETCHED_AT}


@pytest.mark.parametrize(("panel", "name", "split", "confidence"), EXAMPLES, ids=IDS)
def test_rows_are_unique_by_grain(panel, name, split, confidence):
    out = run(panel, payload(name), split, confidence, eval_id=eval_for(name))
    for table, batch in out.items():
        keys = [tuple(r[c] for c in TABLES[table].grain) for r in batch.to_pylist()]
        assert len(keys) == len(set(keys)), table


# Objects whose keys are data (split, class and threshold names, free-form parameters,
# recommendation items kept whole), where an extra key is not an "unknown field".
DATA_KEYS = {"splits", "perClass", "perThreshold", "parameters", "items"}


def with_unknown_fields(value: Any, parent: str | None = None) -> Any:
    if isinstance(value, dict):
        out = {k: with_unknown_fields(v, k) for k, v in value.items()}
        if parent not in DATA_KEYS:
            out["zzFutureField"] = {"nested": [1, "two", None], "n": 3.5}
        return out
    if isinstance(value, list):
        return [with_unknown_fields(v, parent) for v in value]
    return value


@pytest.mark.parametrize(("panel", "name", "split", "confidence"), EXAMPLES, ids=IDS)
def test_unknown_fields_at_every_level_are_ignored(panel, name, split, confidence):
    plain = run(panel, payload(name), split, confidence, eval_id=eval_for(name))
    noisy = run(panel, with_unknown_fields(payload(name)), split, confidence,
                eval_id=eval_for(name))
    assert {k: v.to_pylist() for k, v in noisy.items()} == {
        k: v.to_pylist() for k, v in plain.items()
    }


@pytest.mark.parametrize(("panel", "name", "split", "confidence"), EXAMPLES, ids=IDS)
@pytest.mark.parametrize("body", [b'{"splits": {', b"<html>502 Bad Gateway</html>", b""])
def test_malformed_json_is_a_contract_error_at_the_root(panel, name, split, confidence, body):
    with pytest.raises(ContractError) as caught:
        run(panel, body, split, confidence)
    err = caught.value
    assert (err.panel, err.field, err.eval_id) == (panel, "$", EVAL_ID)
    assert err.problem.startswith("malformed JSON: ")
    assert EVAL_ID in str(err) and panel in str(err)


@pytest.mark.parametrize("panel", sorted(PANEL_NAMES))
@pytest.mark.parametrize("body", [b"[]", b'"text"', b"3", b"null"])
def test_a_top_level_that_is_not_an_object_is_a_contract_error(panel, body):
    with pytest.raises(ContractError) as caught:
        run(panel, body, "test")
    assert caught.value.field == "$"
    assert not caught.value.problem.startswith("malformed")


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


DELETE = object()

# (panel, payload, path, expected field): each required field, removed.
REQUIRED = [
    ("get", "get_done", ("status",), "$.status"),
    ("map-results", "map_results_od", ("splits",), "$.splits"),
    ("confidence-sweep", "confidence_sweep", ("splits",), "$.splits"),
    ("confidence-sweep", "confidence_sweep", ("splits", "test", "perThreshold"),
     "$.splits.test.perThreshold"),
    ("confidence-sweep", "confidence_sweep",
     ("splits", "test", "perClass", "Car-rims", "perThreshold"),
     "$.splits.test.perClass.Car-rims.perThreshold"),
    ("performance-by-class", "performance_by_class_od", ("classes",), "$.classes"),
    ("performance-by-class", "performance_by_class_od", ("classes", 1, "className"),
     "$.classes[1].className"),
    ("confusion-matrix", "confusion_matrix", ("classes",), "$.classes"),
    ("confusion-matrix", "confusion_matrix", ("matrix",), "$.matrix"),
    ("vector-analysis", "vector_analysis", ("clusters",), "$.clusters"),
    ("vector-analysis", "vector_analysis", ("clusters", 1, "id"), "$.clusters[1].id"),
    ("image-predictions", "image_predictions", ("images",), "$.images"),
    ("image-predictions", "image_predictions", ("totalImages",), "$.totalImages"),
    ("image-predictions", "image_predictions", ("images", 2, "imageId"), "$.images[2].imageId"),
    ("recommendations", "recommendations", ("generated",), "$.generated"),
    ("recommendations", "recommendations", ("recommendations",), "$.recommendations"),
    ("recommendations", "recommendations", ("recommendations", "items", 1, "type"),
     "$.recommendations.items[1].type"),
]


@pytest.mark.parametrize(("panel", "name", "path", "field"), REQUIRED, ids=[r[3] for r in REQUIRED])
def test_a_missing_required_field_names_panel_field_and_eval(panel, name, path,
                                                              field):
    with pytest.raises(ContractError) as caught:
        run(panel, set_at(payload(name), path, DELETE), "test")
    err = caught.value
    assert (err.panel, err.field, err.eval_id) == (panel, field, EVAL_ID)
    assert "missing" in err.problem
    assert f"'{EVAL_ID}'" in str(err) and f"'{panel}'" in str(err) and field in str(err)


# (panel, payload, path, bad value, expected field): a wrong type at each level.
WRONG = [
    ("get", "get_done", ("status",), 3, "$.status"),
    ("get", "get_done", ("summary",), [0.9], "$.summary"),
    ("get", "get_done", ("summary", "mAP"), "0.92", "$.summary.mAP"),
    ("get", "get_done", ("createdAt",), 1714248250, "$.createdAt"),
    ("map-results", "map_results_od", ("splits",), [], "$.splits"),
    ("map-results", "map_results_od", ("splits", "test"), 0.9, "$.splits.test"),
    ("map-results", "map_results_od", ("splits", "valid", "map50"), True, "$.splits.valid.map50"),
    ("map-results", "map_results_od", ("splits", "test", "byObjectSize", "small", "map75"), "x",
     "$.splits.test.byObjectSize.small.map75"),
    ("map-results", "map_results_od", ("splits", "test", "perClass", "Car-rims", "map50"), {},
     "$.splits.test.perClass.Car-rims.map50"),
    ("map-results", "map_results_od", ("taskType",), 1, "$.taskType"),
    ("confidence-sweep", "confidence_sweep", ("splits", "test", "perThreshold", "0.37", "f1"),
     "0.85", "$.splits.test.perThreshold[\"0.37\"].f1"),
    ("confidence-sweep", "confidence_sweep", ("splits", "test", "optimalThreshold"), 37,
     "$.splits.test.optimalThreshold"),
    ("performance-by-class", "performance_by_class_od", ("classes", 0), "Car-rims",
     "$.classes[0]"),
    ("performance-by-class", "performance_by_class_od", ("classes", 1, "className"), 7,
     "$.classes[1].className"),
    ("performance-by-class", "performance_by_class_semseg", ("classes", 0, "classID"), 1.5,
     "$.classes[0].classID"),
    ("confusion-matrix", "confusion_matrix", ("matrix", 2, 0), 80.5, "$.matrix[2][0]"),
    ("confusion-matrix", "confusion_matrix", ("matrix", 1, 1), -1, "$.matrix[1][1]"),
    ("confusion-matrix", "confusion_matrix", ("matrix", 0, 0), 2**63, "$.matrix[0][0]"),
    ("confusion-matrix", "confusion_matrix", ("classes", 0), None, "$.classes[0]"),
    ("confusion-matrix", "confusion_matrix", ("confidenceThreshold",), 20,
     "$.confidenceThreshold"),
    ("vector-analysis", "vector_analysis", ("clusters", 0, "numImages"), 15.5,
     "$.clusters[0].numImages"),
    ("vector-analysis", "vector_analysis", ("clusters", 0, "splitDistribution", "valid"), "2",
     "$.clusters[0].splitDistribution.valid"),
    ("vector-analysis", "vector_analysis", ("clusters", 1, "sampleImages"), "a.jpg",
     "$.clusters[1].sampleImages"),
    ("vector-analysis", "vector_analysis", ("clustering", "nClusters"), 54.2,
     "$.clustering.nClusters"),
    ("image-predictions", "image_predictions", ("totalImages",), "192", "$.totalImages"),
    ("image-predictions", "image_predictions", ("images", 0, "stats", "truePositives"), 2.5,
     "$.images[0].stats.truePositives"),
    ("image-predictions", "image_predictions", ("images", 0, "cluster"), "4",
     "$.images[0].cluster"),
    ("image-predictions", "image_predictions", ("images", 0, "cluster", "embedding2D"), [1.0],
     "$.images[0].cluster.embedding2D"),
    ("image-predictions", "image_predictions", ("images", 0, "confusion", 1), [2, 0],
     "$.images[0].confusion[1]"),
    ("recommendations", "recommendations", ("generated",), "yes", "$.generated"),
    ("recommendations", "recommendations", ("recommendations", "summary", "confidenceThreshold"),
     0.37, "$.recommendations.summary.confidenceThreshold"),
    ("recommendations", "recommendations", ("recommendations", "summary", "confidenceThreshold"),
     137, "$.recommendations.summary.confidenceThreshold"),
    ("recommendations", "recommendations", ("recommendations", "items", 0), "missed_detection",
     "$.recommendations.items[0]"),
    ("recommendations", "recommendations", ("recommendations", "items", 2, "type"), 5,
     "$.recommendations.items[2].type"),
]


@pytest.mark.parametrize(("panel", "name", "path", "value", "field"), WRONG,
                         ids=[f"{w[4]}={w[3]!r}" for w in WRONG])
def test_a_wrong_type_names_the_field(panel, name, path, value, field):
    with pytest.raises(ContractError) as caught:
        run(panel, set_at(payload(name), path, value), "test")
    err = caught.value
    assert (err.panel, err.field, err.eval_id) == (panel, field, EVAL_ID), str(err)
    assert not err.problem.startswith("malformed")


# (panel, payload, JSON text that replaces a number, expected field)
NON_FINITE = [
    ("get", "get_done", '"precision": 0.85', '"precision": NaN', "$.summary.precision"),
    ("map-results", "map_results_od", '"map50": 0.9038189533239035', '"map50": Infinity',
     "$.splits.test.byObjectSize.small.map50"),
    ("confidence-sweep", "confidence_sweep", '"f1": 0.605', '"f1": -Infinity',
     '$.splits.test.perThreshold["0.20"].f1'),
    ("vector-analysis", "vector_analysis", '"minDistance": 0.05', '"minDistance": NaN',
     "$.preprocessing.minDistance"),
    ("image-predictions", "image_predictions", '"recall": 0.5', '"recall": NaN',
     "$.images[1].stats.recall"),
    ("image-predictions", "image_predictions", '"precision": 0.222', '"precision": 1e999',
     "$.images[0].stats.precision"),
]


@pytest.mark.parametrize(("panel", "name", "old", "new", "field"), NON_FINITE,
                         ids=[n[3] for n in NON_FINITE])
def test_nan_and_infinity_are_contract_errors_at_their_field(panel, name, old, new, field):
    text = (PAYLOADS / f"{name}.json").read_text()
    assert old in text
    body = text.replace(old, new, 1).encode()
    with pytest.raises(ContractError) as caught:
        run(panel, body, "test", eval_id=eval_for(name))
    err = caught.value
    assert (err.panel, err.field) == (panel, field), str(err)
    assert not err.problem.startswith("malformed")


def test_all_null_columns_keep_their_declared_type() -> None:
    out = run("recommendations", {"generated": False})
    summary = out["recommendation_summary"]
    assert summary.schema.field("generated_at").type == TIMESTAMP
    assert summary.column("generated_at").null_count == 1
    assert summary.schema.field("confidence_pct").type == pa.int64()
    assert out["recommendations"].num_rows == 0
    assert out["recommendations"].schema == TABLES["recommendations"].schema


def test_zero_row_batches_keep_the_schema() -> None:
    out = run("image-predictions", {"totalImages": 0, "images": []}, "test")
    for table, batch in out.items():
        assert batch.num_rows == 0 and batch.schema.equals(TABLES[table].schema, True)


def test_contract_error_translates_msgspec_errors() -> None:
    shape = msgspec.ValidationError("Expected `int`, got `str` - at `$.matrix[0][1]`")
    err = contract_error("confusion-matrix", shape, "e1")
    assert (err.panel, err.field, err.problem, err.eval_id) == (
        "confusion-matrix", "$.matrix[0][1]", "Expected `int`, got `str`", "e1")
    missing = msgspec.ValidationError(
        "Object missing required field `className` - at `$.classes[3]`")
    assert contract_error("performance-by-class", missing, "e1").field == "$.classes[3].className"
    top = msgspec.ValidationError("Object missing required field `splits`")
    assert contract_error("map-results", top, None).field == "$.splits"
    bad = msgspec.DecodeError("Input data was truncated")
    err = contract_error("get", bad, "e1")
    assert (err.field, err.problem) == ("$", "malformed JSON: Input data was truncated")


def test_a_panel_payload_for_another_eval_is_refused() -> None:
    body = payload("vector_analysis")
    with pytest.raises(ContractError) as caught:
        run("vector-analysis", body, eval_id="someOtherEval0000000")
    assert caught.value.field == "$.evalId"


def test_header_fields_are_optional_everywhere() -> None:
    body = payload("vector_analysis")
    for key in ("evalId", "project", "versionId", "modelId"):
        del body[key]
    assert run("vector-analysis", body)["vector_clusters"].num_rows == 2


def test_payload_json_files_are_valid_json() -> None:
    for path in PAYLOADS.glob("*.json"):
        json.loads(path.read_text())
