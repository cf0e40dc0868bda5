"""The compare panel end to end: rows equal the simulator's truth, fetched once per version.

``model_comparison`` is fetched per (project, version) with a done eval; a version whose done
evals are listed as they were is not asked again (counted by the simulator's request
counters), one where an eval finished is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etl.normalize.compare import METRIC_COLUMNS
from etl.simulator import SimHandle
from etl.simulator.truth import comparisons
from tests.support.runs import export, simulator, table

COLUMNS = ("eval_id", "project", "version_id", "model_id", "frontier_metric",
           "median_latency_ms", "on_frontier", "exclusion_reason", *METRIC_COLUMNS.values())


def compare_requests(sim: SimHandle) -> int:
    return sum(n for (route, _), n in sim.stats.snapshot().by_route.items() if route == "compare")


def truth_rows(sim: SimHandle) -> list[tuple[Any, ...]]:
    rows = []
    for version in comparisons(sim.workspace):
        body = version["body"]
        for m in body["models"]:
            row = {"eval_id": m["evaluationId"], "project": version["project"],
                   "version_id": version["version"], "model_id": m["modelId"],
                   "frontier_metric": body["frontierMetric"],
                   "median_latency_ms": m["medianLatencyMs"], "on_frontier": m["onFrontier"],
                   "exclusion_reason": m["exclusionReason"],
                   **{c: m["metrics"].get(name) for name, c in METRIC_COLUMNS.items()}}
            rows.append(tuple(row[c] for c in COLUMNS))
    return sorted(rows, key=repr)


def published_rows(out: Path) -> list[tuple[Any, ...]]:
    data = table(out, "model_comparison").select(list(COLUMNS)).to_pylist()
    return sorted((tuple(r[c] for c in COLUMNS) for r in data), key=repr)


def test_rows_equal_the_truth_and_an_unchanged_version_is_not_refetched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=7, evals=24, missing_panel_rate=0) as sim:
        export(sim, out)
        versions = comparisons(sim.workspace)
        assert compare_requests(sim) == len(versions) > 3
        rows = published_rows(out)
        assert rows == truth_rows(sim)
        natural = [r[1:5] for r in rows]  # project, version_id, model_id, frontier_metric
        assert len(set(natural)) == len(natural)  # the grain without eval_id is unique too
        assert any(r[COLUMNS.index("exclusion_reason")] for r in rows)  # both kinds shown
        assert any(r[COLUMNS.index("on_frontier")] for r in rows)
        status = [r for r in table(out, "panel_status").to_pylist() if r["panel"] == "compare"]
        assert len(status) == len(versions) and {r["state"] for r in status} == {"ok"}
        assert {r["eval_id"] for r in status} == {""}

        export(sim, out)  # nothing changed: no version is asked again
        assert compare_requests(sim) == len(versions)
        assert published_rows(out) == rows

        running = next(ev for ev in sim.workspace.evals
                       if ev.status == "running" and ev.project is not None)
        sim.workspace.finish({running.eval_id})
        export(sim, out)  # one eval finished: its version alone is asked again
        assert compare_requests(sim) == len(versions) + 1
        assert published_rows(out) == truth_rows(sim)
        assert any(r[0] == running.eval_id for r in published_rows(out))


def test_a_server_without_the_compare_route_costs_one_request_per_version_once(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    with simulator(seed=7, evals=12, missing_panel_rate=0, compare_route="absent") as sim:
        first = export(sim, out)
        versions = comparisons(sim.workspace)
        assert first.status == "success"  # a 404 there is no comparison, not a failure
        status = [r for r in table(out, "panel_status").to_pylist() if r["panel"] == "compare"]
        assert {(r["state"], r["error_code"]) for r in status} == {
            ("not_materialized", "model_eval_not_found")}
        assert len(status) == len(versions) == compare_requests(sim)
        assert table(out, "model_comparison").num_rows == 0
        export(sim, out)
        assert compare_requests(sim) == len(versions)  # not asked again while unchanged


def test_two_workspaces_sharing_project_slugs_keep_their_versions_unchanged(
        tmp_path: Path) -> None:
    """In a folder of two workspaces, a version is compared with its own workspace's evals:
    the other workspace's evals under the same slug are no change, so nothing is refetched."""
    from tests.support import cli
    from tests.support.router import workspace_router

    keys = {"acme": "key-of-acme", "beta": "key-of-beta"}
    config = tmp_path / "workspaces.toml"
    config.write_text("".join(f'[[workspaces]]\nslug = "{w}"\nkey_env = "{w.upper()}_KEY"\n'
                              for w in keys) + "[crawl]\nbackoff_base = 0.01\n")
    with simulator(workspace="acme", api_key=keys["acme"], seed=85, evals=10) as a, \
            simulator(workspace="beta", api_key=keys["beta"], seed=86, evals=10) as b:
        shared = {p.slug: q.slug for p, q in zip(b.workspace.projects, a.workspace.projects,
                                                  strict=False)}
        with workspace_router({"acme": a.url, "beta": b.url}, set(), {"beta": shared}) as url:
            def export_both() -> None:
                done = cli.run("export", "--config", str(config), "--workspace", "acme",
                               "--workspace", "beta", "--api-url", url, "--out",
                               str(tmp_path / "out"), "--log-format", "json",
                               env={f"{w.upper()}_KEY": k for w, k in keys.items()})
                assert done.returncode in (0, 3), done.stderr[-2000:]

            export_both()
            first = compare_requests(a) + compare_requests(b)
            assert compare_requests(a) > 0 and compare_requests(b) > 0
            export_both()
            assert compare_requests(a) + compare_requests(b) == first
    rows = table(tmp_path / "out", "model_comparison").to_pylist()
    assert {r["workspace"] for r in rows} == set(keys)
