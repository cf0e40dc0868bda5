"""The analyst views in the warehouse: ``sql/``'s intermediate and mart layers, transpiled.

The warehouse's tables are named as the DuckDB base views (``sql/1_base``), so the layers
above them run there unchanged in meaning, translated by :mod:`etl.warehouse.transpile`.
``_evals_etl_views`` records each view's fingerprint: a load whose SQL is the same as the
last one's (and whose views all still exist) touches none of them. Otherwise every view is
made again in build order: in PostgreSQL, which cannot change a view's columns in place,
the old ones are dropped first, all in one transaction; elsewhere ``create or replace``.
A view of someone else's on top of ours makes PostgreSQL refuse the drop: the load then
stops and says so, rather than dropping that view with ``cascade``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from etl import views
from etl.errors import PublishError
from etl.warehouse.target import VIEWS, Warehouse
from etl.warehouse.transpile import View, transpile_all


def sources() -> list[tuple[str, str]]:
    """``(name, DuckDB SQL)`` of every view above the base layer, in build order."""
    return [(path.stem, path.read_text(encoding="utf-8")) for path in views.sql_files()
            if path.parent.name != "1_base"]


def wanted(dialect: str, schema: str) -> list[View]:
    return transpile_all(sources(), dialect, schema)


def sync_views(wh: Warehouse) -> int:
    """Create or replace the analyst views whose SQL changed; how many were made."""
    new = wanted(wh.dialect.name, wh.schema)
    old = _recorded(wh)
    existing = wh.existing_tables() or set()
    if [(v.name, v.fingerprint) for v in new] == old and {v.name for v in new} <= existing:
        return 0
    kept = {v.name for v in new}
    # Dependents before what they read: later views first (new ones possibly left by a load
    # that died half-way without transactions, then the recorded ones).
    stale = [n for n, _ in reversed(old)]
    if not wh.dialect.replaces_views:
        _drop(wh, [v.name for v in reversed(new) if v.name not in stale] + stale)
    else:
        _drop(wh, [n for n in stale if n not in kept])
    verb = "create or replace view" if wh.dialect.replaces_views else "create view"
    for view in new:
        try:
            wh.cur.execute(f"{verb} {wh.ref(view.name)} as\n{view.select}")
        except Exception as exc:  # the driver's error: which view, then what it said
            wh.rollback()
            raise PublishError(f"cannot create view {view.name} in {wh.schema}: {exc}") from exc
    wh.cur.execute(f"delete from {wh.ref(VIEWS)}")
    now = datetime.now(UTC)
    wh.append(VIEWS, {"name": [v.name for v in new], "position": list(range(len(new))),
                      "fingerprint": [v.fingerprint for v in new],
                      "created_at": [now] * len(new)})
    wh.commit()
    return len(new)


def _recorded(wh: Warehouse) -> list[tuple[str, str]]:
    wh.cur.execute(f"select name, fingerprint from {wh.ref(VIEWS)} order by position")
    rows = [(str(name), str(fp)) for name, fp in wh.cur.fetchall()]
    wh.commit()
    return rows


def _drop(wh: Warehouse, names: list[str]) -> None:
    for name in dict.fromkeys(names):
        try:
            wh.cur.execute(f"drop view if exists {wh.ref(name)}")
        except Exception as exc:
            wh.rollback()
            raise PublishError(
                f"cannot replace view {name} in {wh.schema} ({exc}); a view or other object "
                "of yours that depends on it must be dropped first, or load into a new "
                "--schema") from exc
