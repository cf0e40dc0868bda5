"""The analyst views in PostgreSQL: created by ``load`` from sql/ (transpiled), equal to
DuckDB's, recreated only when their SQL changes, and never dropped over a view of yours."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from etl import views
from etl.errors import PublishError
from etl.warehouse import marts
from tests.support.runs import export, simulator

pytestmark = pytest.mark.postgres
MARTS = [name for name, _ in marts.sources()]


def _norm(value: Any) -> Any:
    """A value both engines agree on: floats to 12 significant digits (sums may add in
    another order), integers however typed, instants in UTC, lists as tuples."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, (float, Decimal)):
        value = float(value)
        return repr(value) if not math.isfinite(value) else float(f"{value:.12g}")
    if isinstance(value, datetime):
        return ("ts", value.astimezone(UTC).isoformat())
    if isinstance(value, list):
        return tuple(_norm(v) for v in value)
    return value


def canonical(table: pa.Table, json_columns: set[str]) -> list[tuple[Any, ...]]:
    columns = []
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if "type_name=numeric" in str(table.schema.field(name).type):  # ADBC: numeric as text
            values = [None if v is None else Decimal(v) for v in values]
        if name in json_columns:  # jsonb spells a document its own way: compare documents
            values = [None if v is None else json.dumps(json.loads(v), sort_keys=True)
                      for v in values]
        columns.append([_norm(v) for v in values])
    return list(zip(*columns, strict=True)) if columns else []


def checksums(rows: list[tuple[Any, ...]], names: list[str]) -> dict[str, str]:
    """Per column, an order-independent digest of its values."""
    return {name: hashlib.md5("\n".join(sorted(repr(r[i]) for r in rows)).encode()).hexdigest()
            for i, name in enumerate(names)}


def duckdb_marts(out: Path) -> dict[str, tuple[pa.Table, set[str]]]:
    with views.connect(out / "evals.duckdb") as con:
        found = {}
        for name in MARTS:
            json_columns = {c for (c,) in con.execute(
                "select column_name from duckdb_columns() where table_name = ? "
                "and data_type = 'JSON'", [name]).fetchall()}
            found[name] = (con.sql(f'select * from "{name}"').to_arrow_table(), json_columns)
    return found


def test_every_mart_in_postgresql_equals_duckdb(env: Any) -> None:
    with simulator(seed=11, evals=14, running_rate=0.1, failed_rate=0.05,
                   missing_panel_rate=0) as sim:
        export(sim, env.out)
    result = env.load()
    assert result.views == len(MARTS)

    empty = []
    for name, (want, json_columns) in duckdb_marts(env.out).items():
        got = env.pg.arrow(f'select * from "{env.schema}"."{name}"')
        assert got.column_names == want.column_names, name
        assert got.num_rows == want.num_rows, name
        got_rows, want_rows = canonical(got, json_columns), canonical(want, json_columns)
        assert checksums(got_rows, got.column_names) == checksums(want_rows, want.column_names), name
        assert Counter(got_rows) == Counter(want_rows), name
        empty += [name] if want.num_rows == 0 else []
    assert empty == []  # every view was compared on rows, not on nothing
    ((absent, pixels),) = env.pg.rows(  # the semantics 0.2 fixed are in the data
        "select count(*) filter (where not has_instances), "
        "count(*) filter (where count_unit = 'pixels') "
        f'from "{env.schema}".class_leaderboard')
    assert absent > 0 and pixels > 0
    assert env.pg.rows(f'select count(*) > 0 from "{env.schema}".int_clusters_compared '
                       "where is_noise") == [(True,)]

    again = env.load()
    assert again.noop and again.views == 0  # same SQL: not one view touched


def test_the_json_column_is_jsonb_and_the_tolerance_a_setting(env: Any) -> None:
    with simulator(seed=3, evals=6, running_rate=0, failed_rate=0, missing_panel_rate=0) as sim:
        export(sim, env.out)
    env.load()
    s = env.schema
    (kind,) = env.pg.rows("select data_type from information_schema.columns where "
                          f"table_schema = '{s}' and table_name = 'recommendation_items' "
                          "and column_name = 'details'")
    assert kind == ("jsonb",)
    assert env.pg.rows(f'select count(*) from "{s}".recommendation_items '
                       "where details->>'type' = type")[0][0] > 0
    assert {r[0] for r in env.pg.rows(f'select tolerance from "{s}".version_trends')} == {0.01}
    env.pg.execute("set evals_etl.regression_tolerance = '0.25'")
    assert {r[0] for r in env.pg.rows(f'select tolerance from "{s}".version_trends')} == {0.25}
    env.pg.execute("reset evals_etl.regression_tolerance")  # '' after a reset: the default
    assert {r[0] for r in env.pg.rows(f'select tolerance from "{s}".version_trends')} == {0.01}


def test_changed_sql_replaces_the_views_but_not_over_a_view_of_yours(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    s = env.schema
    forget = f'update "{s}"._evals_etl_views set fingerprint = \'older sql\''
    env.pg.execute(forget)
    assert env.load().views == len(MARTS)  # changed SQL: all made again, in one transaction

    env.pg.execute(f'create view "{s}".mine as select eval_id from "{s}".eval_overview', forget)
    with pytest.raises(PublishError, match="depends on it must be dropped first"):
        env.load()
    assert env.pg.rows(f'select count(*) from "{s}".mine') == [(1,)]  # still there
    assert env.pg.rows(f'select count(*) from "{s}".eval_overview') == [(1,)]

    env.pg.execute(f'drop view "{s}".mine')
    assert env.load().views == len(MARTS)


def test_a_view_dropped_by_hand_is_made_again(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    env.pg.execute(f'drop view "{env.schema}".weak_clusters')
    assert env.load().views == len(MARTS)
    assert env.pg.rows(f'select count(*) from "{env.schema}".weak_clusters') == [(1,)]
