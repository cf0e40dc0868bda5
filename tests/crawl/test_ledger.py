"""Every way a unit can end maps to one documented state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.crawl import ledger
from etl.errors import BadRequestError, ContractError, NotDoneError, NotFoundError, TransientError
from etl.panels import PanelRequest
from etl.schemas import TABLES

UNIT = PanelRequest("e1", "confusion-matrix", "test", 50)


@pytest.mark.parametrize(("error", "state"), [
    (NotFoundError("p", status=404, code="report_not_found"), "not_materialized"),
    (NotFoundError("p", status=404, code="model_eval_not_found"), "unavailable"),
    (NotDoneError("p", status=409, code="model_eval_not_done"), "unavailable"),
    (TransientError("p", status=503), "unavailable"),
    (BadRequestError("p", status=400, code="invalid_split"), "error"),
    (ContractError("confusion-matrix", "matrix", "not square"), "error"),
])
def test_errors_map_to_states(error: Exception, state: str) -> None:
    outcome = ledger.from_error(UNIT, error, attempts=2, requests=1)
    assert outcome.state == state
    assert "e1" in (outcome.message or "")


def test_contract_errors_name_eval_panel_and_field() -> None:
    outcome = ledger.from_error(UNIT, ContractError("confusion-matrix", "$.matrix", "bad"), 1, 1)
    assert outcome.message is not None
    assert all(word in outcome.message for word in ("e1", "confusion-matrix", "$.matrix"))
    assert outcome.error_code == "contract_error"


def test_outcomes_batch_has_the_panel_status_schema() -> None:
    batch = ledger.outcomes_batch(
        [ledger.ok(UNIT, 1, 1), ledger.not_done(PanelRequest("e2", "map-results"), "running")],
        "ws", "r1", datetime(2026, 1, 1, tzinfo=UTC))
    assert batch.schema == TABLES["panel_status"].schema
    assert batch.column("params").to_pylist() == ["split=test&confidence=50", ""]
    assert batch.column("state").to_pylist() == ["ok", "not_done"]
