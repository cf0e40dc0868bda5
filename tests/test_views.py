"""etl.views: the database is built atomically, works from anywhere, and formats query output."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import schemas, views
from etl.errors import PublishError

DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.float64(): "DOUBLE",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    schemas.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    pa.list_(pa.string()): "VARCHAR[]",
}
ROWS = {
    "evaluations": [{"eval_id": "e1", "status": "done", "project": "p", "version_id": "1",
                     "map": 0.91234, "precision": 0.8, "recall": 0.6, "listed": True}],
    "vector_clusters": [{"cluster_id": 0, "num_images": 2, "f1_mean": 0.5,
                         "sample_images": ["a.jpg", "b,c.jpg"]}],
}


def write_tables(tables_dir: Path, given: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Every table as ``<table>/data.parquet`` (zero rows unless given), lineage filled in."""
    lineage = {"workspace": "ws", "eval_id": "e1", "run_id": "r1",
               "fetched_at": datetime(2026, 1, 1, tzinfo=UTC)}
    for name, table in schemas.TABLES.items():
        rows = [{k: v for k, v in {**lineage, **row}.items() if k in table.columns}
                for row in given.get(name, [])]
        (tables_dir / name).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema),
                       tables_dir / name / "data.parquet")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder with every table written and the database built."""
    out = tmp_path / "out"
    write_tables(out / "tables", ROWS)
    views.build_database(out / "evals.duckdb", out / "tables")
    return out


def describe(db: Path, view: str) -> list[tuple[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [(r[0], r[1]) for r in con.execute(f'describe "{view}"').fetchall()]


@pytest.mark.parametrize("table", sorted(schemas.TABLES))
def test_base_view_has_the_schema_columns_and_types(out: Path, table: str) -> None:
    expected = [(f.name, DUCKDB_TYPES[f.type]) for f in schemas.TABLES[table].schema]
    assert describe(out / "evals.duckdb", table) == expected


def test_every_sql_file_is_a_view_with_a_grain_and_purpose_comment(out: Path) -> None:
    files = views.sql_files()
    assert sorted(p.stem for p in files) == views.view_names(out / "evals.duckdb")
    assert {p.stem for p in files if p.parent.name == "1_base"} == set(schemas.TABLES)
    for path in files:
        lines = path.read_text().splitlines()
        header = [line for line in lines[:6] if line.startswith("--")]
        assert lines[0].startswith("-- grain: "), path
        assert any(line.startswith("-- purpose: ") for line in header), path
        # only the base layer reads files
        reads = "read_parquet" in path.read_text() or views.PLACEHOLDER in path.read_text()
        assert reads == (path.parent.name == "1_base"), path


def test_every_view_works_from_another_working_directory(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    db = out / "evals.duckdb"
    for view in views.view_names(db):
        views.query(db, f'select * from "{view}"')  # raises if a path were relative
    got = views.query(db, "select eval_id from evaluations", "json")
    assert json.loads(got) == {"eval_id": "e1"}


def test_views_work_through_an_attached_alias(out: Path) -> None:
    with duckdb.connect() as con:
        con.execute(f"attach '{out / 'evals.duckdb'}' as ev (read_only)")
        assert con.execute("select count(*) from ev.eval_overview").fetchone() == (1,)


def test_moved_output_works_after_rebuilding(out: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    db = moved / "evals.duckdb"
    with pytest.raises(duckdb.Error):  # the views still point at the old place
        views.query(db, "select * from evaluations")
    views.build_database(db, moved / "tables")
    assert "e1" in views.query(db, "select eval_id from eval_overview")


def test_a_path_with_a_quote_works(tmp_path: Path) -> None:
    out = tmp_path / "it's here"
    write_tables(out / "tables", ROWS)
    views.build_database(out / "evals.duckdb", out / "tables")
    got = views.query(out / "evals.duckdb", "select count(*) as n from evaluations", "csv")
    assert got == "n\n1"


def test_relative_tables_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tables(tmp_path / "out" / "tables", ROWS)
    monkeypatch.chdir(tmp_path / "out")
    views.build_database(Path("evals.duckdb"), Path("tables"))
    monkeypatch.chdir(tmp_path)
    assert views.query(Path("out/evals.duckdb"), "select count(*) from evaluations", "csv") == (
        "count_star()\n1"
    )


def test_rebuild_replaces_the_database_atomically(out: Path) -> None:
    db = out / "evals.duckdb"
    with duckdb.connect(str(db), read_only=True) as reader:
        views.build_database(db, out / "tables")  # a reader holding the old file is fine
        assert reader.execute("select count(*) from evaluations").fetchone() == (1,)
    assert sorted(p.name for p in out.iterdir()) == ["evals.duckdb", "tables"]  # no temp left
    assert "eval_overview" in views.view_names(db)


def test_a_failed_build_keeps_the_old_database(out: Path) -> None:
    db = out / "evals.duckdb"
    before = db.read_bytes()
    shutil.rmtree(out / "tables" / "runs")
    with pytest.raises(PublishError, match="runs"):
        views.build_database(db, out / "tables")
    assert db.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["evals.duckdb", "tables"]
    with pytest.raises(PublishError, match="does not exist"):
        views.build_database(db, out / "nowhere")


def test_query_formats_an_aligned_table(out: Path) -> None:
    text = views.query(out / "evals.duckdb",
                       "select eval_id, map, listed, null as note from evaluations")
    assert text.splitlines() == [
        "eval_id      map  listed  note",
        "-------  -------  ------  ----",
        "e1       0.91234  true    NULL",  # as computed, not rounded
        "(1 row)",
    ]


def test_query_formats_csv_and_json(out: Path) -> None:
    db = out / "evals.duckdb"
    sql = "select cluster_id, f1_mean, sample_images, null as x from vector_clusters"
    assert views.query(db, sql, "csv").splitlines() == [
        "cluster_id,f1_mean,sample_images,x",
        '0,0.5,"[""a.jpg"", ""b,c.jpg""]",',  # lists as JSON text, NULL as empty
    ]
    assert json.loads(views.query(db, sql, "json")) == {
        "cluster_id": 0, "f1_mean": 0.5, "sample_images": ["a.jpg", "b,c.jpg"], "x": None}


def test_query_max_rows_and_timestamps_in_utc(out: Path) -> None:
    db = out / "evals.duckdb"
    sql = "select * from range(5) as t(n)"
    assert views.query(db, sql, "table", max_rows=2).splitlines()[-1] == "(2 of 5 rows shown)"
    assert views.query(db, sql, "csv", max_rows=2) == "n\n0\n1"
    assert views.query(db, sql, "table").splitlines()[-1] == "(5 rows)"
    got = views.query(db, "select fetched_at from evaluations", "json")
    assert json.loads(got) == {"fetched_at": "2026-01-01T00:00:00+00:00"}


def test_query_opens_read_only(out: Path) -> None:
    with pytest.raises(duckdb.Error):
        views.query(out / "evals.duckdb", "create table t (x int)")


def test_sql_dir_is_the_checkout_folder() -> None:
    assert views.sql_dir() == Path(views.__file__).resolve().parent.parent / "sql"
    assert os.path.isdir(views.sql_dir() / "1_base")


def test_the_example_queries_of_the_docs_run(out: Path) -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "views.md").read_text()
    examples = re.findall(r"```sql\n(.*?)```", doc, flags=re.DOTALL)
    assert len(examples) >= 10
    for sql in examples:
        views.query(out / "evals.duckdb", sql)


def test_a_folder_published_before_a_table_or_column_existed_still_shows_every_view(
        tmp_path: Path) -> None:
    """An older snapshot: no model_comparison file, runs without its newer columns."""
    from etl.schemas import TABLES

    tables = tmp_path / "snapshot" / "tables"
    for name, table in TABLES.items():
        if name == "model_comparison":
            continue
        schema = table.schema
        if name == "runs":  # as 0.1 wrote it
            schema = pa.schema([f for f in schema if f.name not in (
                "units_not_attempted", "workspaces", "workspace_outcomes")])
        (tables / name).mkdir(parents=True)
        pq.write_table(schema.empty_table(), tables / name / "data.parquet")
    (tables.parent / "manifest.json").write_text(json.dumps(
        {"rows": {name: 0 for name in TABLES if name != "model_comparison"}}))
    db = tmp_path / "evals.duckdb"
    views.build_database(db, tables)
    assert "model_leaderboard" in views.view_names(db)
    assert views.query(db, "select count(*) as n from model_comparison", "csv").split() == [
        "n", "0"]
    assert "workspaces" in views.query(db, "select * from runs", "csv")
