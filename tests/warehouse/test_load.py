"""Loading into a real PostgreSQL: equal to the DuckDB views, idempotent, incremental."""

from __future__ import annotations

from typing import Any

import pytest

from etl import cli, schemas
from etl.errors import LockHeldError, PublishError

pytestmark = pytest.mark.postgres

EVAL_TABLES = [name for name, t in schemas.TABLES.items() if "eval_id" in t.columns]


def test_a_load_equals_the_duckdb_views(env: Any) -> None:
    # Ten rows per eval: every awkward string of the generator (quotes, unicode, newline, "").
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1), "e-3,'\"": ("r2", 2)}, n=10), "r2")

    result = env.load()

    env.assert_matches_views()
    assert result.replaced == 3 * len(EVAL_TABLES) + 2  # every eval in every table, two runs
    assert (result.removed, result.unchanged) == (0, 0)
    assert result.migrated == (f"created {len(schemas.TABLES)} tables",)
    assert "\n" not in str(result) and "dataset run r2" in str(result)


def test_the_warehouse_types_come_from_the_schema_module(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    rows = env.pg.rows(
        "select table_name, column_name, data_type, is_nullable from information_schema.columns "
        f"where table_schema = '{env.schema}' and table_name not like '\\_%' "
        "and table_name in (select table_name from information_schema.tables "
        f"where table_schema = '{env.schema}' and table_type = 'BASE TABLE')")
    types = {(t, c): (d, n) for t, c, d, n in rows}
    assert types[("vector_clusters", "sample_images")] == ("ARRAY", "YES")
    assert types[("evaluations", "created_at")] == ("timestamp with time zone", "YES")
    assert types[("evaluations", "fetched_at")] == ("timestamp with time zone", "NO")
    assert types[("class_metrics", "map50")] == ("double precision", "YES")
    assert types[("confusion_matrix", "count")] == ("bigint", "YES")
    assert types[("evaluations", "listed")] == ("boolean", "YES")
    assert len(types) == sum(len(t.columns) for t in schemas.TABLES.values())


def test_a_second_load_of_the_same_dataset_writes_nothing(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1)}))
    env.load()
    before = {name: env.xmins(name) for name in schemas.TABLES}
    state = env.loads()

    again = env.load()

    assert again.noop and again.replaced == again.removed == again.rows_inserted == 0
    assert again.unchanged == 2 * len(EVAL_TABLES) + 1
    assert "up to date" in str(again)
    assert {name: env.xmins(name) for name in schemas.TABLES} == before  # no row rewritten
    assert env.loads() == state  # not even the load timestamps
    history = env.pg.rows(f'select replaced, removed, rows_inserted from "{env.schema}"'
                          "._evals_etl_history order by loaded_at")
    assert history[1] == (0, 0, 0)  # the no-op is recorded
    env.assert_matches_views()


def test_an_incremental_dataset_loads_only_what_changed(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0), "e2": ("r1", 1), "e3": ("r1", 2)}), "r1")
    env.load()
    kept = {name: [x for x in env.xmins(name) if x[0] == "e1"] for name in EVAL_TABLES}
    # e2 refetched by run r2 with other rows (and one row fewer), e3 gone, e4 new.
    given = env.dataset({"e1": ("r1", 0), "e2": ("r2", 5), "e4": ("r2", 6)})
    given["class_metrics"] = [r for r in given["class_metrics"]
                              if (r["eval_id"], r["class_name"]) != ("e2", "a,b")]
    env.publish(given, "r2")

    result = env.load()

    assert result.replaced == 2 * len(EVAL_TABLES) + 1  # e2 and e4 everywhere, run r2
    assert result.removed == len(EVAL_TABLES)  # e3 everywhere
    assert result.unchanged == len(EVAL_TABLES) + 1  # e1 everywhere, run r1
    assert {name: [x for x in env.xmins(name) if x[0] == "e1"] for name in EVAL_TABLES} == kept
    env.assert_matches_views()


def test_small_chunks_give_the_same_result(env: Any) -> None:
    env.publish(env.dataset({f"e{i}": ("r1", i) for i in range(6)}, n=6))
    result = env.load(chunk_rows=5)
    assert result.rows_inserted == sum(env.pg.rows(
        f'select count(*) from "{env.schema}"."{name}"')[0][0] for name in schemas.TABLES)
    env.assert_matches_views()


def test_a_duplicate_grain_is_refused_and_the_table_keeps_its_rows(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.load()
    before = env.dump()
    given = env.dataset({"e1": ("r2", 3)})
    all_classes = [r for r in given["size_metrics"] if r["class_name"] is None]
    given["size_metrics"] += all_classes  # the "all classes" row twice: NULL is one value
    env.publish(given, "r2")

    with pytest.raises(PublishError, match="size_metrics_grain"):
        env.load()

    assert env.dump()["size_metrics"] == before["size_metrics"]


def test_a_concurrent_load_is_refused(env: Any) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    env.pg.execute(f"select pg_advisory_lock(hashtext('evals-etl load ' || current_database() "
                   f"|| '.{env.schema}'))")
    with pytest.raises(LockHeldError, match="another evals-etl load"):
        env.load()


def test_the_password_never_shows(env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    env.publish(env.dataset({"e1": ("r1", 0)}))
    with_password = env.uri.replace("@", ":S3cr%40t-pw@", 1)  # trust auth ignores it
    code = cli.main(["load", "--out", str(env.out), "--to", with_password, "--schema", env.schema])
    printed = capsys.readouterr()
    assert code == 0
    assert printed.out.count("\n") == 1 and ":***@" in printed.out
    closed = with_password.rsplit(":", 1)[0] + ":1/postgres"  # nothing listens on port 1
    assert cli.main(["load", "--out", str(env.out), "--to", closed]) == 1
    printed = capsys.readouterr()
    assert "S3cr" not in printed.out + printed.err and "***" in printed.err


def test_a_changed_value_with_the_same_run_and_row_count_is_reloaded(env: Any) -> None:
    # What `evals-etl normalize --run` does after a normalizer fix: same run ids, new content.
    given = env.dataset({"e1": ("r1", 0), "e2": ("r1", 1)})
    env.publish(given, "r1")
    env.load()
    row = next(r for r in given["class_metrics"] if r["eval_id"] == "e2" and r["map50"] is not None)
    row["map50"] = row["map50"] + 1e-12
    env.publish(given, "r1")

    result = env.load()

    assert (result.replaced, result.removed, result.rows_inserted) == (1, 0, 4)
    assert result.tables == {"class_metrics": (1, 0)}
    env.assert_matches_views()
