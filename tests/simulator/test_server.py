"""Running the simulator: in the caller's loop, in a thread, and as ``evals-etl simulate``."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading

import aiohttp
import pytest

from etl.simulator import SimOptions, serve, serve_in_thread
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
