"""compare → model_comparison: the documented shape, metric columns, and bad payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from etl.errors import ContractError
from etl.normalize import FetchContext, normalize_body
from etl.panels import PanelRequest

CTX = FetchContext("ws", "r1", datetime(2026, 1, 1, tzinfo=UTC),
                   PanelRequest.of_version("compare", "chess", "131"))
# The SDK tests' example (api-contract §9.5), plus a model the frontier leaves out.
BODY = {
    "project": "chess", "version": "131", "frontierMetric": "mAP5095",
    "availableMetrics": ["mAP", "mAP5095"],
    "models": [
        {"modelId": "ws/chess-fast", "evaluationId": "eval-fast", "metrics": {"mAP": 0},
         "medianLatencyMs": 0, "onFrontier": True, "exclusionReason": None},
        {"modelId": "ws/chess-big", "metrics": {"mAP": 0.9, "mAP5095": 0.7, "new": 1.5},
         "medianLatencyMs": None, "onFrontier": False,
         "exclusionReason": "latency_unavailable"},
    ],
}


def rows(body: object) -> list[dict[str, object]]:
    batch = normalize_body(CTX, json.dumps(body).encode())["model_comparison"]
    return list(batch.to_pylist())


def test_the_documented_example_becomes_one_row_per_model() -> None:
    big, fast = rows(BODY)  # sorted by grain: model_id
    assert (fast["eval_id"], fast["project"], fast["version_id"], fast["model_id"]) == (
        "eval-fast", "chess", "131", "ws/chess-fast")
    assert fast["map50"] == 0.0 and fast["map50_95"] is None and fast["on_frontier"] is True
    assert fast["frontier_metric"] == "mAP5095" and fast["available_metrics"] == ["mAP", "mAP5095"]
    assert big["eval_id"] == "" and big["median_latency_ms"] is None
    assert big["exclusion_reason"] == "latency_unavailable" and big["map50_95"] == 0.7
    assert json.loads(str(big["metrics"])) == {"mAP": 0.9, "mAP5095": 0.7, "new": 1.5}


def test_a_null_frontier_metric_and_no_models_are_valid() -> None:
    assert rows({**BODY, "frontierMetric": None, "models": []}) == []
    assert rows({"models": BODY["models"]})[0]["frontier_metric"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({**BODY, "project": "other"}, "$.project"),
    ({**BODY, "version": 7}, "$.version"),
    ({**BODY, "models": [BODY["models"][0]] * 2}, "$.models[1].modelId"),  # type: ignore[index]
    ({"project": "chess"}, "$.models"),
    ({**BODY, "models": [{"evaluationId": "x"}]}, "$.models[0].modelId"),
])
def test_a_payload_that_breaks_the_contract_names_the_field(body: object, field: str) -> None:
    with pytest.raises(ContractError) as caught:
        rows(body)
    assert caught.value.field == field and caught.value.panel == "compare"
