"""The schema-version table: additive migration of an older warehouse, a clear stop otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from etl import schemas, warehouse
from etl.errors import ConfigError
from etl.warehouse.dialects import POSTGRESQL

pytestmark = pytest.mark.postgres


def pretend_older(env: Any, *statements: str) -> None:
    """Turn the loaded warehouse into one an older evals-etl would have left: no analyst
    views (so its tables can be changed under them), then ``statements``."""
    views = f'"{env.schema}"._evals_etl_views'
    names = [name for (name,) in env.pg.rows(f"select name from {views} order by position desc")]
    env.pg.execute(*(f'drop view "{env.schema}"."{name}"' for name in names),
                   f"drop table {views}")
    env.pg.execute(*statements, f'update "{env.schema}"._evals_etl_schema set version = 1')


def versions(env: Any) -> list[int]:
    return [v for (v,) in env.pg.rows(f'select version from "{env.schema}"._evals_etl_schema '
                                      "order by applied_at")]


def test_an_older_warehouse_gets_the_new_columns_and_their_values(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1)}))
    env.load()
    pretend_older(env, f'alter table "{env.schema}".class_metrics drop column f1',
                  f'alter table "{env.schema}".runs drop column errors')
    untouched = env.xmins("split_metrics")

    result = env.load()

    assert result.migrated == ("added columns class_metrics.f1, runs.errors",)
    assert result.replaced == 2 + 1  # the two tables that gained a column are reloaded
    assert env.xmins("split_metrics") == untouched
    assert versions(env) == [1, warehouse.SCHEMA_VERSION]
    env.assert_matches_views()
    assert env.load().noop


def test_a_dropped_table_is_recreated_and_reloaded(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    pretend_older(env, f'drop table "{env.schema}".vector_clusters')
    result = env.load()
    assert result.migrated == ("created 1 tables",) and result.replaced == 1
    env.assert_matches_views()


@pytest.mark.parametrize(("statement", "message"), [
    ("alter table {s}.class_metrics alter column map50 type text",
     r"class_metrics\.map50 is string in the warehouse but double in this evals-etl"),
    ("alter table {s}.evaluations add column from_the_future bigint",
     r"evaluations\.from_the_future exists in the warehouse but not in this evals-etl"),
])
def test_a_change_that_is_not_additive_stops_with_a_clear_message(env: Any, statement: str,
                                                                   message: str) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    pretend_older(env, statement.format(s=f'"{env.schema}"'))
    env.pg.execute(f'alter table "{env.schema}".runs drop column errors')
    before = env.xmins("evaluations")

    with pytest.raises(ConfigError, match=message) as caught:
        env.load()

    assert "load into a new --schema" in str(caught.value)
    assert versions(env) == [1]  # nothing applied, not even the additive part
    assert "errors" not in env.pg.arrow(f'select * from "{env.schema}".runs').column_names
    assert env.xmins("evaluations") == before


@pytest.mark.parametrize("nulls_not_distinct", [True, False], ids=["pg15", "before-pg15"])
def test_the_grain_index_treats_null_as_one_value(env: Any, nulls_not_distinct: bool) -> None:
    dialect = replace(POSTGRESQL, nulls_not_distinct=nulls_not_distinct)
    table = schemas.TABLES["optimal_thresholds"]
    env.pg.execute(f'create schema "{env.schema}"',
                   *dialect.create_table(env.schema, table.name, table.schema, table.grain))
    insert = (f'insert into "{env.schema}".optimal_thresholds (workspace, eval_id, run_id, '
              "fetched_at, split, class_name) values ('ws', 'e1', 'r1', now(), 'test', {})")
    env.pg.execute(insert.format("null"), insert.format("''"), insert.format("'cat'"))
    for duplicate in ("null", "''", "'cat'"):
        with pytest.raises(Exception, match="duplicate key"):
            env.pg.execute(insert.format(duplicate))


def test_load_state_gains_a_truthful_unit_column_without_losing_what_it_knew(env: Any) -> None:
    # Before 0.2 the load state had only `eval_id`, which in `runs` held run ids.
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1)}))
    env.load()
    loads = f'"{env.schema}"._evals_etl_loads'
    env.pg.execute(f"alter table {loads} drop column unit")

    assert env.load().noop  # the old state is understood: nothing is reloaded

    rows = env.pg.rows(f"select table_name, eval_id, unit from {loads} order by 1, 2")
    assert rows and all(unit == key for _, key, unit in rows)
    assert ("runs", "r1", "r1") in rows and ("evaluations", "e1", "e1") in rows
    env.publish(env.dataset({"e1": ("r2", 5), "e2": ("r1", 1)}), run_id="r2")
    env.load()
    assert ("runs", "r2", "r2") in env.pg.rows(f"select table_name, eval_id, unit from {loads}")
    env.assert_matches_views()
