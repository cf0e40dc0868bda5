"""``doctor`` against the simulator: all ok, and each broken piece named with exit 8."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl.errors import EXIT_CHECK_FAILED
from etl.simulator import SimHandle
from tests.support import cli
from tests.support.runs import simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=76, evals=6, images=(5, 20), scopeless_key="no-scope-key") as handle:
        yield handle


def _doctor(url: str, out: Path, key: str, *extra: str) -> tuple[int, dict[str, dict]]:
    done = cli.run("doctor", "--workspace", "acme", "--api-url", url, "--out", str(out),
                   "--format", "json", *extra, env={"ROBOFLOW_API_KEY": key})
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is (done.returncode == 0)
    return done.returncode, {c["check"]: c for c in report["checks"]}


def test_a_good_set_up_is_ready_and_writes_nothing(sim: SimHandle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, checks = _doctor(sim.url, out, sim.options.api_key)
    assert code == 0, checks
    assert {name: c["state"] for name, c in checks.items()} == {
        name: "ok" for name in ("config", "api", "key", "scope", "filters", "out", "disk",
                                "database")}
    assert not out.exists()
    text = cli.run("doctor", "--workspace", "acme", "--api-url", sim.url, "--out", str(out),
                   env={"ROBOFLOW_API_KEY": sim.options.api_key})
    assert text.returncode == 0 and text.stdout.splitlines()[0].startswith("ok ")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(("case", "failing"), [
    ("wrong key", "key"), ("key without scope", "scope"), ("unreachable", "api"),
    ("no key", "config"), ("stopped warehouse", "warehouse")])
def test_each_broken_piece_is_named_and_fails(case: str, failing: str, sim: SimHandle,
                                              tmp_path: Path) -> None:
    url, key, extra = sim.url, sim.options.api_key, []
    if case == "wrong key":
        key = "not-a-key"
    elif case == "key without scope":
        key = "no-scope-key"
    elif case == "unreachable":
        url = f"http://127.0.0.1:{_closed_port()}"
    elif case == "no key":
        key = ""
    else:
        extra = ["--to", f"postgresql://evals@127.0.0.1:{_closed_port()}/evals"]
    code, checks = _doctor(url, tmp_path / "out", key, *extra)
    assert code == EXIT_CHECK_FAILED
    assert checks[failing]["state"] == "fail", checks
    assert [n for n, c in checks.items() if c["state"] == "fail"] == [failing]
    if failing != "config":
        assert checks[failing]["fix"] or failing == "warehouse"
    for c in checks.values():
        assert sim.options.api_key not in json.dumps(c)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder this process cannot write: a read-only tmpfs as root (which ignores modes)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
            capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_output_folder_fails_doctor_and_export_before_any_request(
        sim: SimHandle, read_only: Path) -> None:
    code, checks = _doctor(sim.url, read_only, sim.options.api_key)
    assert code == EXIT_CHECK_FAILED and checks["out"]["state"] == "fail"
    assert "not writable" in checks["out"]["detail"]
    before = sim.stats.snapshot().requests
    done = cli.export(sim.url, read_only, key=sim.options.api_key)
    assert done.returncode == 2 and "not writable" in done.stderr
    assert sim.stats.snapshot().requests == before
