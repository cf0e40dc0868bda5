"""Running the simulator: in the caller's loop, in a thread, and as ``evals-etl simulate``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import fields, replace
from pathlib import Path

import aiohttp
import pytest

from etl.simulator import SimOptions, generate, serve, serve_in_thread
from etl.simulator import cli as sim_cli

from .client import KEY, fetch


def port_is_open(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


@pytest.mark.anyio
async def test_serve_inside_the_running_loop() -> None:
    async with serve(SimOptions(evals=4)) as sim:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with (aiohttp.ClientSession(headers=headers) as session,
                    session.get(f"{sim.url}/acme/model-evals") as response):
            assert response.status == 200
            assert len((await response.json())["evals"]) == 4
        assert sim.stats.snapshot().requests == 1
    assert not port_is_open(sim.url)


def test_serve_in_thread_starts_and_stops() -> None:
    before = threading.active_count()
    with serve_in_thread(SimOptions(evals=2)) as sim:
        assert sim.url.startswith("http://127.0.0.1:")
        assert fetch(sim, "/acme/model-evals").status == 200
    assert not port_is_open(sim.url)
    assert threading.active_count() == before


def test_serve_in_thread_reports_a_bind_failure() -> None:
    with serve_in_thread(SimOptions(evals=1)) as sim:
        port = int(sim.url.rsplit(":", 1)[1])
        with pytest.raises(OSError), serve_in_thread(SimOptions(evals=1), port=port):
            pass


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sim_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_flags_become_options() -> None:
    args = parse("--seed", "3", "--evals", "9", "--images", "5", "10", "--fault-rate", "0.2",
                 "--fault-kinds", "429", "drop", "--list-order", "random", "--limit-over-max",
                 "reject", "--filter-combination", "most_specific", "--image-default-split",
                 "test", "--default-confidence", "optimal", "--header-fields",
                 "--confidences", "10", "90")
    options = sim_cli.options_from(args, environ={})
    assert (options.seed, options.evals, options.images, options.fault_rate) == (3, 9, (5, 10),
                                                                                 0.2)
    assert options.fault_kinds == ("429", "drop") and options.list_order == "random"
    assert (options.limit_over_max, options.filter_combination) == ("reject", "most_specific")
    assert (options.image_default_split, options.default_confidence) == ("test", "optimal")
    assert options.header_fields and options.confidences == (10, 90)
    assert sim_cli.options_from(parse(), environ={}) == SimOptions()
    keyed = sim_cli.options_from(parse("--api-key-env", "SIM_KEY"), environ={"SIM_KEY": "k2"})
    assert keyed.api_key == "k2"
    with pytest.raises(ValueError):
        sim_cli.options_from(parse("--api-key-env", "SIM_KEY"), environ={})
    with pytest.raises(ValueError):
        sim_cli.options_from(parse("--fault-rate", "2"), environ={})


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_simulate_command_serves_until_signalled(signum: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "etl", "simulate", "--port", "0", "--evals", "5", "--seed", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert "workspace 'acme'" in line and KEY not in line
        reply = fetch(url, "/acme/model-evals")
        assert reply.status == 200 and len(reply.json()["evals"]) == 5
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_every_option_has_a_flag() -> None:
    args = parse("--classes", "2", "5", "--running-rate", "0.2", "--failed-rate", "0.1",
                 "--deleted-project-rate", "0.3", "--semseg-rate", "0.5",
                 "--missing-panel-rate", "0.25", "--recs-not-generated-rate", "0.4",
                 "--model-id-null-rate", "0.6", "--fault-max-per-url", "2",
                 "--retry-after-seconds", "7", "--down-after", "40", "--down-seconds", "1.5",
                 "--latency-jitter-ms", "12.5", "--finish-after", "9",
                 "--not-done-first-calls", "3")
    options = sim_cli.options_from(args, environ={})
    assert options == replace(
        SimOptions(), classes=(2, 5), running_rate=0.2, failed_rate=0.1,
        deleted_project_rate=0.3, semseg_rate=0.5, missing_panel_rate=0.25,
        recs_not_generated_rate=0.4, model_id_null_rate=0.6, fault_max_per_url=2,
        retry_after_seconds=7, down_after=40, down_seconds=1.5, latency_jitter_ms=12.5,
        finish_after=9, not_done_first_calls=3)
    served_by_flags = {f.name for f in fields(SimOptions)} - {"api_key", "scopeless_key",
                                                               "mutate"}
    defaults = sim_cli.options_from(parse(), environ={})
    changed = {f.name for f in fields(SimOptions)
               if getattr(options, f.name) != getattr(defaults, f.name)}
    assert changed == {"classes", "running_rate", "failed_rate", "deleted_project_rate",
                       "semseg_rate", "missing_panel_rate", "recs_not_generated_rate",
                       "model_id_null_rate", "fault_max_per_url", "retry_after_seconds",
                       "down_after", "down_seconds", "latency_jitter_ms", "finish_after",
                       "not_done_first_calls"}
    flags = set(vars(parse()))
    assert served_by_flags <= flags  # every data or serving knob is reachable from argv
    for bad in (("--finish-after", "-1"), ("--latency-jitter-ms", "-3"),
                ("--not-done-first-calls", "-2"), ("--classes", "4", "2")):
        with pytest.raises(ValueError):
            sim_cli.options_from(parse(*bad), environ={})


def simulate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etl", "simulate", *argv],
                          check=False, capture_output=True, text=True, timeout=60)


def test_ground_truth_only_writes_and_exits(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "truth.json"
    done = simulate("--port", "0", "--evals", "7", "--seed", "4", "--classes", "2", "3",
                    "--ground-truth", str(target), "--ground-truth-only")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # never served
    options = SimOptions(evals=7, seed=4, classes=(2, 3))
    assert json.loads(target.read_text(encoding="utf-8")) == generate(options).ground_truth()
    assert [p.name for p in target.parent.iterdir()] == ["truth.json"]
    missing = simulate("--ground-truth-only")
    assert missing.returncode == 2 and "--ground-truth FILE" in missing.stderr
    unwritable = simulate("--ground-truth", str(tmp_path), "--ground-truth-only")
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr


def test_ground_truth_is_written_before_serving(tmp_path: Path) -> None:
    target = tmp_path / "truth.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "etl", "simulate", "--port", "0", "--evals", "6", "--seed", "8",
         "--ground-truth", str(target), "--ground-truth-image-confusion"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" at ", 1)[1].split()[0]
        written = json.loads(target.read_text(encoding="utf-8"))
        assert "image_confusion" in written["rows"]
        served = fetch(url, "/__sim__/ground-truth", {"image_confusion": "1"}, key=None).json()
        assert served == written
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
