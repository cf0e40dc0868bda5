"""What the report shows, read from the published views (read-only, never the API).

The only module of the report that speaks SQL. :func:`open_dataset` opens ``OUT/evals.duckdb``
read-only when it shows the folder's own snapshot; otherwise (a moved or copied folder whose
database names another folder's files) it builds the views in a temporary folder over
``OUT/tables`` and reads those, so the report never writes into the output folder's dataset
and never shows another folder's data. One connection serves the whole report, so every page
shows one snapshot.

Per-eval data is read in batches of evals (one query per table and batch, not per eval) and
handed out as columns (``Columns``: name -> list of values), the shape plotly wants.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from etl import views
from etl.errors import ConfigError
from etl.report.model import Columns, EvalData, Row, Selection

IN_IDS = "eval_id in (select unnest($ids::varchar[]))"
# The image variant an eval page shows: the server's default (confidence NULL), else the lowest.
FIRST_VARIANT = "dense_rank() over (partition by eval_id order by confidence nulls first) = 1"


@contextmanager
def open_dataset(out: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to views over ``out``'s current snapshot."""
    tables = out / "tables"
    if not (tables / "evaluations").is_dir():
        raise ConfigError(f"nothing is published in {out} yet; run `evals-etl export` first")
    db = out / "evals.duckdb"
    if views.shows(db, tables):
        with duckdb.connect(str(db), read_only=True) as con:
            yield _prepared(con)
        return
    with tempfile.TemporaryDirectory(prefix="evals-etl-report-") as tmp:
        views.build_database(Path(tmp) / "evals.duckdb", tables.resolve())
        with duckdb.connect(str(Path(tmp) / "evals.duckdb"), read_only=True) as con:
            yield _prepared(con)


def _prepared(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute("set TimeZone = 'UTC'")  # timestamps read as UTC, whatever the machine
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> list[Row]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def columns(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Columns:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    values = list(zip(*cursor.fetchall())) or [()] * len(names)
    return {name: list(v) for name, v in zip(names, values)}


def select(con: duckdb.DuckDBPyConnection, projects: Sequence[str],
           eval_ids: Sequence[str]) -> Selection:
    """The evals of ``projects`` plus ``eval_ids`` (every eval when both are empty)."""
    known = rows(con, "select eval_id, project from eval_overview order by project nulls last, "
                 "version_number nulls last, version_id, created_at desc, eval_id")
    for what, asked, have in (("project", projects, {r["project"] for r in known}),
                              ("eval", eval_ids, {r["eval_id"] for r in known})):
        if missing := [a for a in asked if a not in have]:
            raise ConfigError(f"no {what} {', '.join(map(repr, missing))} in the dataset")
    filtered = bool(projects or eval_ids)
    chosen = [r for r in known if not filtered or r["project"] in projects
              or r["eval_id"] in eval_ids]
    names = dict.fromkeys(r["project"] for r in chosen if r["project"] is not None)
    return Selection(tuple(r["eval_id"] for r in chosen), tuple(names), filtered)


def overview(con: duckdb.DuckDBPyConnection, selection: Selection) -> list[Row]:
    """``eval_overview`` rows of the selection, with their ``version_trends`` verdict."""
    return rows(con, f"""
        select o.*, coalesce(o.map, o.miou) as headline, t.headline_delta, t.regressed,
               t.previous_version_id, t.eval_id is not null as latest_of_version
        from eval_overview o left join version_trends t on t.eval_id = o.eval_id
        where o.{IN_IDS}
        order by o.project nulls last, o.version_number nulls last, o.version_id,
                 o.created_at desc, o.eval_id""", {"ids": list(selection.eval_ids)})


def panel_states(con: duckdb.DuckDBPyConnection, selection: Selection) -> list[Row]:
    """Panel units by panel and state over the selection (``panel_health``'s counts).

    A project version's units (compare: no eval, ``project=`` in their params) count for the
    selection's projects.
    """
    return rows(con, f"""
        select panel, state, count(*) as units from panel_status
        where {IN_IDS} or (eval_id = '' and regexp_extract(params, '(^|&)project=([^&]*)', 2)
                           in (select unnest($projects::varchar[])))
        group by panel, state order by panel, state""",
        {"ids": list(selection.eval_ids), "projects": list(selection.projects)})


def trends(con: duckdb.DuckDBPyConnection, project: str) -> list[Row]:
    return rows(con, "select * from version_trends where project = ? "
                "order by version_number nulls last, version_id", [project])


def eval_batches(con: duckdb.DuckDBPyConnection, eval_ids: Sequence[str], *,
                 max_points: int, batch: int = 64) -> Iterator[EvalData]:
    """Every eval's page data, in the order given, reading ``batch`` evals per query."""
    for start in range(0, len(eval_ids), batch):
        ids = list(eval_ids[start:start + batch])
        found = {i: EvalData(i) for i in ids}
        _load_metrics(con, ids, found)
        _load_images(con, ids, found, max_points)
        _load_rest(con, ids, found)
        yield from (found[i] for i in ids)


def _split(cols: Columns, found: dict[str, EvalData], attr: str) -> None:
    """Hand each eval its slice of ``cols`` (rows ordered by eval_id first)."""
    ids = cols.pop("eval_id", [])
    bounds: dict[str, list[int]] = {}
    for n, eval_id in enumerate(ids):
        bounds.setdefault(eval_id, [n, n])[1] = n + 1
    for eval_id, (lo, hi) in bounds.items():
        setattr(found[eval_id], attr, {k: v[lo:hi] for k, v in cols.items()})


def _per_eval(items: list[Row], found: dict[str, EvalData], attr: str) -> None:
    for item in items:
        getattr(found[item.pop("eval_id")], attr).append(item)


def _load_metrics(con: duckdb.DuckDBPyConnection, ids: list[str],
                  found: dict[str, EvalData]) -> None:
    p = {"ids": ids}
    _split(columns(con, f"""
        select eval_id, split, class_name, threshold, precision, recall, f1
        from confidence_sweep where {IN_IDS}
        order by eval_id, split, class_name nulls first, threshold""", p), found, "sweep")
    _per_eval(rows(con, f"""
        select eval_id, split, class_name, optimal_threshold, precision, recall, f1
        from optimal_thresholds where {IN_IDS}
        order by eval_id, split, class_name nulls first""", p), found, "optimal")
    _split(columns(con, f"""
        select eval_id, split, confidence, confidence_threshold, actual_idx, predicted_idx,
               actual_class, predicted_class, count
        from confusion_matrix where {IN_IDS}
        order by eval_id, split, confidence nulls first, actual_idx, predicted_idx""", p),
        found, "confusion")
    # A class without instances in a split has no mAP and no IoU: it is absent, not zero.
    _per_eval(rows(con, f"""
        select eval_id, split, class_name, rank, f1, precision, recall, map50, iou,
               optimal_threshold, task_type, map50 is null and iou is null as absent
        from class_leaderboard where {IN_IDS} order by eval_id, split, rank""", p),
        found, "classes")


def _load_images(con: duckdb.DuckDBPyConnection, ids: list[str],
                 found: dict[str, EvalData], max_points: int) -> None:
    """A sample of at most ``max_points`` images per eval: the first by md5(image_id)."""
    cols = columns(con, f"""
        with shown as (select * from image_predictions where {IN_IDS} qualify {FIRST_VARIANT}),
        numbered as (
            select *, row_number() over (partition by eval_id order by md5(image_id)) as k,
                   count(*) over (partition by eval_id) as total
            from shown)
        select eval_id, total, confidence, confidence_threshold, image_id, image_name, split,
               cluster_id, embedding_x, embedding_y, f1, precision, recall
        from numbered where k <= $n order by eval_id, k""", {"ids": ids, "n": max_points})
    _split(cols, found, "images")
    for data in found.values():
        data.image_total = int(data.images.pop("total", [0])[0]) if data.images else 0
    _per_eval(rows(con, f"""
        select * exclude (workspace, run_id, fetched_at) from vector_clusters
        where {IN_IDS} qualify {FIRST_VARIANT}
        order by eval_id, f1_mean nulls last, cluster_id""", {"ids": ids}), found, "clusters")
    for row in rows(con, f"""
            select * exclude (workspace, run_id, fetched_at) from vector_analysis
            where {IN_IDS} qualify {FIRST_VARIANT}""", {"ids": ids}):
        found[row.pop("eval_id")].vector = row
    _per_eval(rows(con, f"""
        with shown as (select * from worst_images where {IN_IDS} qualify {FIRST_VARIANT})
        select eval_id, f1_rank, image_name, split, f1, precision, recall, true_positives,
               false_positives, false_negatives, cluster_id, cluster_f1_mean, confidence
        from shown where f1_rank <= 20 order by eval_id, f1_rank""", {"ids": ids}),
        found, "worst")


def _load_rest(con: duckdb.DuckDBPyConnection, ids: list[str],
               found: dict[str, EvalData]) -> None:
    p = {"ids": ids}
    for row in rows(con, f"select * exclude (workspace, run_id, fetched_at) "
                    f"from recommendation_summary where {IN_IDS}", p):
        found[row.pop("eval_id")].rec_summary = row
    _per_eval(rows(con, f"select eval_id, item_index, type, details from recommendations "
                   f"where {IN_IDS} order by eval_id, item_index", p), found, "recs")
    _per_eval(rows(con, f"""
        select eval_id, panel, params, state, http_status, error_code, message, attempts
        from panel_status where {IN_IDS} order by eval_id, panel, params""", p),
        found, "status")
