"""A version panel's unit (compare) in the ledger: named by its version, journaled whole."""

from __future__ import annotations

from etl.crawl import ledger
from etl.errors import ContractError, NotFoundError
from etl.panels import PanelRequest

UNIT = PanelRequest.of_version("compare", "chess", "3")


def test_messages_name_the_project_version_not_an_empty_eval() -> None:
    gone = NotFoundError("acme/model-evals/compare", params=UNIT.query(), status=404,
                         code="project_not_found", message="Project 'chess' not found")
    outcome = ledger.from_error(UNIT, gone, 1, 1)
    assert outcome.state == "not_materialized"  # no comparison to read: not a partial run
    assert outcome.message is not None and outcome.message.startswith(
        "project 'chess' version '3', panel 'compare'")
    broken = ledger.from_error(UNIT, ContractError("compare", "$.models", "missing"), 1, 1)
    assert broken.state == "error" and "project 'chess' version '3'" in str(broken.message)
    assert "eval ''" not in str(broken.message)


def test_the_journal_record_keeps_the_scope() -> None:
    outcome = ledger.ok(UNIT, 1, 1)
    assert ledger.from_record(ledger.to_record(outcome)) == outcome
    older = {k: v for k, v in ledger.to_record(ledger.ok(PanelRequest("e", "get"), 1, 1)).items()
             if k not in ("project", "version_id")}  # a journal written before compare
    assert ledger.from_record(older).request == PanelRequest("e", "get")


def test_an_archived_compare_answer_names_its_unit_again() -> None:
    query = "&".join(f"{k}={v}" for k, v in sorted(UNIT.query().items()))
    assert PanelRequest.from_query("", "compare", None, None, query) == UNIT
    assert PanelRequest.from_query("e", "get", None, None, "") == PanelRequest("e", "get")
