"""Every run on record, a JSON log that is JSON to the last line, and a metrics textfile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from etl import history
from etl.simulator import SimHandle
from etl.store import publish
from tests.support.runs import simulator

ROOT = Path(__file__).resolve().parents[2]


def _export(sim: SimHandle, out: Path, *extra: str, key: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROBOFLOW_API_KEY": key or sim.options.api_key}
    return subprocess.run([sys.executable, "-m", "etl", "export", "--workspace", "acme",
                           "--api-url", sim.url, "--out", str(out), "--log-format", "json",
                           "--concurrency", "4", *extra], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=120)


def _records(stderr: str) -> list[dict]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line parses, or this raises


def test_runs_that_publish_and_runs_that_do_not_are_all_on_record(tmp_path: Path) -> None:
    out, metrics = tmp_path / "out", tmp_path / "metrics" / "evals_etl.prom"
    with simulator(seed=71, evals=4, images=(5, 20)) as sim:
        ok = _export(sim, out, "--metrics-file", str(metrics))
        refused = _export(sim, out, key="wrong-key")
        with publish.RunLock(out):
            locked = _export(sim, out)
    assert (ok.returncode, refused.returncode, locked.returncode) in [(0, 4, 5), (3, 4, 5)]
    for done in (ok, refused, locked):
        last = _records(done.stderr)[-1]
        assert last["event"] == "finished" and last["exit_code"] == done.returncode
        assert last["status"] in ("success", "partial", "refused")
    runs = history.read(out)
    assert [(r["exit_code"], r["published"]) for r in runs] == [
        (ok.returncode, True), (4, False), (5, False)]
    assert "401" in runs[1]["reason"] or "refused" in runs[1]["reason"]
    assert "in use" in runs[2]["reason"]

    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    summary = _records(ok.stderr)[-1]
    sample = {f: families[f].samples for f in families}
    assert sample["evals_etl_run_requests"][0].value == summary["requests"]
    assert sample["evals_etl_run_exit_code"][0].value == ok.returncode
    status = {s.labels["status"]: s.value for s in sample["evals_etl_run_status"]}
    assert status[summary["status"]] == 1 and sum(status.values()) == 1
    units = {s.labels["state"]: s.value for s in sample["evals_etl_run_units"]}
    assert {k: v for k, v in units.items() if v} == summary["units"]
    assert sample["evals_etl_last_success_timestamp_seconds"][0].value > 0
