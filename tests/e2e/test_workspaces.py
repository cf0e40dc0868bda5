"""Several workspaces in one output folder, each updated without touching the others.

Two simulators, one per workspace with its own key, behind one API URL (as the real API
serves every workspace from one host). One run exports both; its tables are the union of the
two single-workspace exports; a run of one workspace leaves the other's rows byte for byte;
an eval gone from one workspace's listing is no longer listed there only; a refused key
fails its own workspace while the other publishes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from etl.errors import EXIT_PARTIAL, EXIT_USAGE
from etl.schemas import TABLES
from tests.support import cli
from tests.support.router import workspace_router
from tests.support.runs import dataset, simulator

KEYS = {"acme": "key-of-acme", "beta": "key-of-beta"}


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, set[str], dict[str, Any]]]:
    hidden: set[str] = set()
    with simulator(workspace="acme", api_key=KEYS["acme"], seed=81, evals=8, images=(5, 20)) as a, \
            simulator(workspace="beta", api_key=KEYS["beta"], seed=82, evals=6,
                      images=(5, 20)) as b, \
            workspace_router({"acme": a.url, "beta": b.url}, hidden) as url:
        yield url, hidden, {"acme": a, "beta": b}


def _export(url: str, out: Path, workspaces: list[str], *extra: str,
            keys: dict[str, str] = KEYS) -> subprocess.CompletedProcess[str]:
    config = out.parent / f"{out.name}-workspaces.toml"
    config.write_text("".join(f'[[workspaces]]\nslug = "{w}"\nkey_env = "{w.upper()}_KEY"\n'
                              for w in ("acme", "beta"))
                      + "[crawl]\nbackoff_base = 0.01\nbackoff_max = 0.05\nmax_attempts = 2\n"
                      "not_done_seconds = 0.5\n")
    picked = [arg for w in workspaces for arg in ("--workspace", w)]
    return cli.run("export", "--config", str(config), *picked, "--api-url", url, "--out",
                   str(out), "--log-format", "json", "--concurrency", "8", *extra,
                   env={f"{w.upper()}_KEY": k for w, k in keys.items()})


def _rows_of(out: Path, workspace: str) -> dict[str, list[Any]]:
    """Every row of one workspace, lineage included (byte-for-byte comparisons)."""
    found = {}
    for name in TABLES:
        if name == "runs":
            continue
        rows = pq.read_table(out / "tables" / name).to_pylist()
        found[name] = sorted((r for r in rows if r["workspace"] == workspace), key=repr)
    return found


def test_one_run_of_two_workspaces_is_the_union_of_two_single_runs(
        api: tuple[str, set[str], dict[str, Any]], tmp_path: Path) -> None:
    url, _, _ = api
    single = {}
    for w in ("acme", "beta"):
        done = _export(url, tmp_path / w, [w])
        assert done.returncode in (0, 3), done.stderr
        single[w] = dataset(tmp_path / w)
    both = _export(url, tmp_path / "both", ["acme", "beta"])
    assert both.returncode in (0, 3), both.stderr
    union = dataset(tmp_path / "both")
    for name, rows in union.items():
        assert rows == sorted(single["acme"][name] + single["beta"][name], key=repr), name
    final = cli.json_lines(both.stderr)[-1]
    assert [w["workspace"] for w in final["workspaces"]] == ["acme", "beta"]
    run = pq.read_table(tmp_path / "both" / "tables" / "runs").to_pylist()[-1]
    assert run["workspaces"] == ["acme", "beta"]
    assert [w["workspace"] for w in json.loads(run["workspace_outcomes"])] == ["acme", "beta"]
    # panel_status carries each eval's own workspace
    owners = {r["eval_id"]: r["workspace"] for r in
              pq.read_table(tmp_path / "both" / "tables" / "evaluations").to_pylist()}
    for row in pq.read_table(tmp_path / "both" / "tables" / "panel_status").to_pylist():
        if row["eval_id"]:
            assert row["workspace"] == owners[row["eval_id"]]


def test_a_run_of_one_workspace_leaves_the_others_rows_byte_for_byte(
        api: tuple[str, set[str], dict[str, Any]], tmp_path: Path) -> None:
    url, hidden, sims = api
    out = tmp_path / "both"
    assert _export(url, out, ["acme", "beta"]).returncode in (0, 3)
    acme = _rows_of(out, "acme")
    assert _export(url, out, ["beta"], "--full-refresh").returncode in (0, 3)
    assert _rows_of(out, "acme") == acme

    gone = min(e.eval_id for e in sims["acme"].workspace.evals)
    hidden.add(gone)
    try:
        assert _export(url, out, ["acme", "beta"]).returncode in (0, 3)
        listed = {r["eval_id"]: (r["workspace"], r["listed"]) for r in
                  pq.read_table(out / "tables" / "evaluations").to_pylist()}
        assert listed[gone] == ("acme", False)
        assert all(flag for eid, (ws, flag) in listed.items() if eid != gone)
        # A run of beta alone says nothing of acme's listing: acme keeps its flags.
        assert _export(url, out, ["beta"]).returncode in (0, 3)
        assert {r["eval_id"]: r["listed"] for r in pq.read_table(
            out / "tables" / "evaluations").to_pylist()}[gone] is False
    finally:
        hidden.clear()


def test_a_refused_key_fails_its_workspace_while_the_other_publishes(
        api: tuple[str, set[str], dict[str, Any]], tmp_path: Path) -> None:
    url, _, _ = api
    out = tmp_path / "out"
    done = _export(url, out, ["acme", "beta"], keys={"acme": KEYS["acme"], "beta": "wrong"})
    assert done.returncode == EXIT_PARTIAL, done.stderr
    final = cli.json_lines(done.stderr)[-1]
    ends = {w["workspace"]: w for w in final["workspaces"]}
    assert ends["beta"]["status"] == "refused" and ends["beta"]["exit_code"] == 4
    assert ends["acme"]["status"] in ("success", "partial")
    assert "beta" in final["msg"] and "refused" in final["msg"]
    workspaces = {r["workspace"] for r in pq.read_table(out / "tables" / "evaluations").to_pylist()}
    assert workspaces == {"acme"}
    assert KEYS["acme"] not in done.stderr


def test_a_folder_of_one_workspace_refuses_another_alone_but_takes_both(
        api: tuple[str, set[str], dict[str, Any]], tmp_path: Path) -> None:
    url, _, _ = api
    out = tmp_path / "acme"
    assert _export(url, out, ["acme"]).returncode in (0, 3)
    refused = _export(url, out, ["beta"])
    assert refused.returncode == EXIT_USAGE and "export them together" in refused.stderr
    assert _export(url, out, ["acme", "beta"]).returncode in (0, 3)
    assert json.loads((out / ".evals-etl.json").read_text())["workspaces"] == ["acme", "beta"]
    assert _export(url, out, ["beta"]).returncode in (0, 3)  # now one of its own


def _view_rows(out: Path, workspace: str) -> dict[str, list[str]]:
    """Every view with a workspace column, restricted to ``workspace``, lineage aside."""
    import duckdb

    from etl import views

    db = out / "evals.duckdb"
    found = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for name in views.view_names(db):
            columns = [c[0] for c in con.execute(f'describe "{name}"').fetchall()]
            if "workspace" not in columns or name == "runs":  # runs: the runs themselves differ
                continue
            keep = ", ".join(f'"{c}"' for c in columns if c not in ("run_id", "fetched_at"))
            rows = con.execute(f'select {keep} from "{name}" where workspace = ?',
                               [workspace]).fetchall()
            found[name] = sorted(repr(r) for r in rows)
    return found


def test_views_answer_per_workspace_as_a_single_export_does_with_shared_project_slugs(
        tmp_path: Path) -> None:
    with simulator(workspace="acme", api_key=KEYS["acme"], seed=85, evals=10,
                   images=(5, 20)) as a, \
            simulator(workspace="beta", api_key=KEYS["beta"], seed=86, evals=10,
                      images=(5, 20)) as b:
        # beta's projects carry acme's slugs, as two teams' "production" projects would.
        shared = {p.slug: q.slug for p, q in zip(b.workspace.projects, a.workspace.projects,
                                                  strict=False)}
        with workspace_router({"acme": a.url, "beta": b.url}, set(), {"beta": shared}) as url:
            for w in ("acme", "beta"):
                assert _export(url, tmp_path / w, [w]).returncode in (0, 3)
            assert _export(url, tmp_path / "both", ["acme", "beta"]).returncode in (0, 3)
    projects = {r["workspace"]: r["project"] for r in pq.read_table(
        tmp_path / "both" / "tables" / "evaluations").to_pylist() if r["project"]}
    assert len(projects) == 2  # both workspaces have evals in projects of the same slugs
    assert set(pq.read_table(tmp_path / "acme" / "tables" / "evaluations").column(
        "project").to_pylist()) & set(pq.read_table(tmp_path / "beta" / "tables" /
                                                   "evaluations").column("project").to_pylist())
    for w in ("acme", "beta"):
        alone, together = _view_rows(tmp_path / w, w), _view_rows(tmp_path / "both", w)
        assert alone.keys() == together.keys()
        for name in alone:
            assert together[name] == alone[name], (w, name)


def test_doctor_checks_every_workspace_with_its_own_key(
        api: tuple[str, set[str], dict[str, Any]], tmp_path: Path) -> None:
    url, _, _ = api
    config = tmp_path / "doctor.toml"
    config.write_text("".join(f'[[workspaces]]\nslug = "{w}"\nkey_env = "{w.upper()}_KEY"\n'
                              for w in ("acme", "beta")))
    done = cli.run("doctor", "--config", str(config), "--api-url", url, "--out",
                   str(tmp_path / "out"), "--format", "json",
                   env={"ACME_KEY": KEYS["acme"], "BETA_KEY": "wrong"})
    checks = {c["check"]: c["state"] for c in json.loads(done.stdout)["checks"]}
    assert done.returncode == 8
    assert checks["key (acme)"] == "ok" and checks["scope (acme)"] == "ok"
    assert checks["key (beta)"] == "fail"
