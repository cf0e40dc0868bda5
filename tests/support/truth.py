"""Ground truth for the reliability suites: what a clean run published, unit by unit.

A clean export of the same seed is the truth every faulty, interrupted or hostile run is
compared with. Rows are grouped by the fetch unit they came from (``Table.unit``), so a
test can say exactly which units a run published and that each one is whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pyarrow.parquet as pq

from etl.export import RunSummary, run_export
from etl.panels import PanelRequest
from etl.progress import Reporter
from etl.schemas import TABLES, TABLES_BY_PANEL
from etl.simulator import SimHandle
from tests.support.runs import LINEAGE_OF_A_RUN, config, table

DATA_TABLES = tuple(name for name in TABLES if name not in ("runs", "panel_status"))
UnitKey = tuple[Any, ...]
Status = tuple[str, str, str]  # eval_id, panel, params


def run(sim: SimHandle, out: Path, *, log: Path | None = None,
        api: dict[str, Any] | None = None, **crawl: Any) -> RunSummary:
    """``runs.export`` with ApiConfig overrides too (the soaks need a short read timeout)."""
    cfg = config(sim, out, **crawl)
    if api:
        cfg = replace(cfg, api=replace(cfg.api, **api))
    log = log or out.parent / f"{out.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as stream:
        return anyio.run(run_export, cfg, Reporter("json", stream))


def unit_key(name: str, request: PanelRequest) -> UnitKey:
    """The key of ``request``'s rows in table ``name`` (its ``Table.unit`` columns)."""
    values = {"eval_id": request.eval_id, "split": request.split,
              "confidence": request.confidence, "project": request.project,
              "version_id": request.version_id, "workspace": request.workspace}
    return tuple(values[c] for c in TABLES[name].unit)


def rows_by_unit(out: Path) -> dict[str, dict[UnitKey, list[tuple[Any, ...]]]]:
    """Every data table's rows (without run lineage), grouped by fetch unit, sorted."""
    grouped: dict[str, dict[UnitKey, list[tuple[Any, ...]]]] = {}
    for name in DATA_TABLES:
        data = pq.read_table(out / "tables" / name)
        keep = [c for c in data.column_names if c not in LINEAGE_OF_A_RUN]
        unit = TABLES[name].unit
        mine: dict[UnitKey, list[tuple[Any, ...]]] = {}
        for row in data.select(keep).to_pylist():
            mine.setdefault(tuple(row[c] for c in unit), []).append(tuple(row.values()))
        grouped[name] = {k: sorted(v, key=repr) for k, v in mine.items()}
    return grouped


def statuses(out: Path) -> dict[Status, dict[str, Any]]:
    """``panel_status`` rows by (eval_id, panel, params)."""
    return {(r["eval_id"], r["panel"], r["params"]): r
            for r in table(out, "panel_status").to_pylist()}


def states(out: Path) -> dict[Status, str]:
    return {k: r["state"] for k, r in statuses(out).items()}


def duplicate_grains(out: Path) -> dict[str, int]:
    """Per table, how many rows share their grain with an earlier row (all zero when sound)."""
    found = {}
    for name, spec in TABLES.items():
        rows = pq.read_table(out / "tables" / name, columns=list(spec.grain)).to_pylist()
        counts = Counter(tuple(r.values()) for r in rows)
        found[name] = sum(n - 1 for n in counts.values())
    return found


def request_of(status: Status) -> PanelRequest:
    """The unit a ``panel_status`` key names (params are ``split=..&confidence=..``, a
    version unit's ``workspace=..&project=..&version=..``)."""
    eval_id, panel, params = status
    fields = dict(p.split("=", 1) for p in params.split("&") if p)
    confidence = fields.get("confidence")
    return PanelRequest(eval_id, panel, fields.get("split"),  # type: ignore[arg-type]
                        None if confidence is None else int(confidence),
                        fields.get("project"), fields.get("version"), fields.get("workspace"))


def published_mismatches(out: Path, truth: Path) -> list[str]:
    """Where ``out`` is not "exactly the clean rows of its ok units, and nothing else".

    ``evaluations`` is special twice over: the listing gives every listed eval a row even
    when its ``get`` failed, and ``task_type`` comes from map-results at publish time.
    """
    got, want = rows_by_unit(out), rows_by_unit(truth)
    ok = [request_of(k) for k, state in states(out).items() if state == "ok"]
    problems = []
    expected_keys: dict[str, set[UnitKey]] = {name: set() for name in DATA_TABLES}
    for request in ok:
        for spec in TABLES_BY_PANEL[request.panel]:
            key = unit_key(spec.name, request)
            expected_keys[spec.name].add(key)
            mine, theirs = got[spec.name].get(key), want[spec.name].get(key)
            if spec.name == "evaluations" and mine and theirs:
                mine, theirs = _without_task_type(mine), _without_task_type(theirs)
            if mine != theirs:
                problems.append(f"{spec.name} {key}: {len(mine or [])} rows published, "
                                f"{len(theirs or [])} in the clean run, or different values")
    for name in DATA_TABLES:
        stray = set(got[name]) - expected_keys[name]
        if name == "evaluations":  # every listed eval has a row, even when its get failed
            stray -= {(eval_id,) for eval_id, _, _ in states(out)}
        if stray:
            problems.append(f"{name}: rows of units that are not ok: {sorted(stray)[:5]}")
    return problems


def _without_task_type(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    names = [c for c in TABLES["evaluations"].schema.names if c not in LINEAGE_OF_A_RUN]
    at = names.index("task_type")
    return [r[:at] + r[at + 1:] for r in rows]


def tree(root: Path, *, skip: Iterable[Path] = ()) -> dict[str, int]:
    """Every path under ``root`` (size for files, -1 for folders), minus the ``skip`` trees."""
    skipped = list(skip)
    found = {}
    for path in root.rglob("*"):
        if any(path == s or s in path.parents for s in skipped):
            continue
        found[str(path.relative_to(root))] = -1 if path.is_dir() else path.lstat().st_size
    return found
