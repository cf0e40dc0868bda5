"""How each panel unit ended: the mapping from answers and errors to ``panel_status`` states. Pure.

Every planned unit gets exactly one :class:`Outcome`, so "nothing lost" can be checked by
counting: a unit is either ``ok`` (its rows are in the tables) or has a row saying why not.

==================  ====================================================================
state               when
==================  ====================================================================
ok                  fetched and normalized
not_done            the eval is running or failed: no panel call was made (api-contract §17)
unavailable         worth another try on the next run: a done eval's panel kept answering
                    409, the eval vanished (404 model_eval_not_found), or transient failures
                    outlasted the attempt cap
not_materialized    404 report_not_found: that confidence variant was never computed; or
                    a 404 from compare: that version has no comparison to read (the project
                    went, or the server has no compare route: §9.5 is SDK-only)
error               will fail the same way again until something changes: 400, or a payload
                    that breaks the contract
==================  ====================================================================

A unit the run did not finish (the ``--deadline`` came, the run was interrupted or stopped
because the API was down) was *not attempted*: its outcome says so (``attempted`` false), and
it keeps the state and rows it had. Only a unit with no state yet is recorded, as
``unavailable`` with the code ``not_attempted``, so that every planned unit has a row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from etl import redact
from etl.errors import ApiError, BadRequestError, ContractError, NotFoundError
from etl.panels import VERSION_PANELS, PanelRequest, State
from etl.schemas import TABLES


@dataclass(frozen=True)
class Outcome:
    request: PanelRequest
    state: State
    http_status: int | None = None
    error_code: str | None = None
    message: str | None = None
    attempts: int = 0
    requests: int = 0
    attempted: bool = True  # False: the run never finished it; it keeps its previous state


def ok(request: PanelRequest, attempts: int, requests: int) -> Outcome:
    return Outcome(request, "ok", 200, None, None, attempts, requests)


def not_done(request: PanelRequest, status: str) -> Outcome:
    return Outcome(request, "not_done", None, "model_eval_not_done",
                   f"eval {request.eval_id!r} is {status}; panels are fetched once it is done")


def not_attempted(request: PanelRequest, why: str) -> Outcome:
    """A unit the run did not finish (deadline, interruption, retry budget): retried next run."""
    return Outcome(request, "unavailable", None, "not_attempted", why, attempted=False)


def from_error(request: PanelRequest, exc: Exception, attempts: int, requests: int) -> Outcome:
    """The outcome of a unit that ended in ``exc``."""
    if isinstance(exc, ContractError):
        error = exc if exc.eval_id else exc.with_eval(request.eval_id)
        text = str(error)
        if request.panel in VERSION_PANELS and request.label not in text:
            text = f"{request.label}: {text}"  # no eval to name: name the version
        # Field paths can be payload keys: whatever the server put there is redacted too.
        return Outcome(request, "error", 200, "contract_error", redact.text(text),
                       attempts, requests)
    if not isinstance(exc, ApiError):
        raise TypeError(f"not an API outcome: {type(exc).__name__}") from exc
    attempts = max(attempts, exc.attempts)
    message = redact.text(f"{request.label}, panel {request.panel!r}: {exc}")
    state: State
    if isinstance(exc, NotFoundError) and (exc.code == "report_not_found"
                                           or request.panel in VERSION_PANELS):
        state = "not_materialized"
    elif isinstance(exc, BadRequestError):
        state = "error"
    else:  # 409 past its budget, a vanished eval, transient failures past the attempt cap
        state = "unavailable"
    return Outcome(request, state, exc.status, exc.code, message, attempts, requests)


def to_record(outcome: Outcome) -> dict[str, Any]:
    """An outcome as plain JSON values, for the checkpoint journal."""
    r = outcome.request
    return {"eval_id": r.eval_id, "panel": r.panel, "split": r.split,
            "confidence": r.confidence, "project": r.project, "version_id": r.version_id,
            "workspace": r.workspace, "state": outcome.state,
            "http_status": outcome.http_status, "error_code": outcome.error_code,
            "message": outcome.message, "attempts": outcome.attempts,
            "requests": outcome.requests}


def from_record(record: Mapping[str, Any]) -> Outcome:
    request = PanelRequest(record["eval_id"], record["panel"], record["split"],
                           record["confidence"], record.get("project"),
                           record.get("version_id"),  # absent in journals before compare
                           record.get("workspace"))
    return Outcome(request, record["state"], record["http_status"], record["error_code"],
                   record["message"], record["attempts"], record["requests"])


def outcomes_batch(
    outcomes: Sequence[Outcome], workspace: str, run_id: str, fetched_at: datetime
) -> pa.RecordBatch:
    """``panel_status`` rows for ``outcomes``."""
    n = len(outcomes)
    columns = {
        "workspace": [workspace] * n,
        "eval_id": [o.request.eval_id for o in outcomes],
        "run_id": [run_id] * n,
        "fetched_at": [fetched_at] * n,
        "panel": [o.request.panel for o in outcomes],
        "params": [o.request.params for o in outcomes],
        "state": [o.state for o in outcomes],
        "http_status": [o.http_status for o in outcomes],
        "error_code": [o.error_code for o in outcomes],
        "message": [o.message for o in outcomes],
        "attempts": [o.attempts for o in outcomes],
        "requests": [o.requests for o in outcomes],
    }
    schema = TABLES["panel_status"].schema
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in schema],
                                      schema=schema)
