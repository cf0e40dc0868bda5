"""The official ``roboflow`` SDK (and its CLI) against the simulator.

If the SDK can use the simulator, gets back exactly what the simulator's body builders
make, and maps the simulator's error bodies onto its typed errors, the simulator speaks the
API the SDK was written for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl.simulator import SimEval, SimHandle

from .client import KEY

pytest.importorskip("roboflow")
PROBE = Path(__file__).with_name("sdk_probe.py")


def sdk_env(sim: SimHandle) -> dict[str, str]:
    return {**os.environ, "API_URL": sim.url, "ROBOFLOW_API_KEY": KEY,
            "ROBOFLOW_CONFIG_DIR": "/nonexistent"}


def a_done_eval(sim: SimHandle) -> SimEval:
    return next(ev for ev in sim.workspace.evals
                if ev.status == "done" and ev.missing_panel is None and ev.project
                and ev.recs_generated)


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], SimHandle]]:
    from etl.simulator import SimOptions, serve_in_thread

    folder = tmp_path_factory.mktemp("sdk")
    with serve_in_thread(SimOptions()) as sim:
        done = a_done_eval(sim)
        plan = {"done": done.eval_id, "project": done.project, "version": done.version_id,
                "running": next(ev.eval_id for ev in sim.workspace.evals
                                if ev.status == "running"),
                "unmade": next(c for c in range(100) if c not in sim.workspace.materialized(done))}
        (folder / "plan.json").write_text(json.dumps(plan))
        subprocess.run([sys.executable, str(PROBE), str(folder / "plan.json"),
                        str(folder / "out.json")], env=sdk_env(sim), check=True,
                       capture_output=True, timeout=60)
        yield json.loads((folder / "out.json").read_text()), sim


def test_sdk_finds_the_workspace(probed: tuple[dict[str, Any], SimHandle]) -> None:
    results, sim = probed
    assert results["current_workspace"] == "acme"
    assert results["workspace"]["url"] == "acme"
    assert results["workspace"]["project_list"] == sim.workspace.workspace_body()[
        "workspace"]["projects"]


def test_sdk_lists_and_gets_what_the_builders_make(
        probed: tuple[dict[str, Any], SimHandle]) -> None:
    results, sim = probed
    ws = sim.workspace
    assert results["evals"]["ok"] == [ws.list_row(ev) for ev in ws.evals]
    done = a_done_eval(sim)
    assert results["evals_filtered"]["ok"] == [
        ws.list_row(ev) for ev in ws.select(project=done.project, status="done")]
    assert results["eval"] == ws.get_body(done)


def test_sdk_panels_are_the_builders_bodies(probed: tuple[dict[str, Any], SimHandle]) -> None:
    results, sim = probed
    ws, done = sim.workspace, a_done_eval(sim)
    expected = {
        "map-results": ws.panel_body(done, "map-results"),
        "confidence-sweep": ws.panel_body(done, "confidence-sweep"),
        "performance-by-class": ws.panel_body(done, "performance-by-class", "valid"),
        "confusion-matrix": ws.panel_body(done, "confusion-matrix", "train", 50),
        "vector-analysis": ws.panel_body(done, "vector-analysis", None, 50),
        "image-predictions": ws.image_page(done, "test", 50, 2, 5),
        "recommendations": ws.panel_body(done, "recommendations"),
        "defaults:performance-by-class": ws.panel_body(done, "performance-by-class"),
        "defaults:confusion-matrix": ws.panel_body(done, "confusion-matrix"),
        "defaults:image-predictions": ws.image_page(done, None, None, 0, 200),
        "compare": ws.compare_body(done.project or "", done.version_id, None),
        "compare:f1": ws.compare_body(done.project or "", done.version_id, "f1")}
    for name, body in expected.items():
        assert results[name] == {"ok": body}, name


@pytest.mark.parametrize(("call", "error"), [
    ("error:not_found", "ModelEvalNotFoundError"),
    ("error:not_done", "ModelEvalNotDoneError"),
    ("error:invalid_split", "InvalidSplitError"),
    ("error:invalid_confidence", "InvalidConfidenceError"),
    ("error:report_not_found", "ModelEvalNotFoundError"),  # any 404 code, per the SDK
    ("error:bad_key", "ModelEvalAccessError"),
    ("error:other_workspace", "ModelEvalAccessError"),
    ("error:filters", "RoboflowError"),
    ("error:compare_project", "ModelEvalNotFoundError")])  # any 404, per the SDK
def test_sdk_error_mapping(probed: tuple[dict[str, Any], SimHandle], call: str,
                           error: str) -> None:
    results, _ = probed
    assert results[call]["error"] == error
    assert KEY not in results[call]["message"]


@pytest.mark.parametrize(("argv", "exit_code"), [
    (["eval", "get", "{done}"], 0), (["eval", "map-results", "nope"], 3),
    (["eval", "map-results", "{running}"], 4),
    (["eval", "performance-by-class", "{done}", "--split", "all"], 5),
    (["eval", "compare", "-p", "{project}", "-v", "{version}"], 0)])
def test_roboflow_cli_exit_codes(sim: SimHandle, argv: list[str], exit_code: int) -> None:
    running = next(ev.eval_id for ev in sim.workspace.evals if ev.status == "running")
    done = a_done_eval(sim)
    args = [a.format(done=done.eval_id, running=running, project=done.project,
                     version=done.version_id) for a in argv]
    command = [sys.executable, "-m", "roboflow.roboflowpy", "--json", "-w", "acme", *args]
    result = subprocess.run(command, env=sdk_env(sim), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == exit_code, result.stderr
    if exit_code == 0 and argv[1] == "compare":  # the CLI prints the body as served
        assert json.loads(result.stdout) == sim.workspace.compare_body(
            done.project or "", done.version_id, None)
    elif exit_code == 0:
        assert json.loads(result.stdout) == sim.workspace.get_body(done)
