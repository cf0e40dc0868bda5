"""The views of ``sql/2_intermediate`` and ``sql/3_marts`` in a warehouse's SQL dialect.

The one source of the analyst views is ``sql/``, written for DuckDB; a warehouse gets the
same views by transpiling it with sqlglot, never from a second, hand-kept copy. On top of
sqlglot's translation, three things differ and are rewritten here:

* table references are qualified with the load's schema (CTE names are left alone);
* ``cast(x as json)`` is ``jsonb`` in PostgreSQL and ``parse_json(x)`` in Snowflake and
  BigQuery (a cast there would keep a JSON string, not the document);
* ``getvariable('name')`` (a DuckDB session variable, e.g. ``regression_tolerance``) reads
  the PostgreSQL setting ``evals_etl.name`` (``set evals_etl.name = '…'`` in a session);
  Snowflake and BigQuery have no unset-safe equivalent, so there the default applies.

Pure: strings in, strings out; only this module imports sqlglot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify_tables import qualify_tables

# Dialect.name (etl.warehouse.dialects) -> sqlglot's name for it.
SQLGLOT = {"postgresql": "postgres", "snowflake": "snowflake", "bigquery": "bigquery"}
SETTING_PREFIX = "evals_etl."  # PostgreSQL custom settings need a dotted name


@dataclass(frozen=True)
class View:
    name: str
    select: str  # the view's query in the warehouse's dialect

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.select.encode()).hexdigest()[:16]


def transpile(name: str, duckdb_sql: str, dialect: str, schema: str) -> View:
    """One view's ``select`` (DuckDB SQL, as in ``sql/``) in ``dialect``, over ``schema``."""
    target = SQLGLOT[dialect]
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    tree = qualify_tables(tree, db=schema)
    tree = tree.transform(lambda node: _rewrite(node, target))
    return View(name, tree.sql(dialect=target, identify=True, comments=False, pretty=True))


def transpile_all(files: Iterable[tuple[str, str]], dialect: str, schema: str) -> list[View]:
    """``(view name, DuckDB SQL)`` pairs, in build order, as views of ``dialect``."""
    return [transpile(name, sql, dialect, schema) for name, sql in files]


def _rewrite(node: exp.Expression, target: str) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        if target == "postgres":
            return exp.cast(node.this, exp.DataType.build("jsonb", dialect="postgres"))
        return exp.ParseJSON(this=node.this)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "getvariable":
        return _setting(node, target)
    return node


def _setting(node: exp.Anonymous, target: str) -> exp.Expression:
    (name,) = node.expressions
    if target != "postgres" or not isinstance(name, exp.Literal) or not name.is_string:
        return exp.null()
    # current_setting(…, true) is NULL when never set, '' after a RESET: both mean "default".
    setting = exp.Anonymous(this="current_setting", expressions=[
        exp.Literal.string(SETTING_PREFIX + name.this), exp.true()])
    return exp.Nullif(this=setting, expression=exp.Literal.string(""))
