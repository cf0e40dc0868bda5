"""The list, get and workspace endpoints → ``evaluations`` rows, listings and project infos.

Legacy keys the official SDK still tolerates (``id`` for ``evalId``, ``projectId`` for
``project``) are accepted; ``versionId`` is accepted as a number too. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import msgspec
import pyarrow as pa

from etl.errors import ContractError
from etl.normalize._common import (
    Batches,
    Count,
    FetchContext,
    PanelCodec,
    assemble,
    build,
    lineage_columns,
    parse_timestamp,
)
from etl.normalize._decode import contract_error, decoder
from etl.panels import EvalListing
from etl.timestamps import iso_utc

APP_URL = "https://app.roboflow.com/{workspace}/{project}/evaluation/{version}"


class _EvalRow(msgspec.Struct):
    status: str
    evalId: str | None = None
    id: str | None = None
    project: str | None = None
    projectId: str | None = None
    versionId: str | int | None = None
    modelId: str | None = None
    modelUrl: str | None = None
    createdAt: str | None = None


class _Summary(msgspec.Struct):
    mAP: float | None = None
    mIoU: float | None = None
    precision: float | None = None
    recall: float | None = None


class EvalBody(_EvalRow):
    """The get payload: a list row plus ``summary`` (absent while running or after failure)."""

    summary: _Summary | None = None


class _Project(msgspec.Struct):
    id: str
    versions: Count = 0
    type: str | None = None


class _WorkspaceInner(msgspec.Struct):
    projects: list[_Project] = []


class _WorkspaceBody(msgspec.Struct):
    workspace: _WorkspaceInner


@dataclass(frozen=True)
class ProjectInfo:
    """One project of ``GET /{workspace}``: the slug the ``project`` filter takes."""

    slug: str
    versions: int
    type: str | None


_decode_workspace = decoder(_WorkspaceBody)
decode_get = decoder(EvalBody)


@dataclass(frozen=True)
class ListPage:
    """One answer of the list endpoint: the rows that decoded, and why the others did not.

    ``rows`` counts every row sent, good or bad: a page of exactly ``limit`` rows may be
    truncated whatever its rows hold. One bad row costs its eval, not the listing.
    """

    evals: list[EvalListing]
    rows: int
    problems: list[ContractError]


class _ListRows(msgspec.Struct):
    evals: list[msgspec.Raw]


_decode_list_rows = decoder(_ListRows)
_decode_row = decoder(_EvalRow)


def decode_listing(body: bytes) -> ListPage:
    """The list endpoint's rows, each decoded on its own (see :class:`ListPage`).

    ``created_at`` is canonical UTC text (``2026-04-27T20:04:10.904Z``) whatever the offset
    the API wrote, so listings of different runs compare equal when the time is equal.
    """
    try:
        rows = _decode_list_rows(body).evals
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise contract_error("list", exc) from None
    listings: list[EvalListing] = []
    problems: list[ContractError] = []
    for i, raw in enumerate(rows):
        where = f"$.evals[{i}]"
        try:
            row = _decode_row(raw)
            eval_id = row.evalId or row.id
            if not eval_id:
                raise ContractError("list", f"{where}.evalId",
                                    "required field is missing (nor legacy id)")
            listings.append(_listing(row, eval_id, "list", where)[0])
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            error = contract_error("list", exc)
            problems.append(ContractError("list", where + error.field[1:], error.problem))
        except ContractError as exc:
            problems.append(exc)
    return ListPage(listings, len(rows), problems)


def _listing(
    row: _EvalRow, eval_id: str, panel: str, where: str
) -> tuple[EvalListing, datetime | None]:
    """The row as a listing, and its createdAt as read (the listing holds canonical text)."""
    created = None
    if row.createdAt is not None:
        created = parse_timestamp(row.createdAt, panel, f"{where}.createdAt", eval_id)
    listing = EvalListing(
        eval_id=eval_id,
        status=row.status,
        project=row.project if row.project is not None else row.projectId,
        version_id=None if row.versionId is None else str(row.versionId),
        model_id=row.modelId,
        created_at=None if created is None else iso_utc(created),
        model_url=row.modelUrl,
    )
    return listing, created


def listing_batch(
    listings: Iterable[EvalListing], workspace: str, run_id: str, fetched_at: datetime
) -> pa.RecordBatch:
    """``evaluations`` rows from list rows only: no summary, ``listed`` true; one per eval id."""
    unique = {item.eval_id: item for item in reversed(list(listings))}  # first one wins
    rows = [unique[k] for k in sorted(unique)]
    n = len(rows)
    created = [
        None if r.created_at is None
        else parse_timestamp(r.created_at, "list", "createdAt", r.eval_id)
        for r in rows
    ]
    columns = _listing_columns(rows, created, workspace)
    columns.update(lineage_columns(workspace, [r.eval_id for r in rows], run_id, fetched_at, n))
    return assemble("evaluations", n, columns, sort=False)


def _listing_columns(
    rows: Sequence[EvalListing], created: Sequence[datetime | None], workspace: str
) -> dict[str, list[object]]:
    return {
        "status": [r.status for r in rows],
        "project": [r.project for r in rows],
        "version_id": [r.version_id for r in rows],
        "model_id": [r.model_id for r in rows],
        "model_url": [r.model_url for r in rows],
        "created_at": list(created),
        "app_url": [app_url(workspace, r.project, r.version_id) for r in rows],
        "listed": [True] * len(rows),
    }


def app_url(workspace: str, project: str | None, version_id: str | None) -> str | None:
    """Deep link to the evaluation page, when the project and version are known."""
    if not project or not version_id:
        return None
    # Each part is one path segment: a slug holding "/" or ".." must not move the link.
    return APP_URL.format(workspace=quote(workspace, safe=""), project=quote(project, safe=""),
                          version=quote(version_id, safe=""))


def normalize_get(body: EvalBody, ctx: FetchContext) -> Batches:
    """The get payload → one ``evaluations`` row (``task_type`` is merged in at publish)."""
    payload_id = body.evalId or body.id
    if payload_id is not None and payload_id != ctx.eval_id:
        raise ContractError(
            "get", "$.evalId", f"payload is for eval {payload_id!r}, not the one requested",
            ctx.eval_id,
        )
    listing, created = _listing(body, ctx.eval_id, "get", "$")
    s = body.summary or _Summary()
    columns: dict[str, list[object]] = {
        **_listing_columns([listing], [created], ctx.workspace),
        "map": [s.mAP],
        "miou": [s.mIoU],
        "precision": [s.precision],
        "recall": [s.recall],
    }
    return {"evaluations": build("evaluations", ctx, 1, columns)}


def decode_workspace(body: bytes) -> list[ProjectInfo]:
    """``GET /{workspace}`` → its projects; the slug is the part of ``id`` after ``/``."""
    try:
        projects = _decode_workspace(body).workspace.projects
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise contract_error("workspace", exc) from None
    return [ProjectInfo(p.id.split("/", 1)[-1], p.versions, p.type) for p in projects]


CODEC = PanelCodec(decode_get, normalize_get)
