"""list, get and workspace → evaluations rows, listings and project infos."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.errors import ContractError
from etl.normalize import decode_listing, decode_workspace, listing_batch, parse_timestamp
from etl.panels import EvalListing
from etl.schemas import TABLES
from normalize.support import FETCHED_AT, PAYLOADS, encode, payload, run


def test_get_of_a_done_eval_is_one_row_with_its_summary() -> None:
    (row,) = run("get", payload("get_done"))["evaluations"].to_pylist()
    assert row == {
        "workspace": "acme", "eval_id": "huUF720inUcymARwqAGK", "run_id": "run-1",
        "fetched_at": FETCHED_AT, "status": "done", "project": "chess-pieces-fmhpz",
        "version_id": "4", "model_id": None, "model_url": None,
        "created_at": datetime(2026, 4, 27, 20, 4, 10, 904000, tzinfo=UTC),
        "task_type": None, "map": 0.9239650566041828, "miou": None, "precision": 0.85,
        "recall": 0.85,
        "app_url": "https://app.roboflow.com/acme/chess-pieces-fmhpz/evaluation/4",
        "listed": True,
    }


@pytest.mark.parametrize("status", ["running", "failed"])
def test_get_without_summary_has_null_metrics(status: str) -> None:
    body = {**payload("get_running"), "status": status}
    (row,) = run("get", body, eval_id="fNyWx6PC74rCc18IuZ3M")["evaluations"].to_pylist()
    assert row["status"] == status
    assert [row[k] for k in ("map", "miou", "precision", "recall")] == [None] * 4


def test_get_semseg_summary_keeps_miou() -> None:
    body = {**payload("get_done"),
            "summary": {"mAP": None, "mIoU": 0.71, "precision": 0.8, "recall": 0.77}}
    (row,) = run("get", body)["evaluations"].to_pylist()
    assert (row["map"], row["miou"]) == (None, 0.71)


def test_get_tolerates_legacy_keys_and_numeric_version() -> None:
    body = {"id": "huUF720inUcymARwqAGK", "status": "done", "projectId": "chess",
            "versionId": 4, "modelUrl": "chess/4", "createdAt": "2026-04-27T20:04:10Z"}
    (row,) = run("get", body)["evaluations"].to_pylist()
    assert (row["project"], row["version_id"], row["model_url"]) == ("chess", "4", "chess/4")


def test_get_of_a_deleted_project_has_no_app_url() -> None:
    body = {**payload("get_done"), "project": None}
    (row,) = run("get", body)["evaluations"].to_pylist()
    assert row["project"] is None and row["app_url"] is None


def test_get_with_only_the_status_is_enough() -> None:
    (row,) = run("get", {"status": "done"})["evaluations"].to_pylist()
    assert row["eval_id"] == "huUF720inUcymARwqAGK" and row["created_at"] is None


def test_get_for_another_eval_is_refused() -> None:
    with pytest.raises(ContractError) as caught:
        run("get", payload("get_done"), eval_id="fNyWx6PC74rCc18IuZ3M")
    assert (caught.value.panel, caught.value.field) == ("get", "$.evalId")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-04-27T20:04:10.904Z", datetime(2026, 4, 27, 20, 4, 10, 904000, tzinfo=UTC)),
    ("2026-04-27T22:04:10.904+02:00", datetime(2026, 4, 27, 20, 4, 10, 904000, tzinfo=UTC)),
    ("2026-04-27T15:04:10-05:00", datetime(2026, 4, 27, 20, 4, 10, tzinfo=UTC)),
    ("2026-04-27T20:04:10.904", datetime(2026, 4, 27, 20, 4, 10, 904000, tzinfo=UTC)),
    ("2026-04-27T20:04:10.904567Z", datetime(2026, 4, 27, 20, 4, 10, 904567, tzinfo=UTC)),
])
def test_timestamps_become_utc(text: str, expected: datetime) -> None:
    assert parse_timestamp(text, "get", "$.createdAt") == expected
    (row,) = run("get", {"status": "done", "createdAt": text})["evaluations"].to_pylist()
    assert row["created_at"] == expected.replace(microsecond=expected.microsecond // 1000 * 1000)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "27/04/2026 20:04"])
def test_an_unparsable_timestamp_is_a_contract_error(text: str) -> None:
    with pytest.raises(ContractError) as caught:
        run("get", {"status": "done", "createdAt": text})
    assert (caught.value.panel, caught.value.field) == ("get", "$.createdAt")
    assert caught.value.eval_id == "huUF720inUcymARwqAGK"


def test_decode_listing_reads_current_and_legacy_rows() -> None:
    listings = decode_listing((PAYLOADS / "list.json").read_bytes()).evals
    assert listings == [
        EvalListing("huUF720inUcymARwqAGK", "done", "chess-pieces-fmhpz", "4", None,
                    "2026-04-27T20:04:10.904Z"),
        EvalListing("fNyWx6PC74rCc18IuZ3M", "running", "hard-hat-detection", "1",
                    "Z9HwYHqrpMMoCtmAo4pO", "2026-03-19T21:02:07.918Z", "hard-hat-detection/1"),
        EvalListing("legacyEvalId00000001", "failed", "Xq3FirestoreDocId", "7", None,
                    "2026-01-02T03:04:05.006Z"),
        EvalListing("deletedProject000001", "done", None, "2", None,
                    "2025-12-31T23:59:59.999Z"),
    ]


def test_decode_listing_of_an_empty_workspace() -> None:
    page = decode_listing(b'{"evals": []}')
    assert (page.evals, page.rows, page.problems) == ([], 0, [])


def test_a_list_entry_without_an_id_costs_only_that_row() -> None:
    body = payload("list")
    del body["evals"][2]["id"]
    page = decode_listing(encode(body))
    assert page.rows == len(body["evals"]) and len(page.evals) == page.rows - 1
    [problem] = page.problems
    assert (problem.panel, problem.field) == ("list", "$.evals[2].evalId")


@pytest.mark.parametrize(("body", "field"), [
    (b'{"evals": [{"evalId": "a", "status": 3}, {"evalId": "b", "status": "done"}]}',
     "$.evals[0].status"),
    ((b'{"evals": [{"evalId": "b", "status": "done"}, '
      b'{"evalId": "a", "status": "done", "createdAt": "soon"}]}'), "$.evals[1].createdAt"),
])
def test_a_bad_row_is_reported_with_its_field_and_the_rest_kept(body: bytes, field: str) -> None:
    page = decode_listing(body)
    assert [e.eval_id for e in page.evals] == ["b"] and page.rows == 2
    assert [(p.panel, p.field) for p in page.problems] == [("list", field)]


@pytest.mark.parametrize(("body", "field"), [
    (b'{"evals": {"evalId": "a"}}', "$.evals"),
    (b"{}", "$.evals"),
    (b"[]", "$"),
])
def test_listing_shape_errors_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_listing(body)
    assert (caught.value.panel, caught.value.field) == ("list", field)


def test_a_truncated_listing_is_malformed_json() -> None:
    with pytest.raises(ContractError) as caught:
        decode_listing(b'{"evals": [{"evalId": "a", "sta')
    assert caught.value.field == "$" and caught.value.problem.startswith("malformed JSON: ")


def test_listing_batch_is_evaluations_rows_without_summary() -> None:
    listings = decode_listing((PAYLOADS / "list.json").read_bytes()).evals
    batch = listing_batch(listings + listings[:1], "acme", "run-9", FETCHED_AT)
    assert batch.schema.equals(TABLES["evaluations"].schema, check_metadata=True)
    table = batch.to_pylist()
    assert [r["eval_id"] for r in table] == sorted(x.eval_id for x in listings)
    assert all(r["listed"] is True and r["run_id"] == "run-9" for r in table)
    assert all(r[k] is None for r in table for k in ("map", "miou", "precision", "recall",
                                                     "task_type"))
    by_id = {r["eval_id"]: r for r in table}
    assert by_id["fNyWx6PC74rCc18IuZ3M"]["created_at"] == datetime(2026, 3, 19, 21, 2, 7, 918000,
                                                                   tzinfo=UTC)
    assert by_id["deletedProject000001"]["app_url"] is None
    assert by_id["huUF720inUcymARwqAGK"]["app_url"] == (
        "https://app.roboflow.com/acme/chess-pieces-fmhpz/evaluation/4")


def test_listing_batch_of_nothing_is_an_empty_typed_batch() -> None:
    batch = listing_batch([], "acme", "run-9", FETCHED_AT)
    assert batch.num_rows == 0 and batch.schema == TABLES["evaluations"].schema


def test_decode_workspace_gives_project_slugs() -> None:
    projects = decode_workspace((PAYLOADS / "workspace.json").read_bytes())
    assert [(p.slug, p.versions, p.type) for p in projects] == [
        ("chess-sample-4ckfl", 3, "object-detection"), ("roads", 1, "semantic-segmentation")]


def test_decode_workspace_errors_are_contract_errors() -> None:
    with pytest.raises(ContractError) as caught:
        decode_workspace(b'{"workspace": {"projects": [{"id": "ws/a", "versions": "3"}]}}')
    assert (caught.value.panel, caught.value.field) == ("workspace",
                                                        "$.workspace.projects[0].versions")
