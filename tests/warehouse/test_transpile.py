"""The views' SQL in each warehouse's dialect: it parses there, reads the load's schema, and
the three rewrites (JSON, settings, qualification) are made. Snowflake and BigQuery are
tested only this far: by parsing what they would be sent."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from etl.warehouse import marts
from etl.warehouse.transpile import SQLGLOT, transpile

DIALECTS = sorted(SQLGLOT)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_view_parses_in_the_dialect_and_reads_only_the_schema(dialect: str) -> None:
    names = {name for name, _ in marts.sources()}
    for view in marts.wanted(dialect, "wh"):
        tree = sqlglot.parse_one(view.select, read=SQLGLOT[dialect])
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            assert table.db == "wh" or (not table.db and table.name in ctes), (view.name, table)
        assert "getvariable" not in view.select.lower()
        assert view.name in names


@pytest.mark.parametrize(("dialect", "json", "setting"), [
    ("postgresql", "CAST(\"recommendations\".\"details\" AS JSONB)",
     "NULLIF(CURRENT_SETTING('evals_etl.regression_tolerance', TRUE), '')"),
    ("snowflake", "PARSE_JSON(\"recommendations\".\"details\")", "CAST(NULL AS DOUBLE)"),
    ("bigquery", "PARSE_JSON(`recommendations`.`details`)", "CAST(NULL AS FLOAT64)"),
])
def test_json_and_settings(dialect: str, json: str, setting: str) -> None:
    views = {v.name: v.select for v in marts.wanted(dialect, "wh")}
    assert json in views["recommendation_items"]
    assert setting in views["version_trends"]


def test_a_bare_select_keeps_its_meaning() -> None:
    view = transpile("v", "with t as (select * from t where x) select count(*) filter "
                     "(where y) / count(*) as share from t", "postgresql", "wh")
    assert 'FROM "wh"."t"' in view.select and 'FROM "t"' in view.select
    assert "CAST(" in view.select  # DuckDB divides integers exactly, PostgreSQL would not
