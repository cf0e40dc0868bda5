"""A version panel's unit (compare) through the merge: replaced per (project, version)."""

from __future__ import annotations

from pathlib import Path

from etl.panels import PanelRequest

from .storage_scenario import publish_run, read_tables, units


def compare(project: str, version: str) -> PanelRequest:
    return PanelRequest.of_version("compare", project, version, "ws")


def test_a_refetched_version_replaces_its_rows_and_keeps_the_others(tmp_path: Path) -> None:
    publish_run(tmp_path, "r1", [*units("e1"), compare("p", "1"), compare("p", "2")])
    first = read_tables(tmp_path)["model_comparison"]
    assert {(r["project"], r["version_id"], r["run_id"]) for r in first} == {
        ("p", "1", "r1"), ("p", "2", "r1")}
    publish_run(tmp_path, "r2", [compare("p", "2")], [compare("p", "1")])  # p/1 failed
    tables = read_tables(tmp_path)
    rows = {(r["project"], r["version_id"], r["model_id"]): r["run_id"]
            for r in tables["model_comparison"]}
    assert set(rows.values()) == {"r1", "r2"} and len(rows) == len(first)
    assert {k[:2]: v for k, v in rows.items()} == {("p", "1"): "r1", ("p", "2"): "r2"}
    status = {(r["eval_id"], r["panel"], r["params"]): (r["state"], r["run_id"])
              for r in tables["panel_status"] if r["panel"] == "compare"}
    assert status == {("", "compare", "workspace=ws&project=p&version=1"): ("error", "r2"),
                      ("", "compare", "workspace=ws&project=p&version=2"): ("ok", "r2")}
