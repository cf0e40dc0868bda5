"""The shipped cron line and systemd units, run as shipped: only their paths are moved into
a temporary folder. The cron line runs under ``env -i`` (what cron gives a job: a bare
environment) against the simulator; the units pass ``systemd-analyze verify``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etl.simulator import SimHandle
from tests.support.runs import simulator

ROOT = Path(__file__).resolve().parents[2]
CRON = ROOT / "configs" / "cron" / "evals-etl.cron"
UNITS = [ROOT / "configs" / "systemd" / name for name in ("evals-etl.service", "evals-etl.timer")]


def _install(tmp: Path) -> dict[str, Path]:
    """The recipe's folders, under ``tmp``, with this checkout's evals-etl as .venv/bin's."""
    places = {"/srv/evals-etl": tmp / "srv", "/etc/evals-etl": tmp / "etc",
              "/var/log/evals-etl": tmp / "log"}
    for folder in places.values():
        folder.mkdir(parents=True)
    (tmp / "srv" / ".venv" / "bin").mkdir(parents=True)
    (tmp / "srv" / ".venv" / "bin" / "evals-etl").symlink_to(
        Path(sys.executable).parent / "evals-etl")
    return places


def _moved(text: str, places: dict[str, Path]) -> str:
    for old, new in places.items():
        text = text.replace(old, str(new))
    return text


def _cron_line(places: dict[str, Path]) -> str:
    (line,) = [x for x in CRON.read_text().splitlines() if x.strip() and not x.startswith("#")]
    schedule, command = line.split(None, 5)[:5], line.split(None, 5)[5]
    assert len(schedule) == 5 and "ROBOFLOW_API_KEY" not in command  # no secret in argv
    return _moved(command, places)


def _run_cron(sim: SimHandle, tmp: Path, key: str) -> tuple[int, dict[str, Path]]:
    places = _install(tmp)
    etc = places["/etc/evals-etl"]
    (etc / "api-key").write_text(key + "\n")
    (etc / "api-key").chmod(0o600)
    (etc / "config.toml").write_text(
        f'workspace = "{sim.options.workspace}"\n[api]\nurl = "{sim.url}"\n'
        f'key_file = "{etc / "api-key"}"\n[output]\nout = "{places["/srv/evals-etl"] / "evals-out"}"\n'
        "[crawl]\nbackoff_base = 0.01\nbackoff_max = 0.05\nnot_done_seconds = 0.5\n")
    env = ["env", "-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", f"HOME={tmp}", "LOGNAME=cron"]
    done = subprocess.run([*env, "/bin/sh", "-c", _cron_line(places)], capture_output=True,
                          text=True, check=False, timeout=300)
    return done.returncode, places


def test_the_cron_line_with_a_wrong_key_fails_and_does_not_load(tmp_path: Path) -> None:
    with simulator(seed=78, evals=3, images=(5, 10)) as sim:
        code, places = _run_cron(sim, tmp_path, "wrong-key")
    log = places["/var/log/evals-etl"]
    assert code != 0
    records = [json.loads(x) for x in (log / "export.jsonl").read_text().splitlines() if x]
    assert records[-1]["exit_code"] == 4 and records[-1]["status"] == "refused"
    assert not (log / "load.log").exists()  # the load never ran


def test_the_cron_line_with_a_good_key_exports_then_runs_the_load(tmp_path: Path) -> None:
    with simulator(seed=78, evals=3, images=(5, 10)) as sim:
        code, places = _run_cron(sim, tmp_path, sim.options.api_key)
    log = places["/var/log/evals-etl"]
    records = [json.loads(x) for x in (log / "export.jsonl").read_text().splitlines() if x]
    assert records[-1]["exit_code"] in (0, 3)
    # The load ran (no warehouse-uri file here, so it fails, and the line says so).
    assert (log / "load.log").exists() and code == 2
    assert "warehouse-uri" in (log / "load.log").read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    places = _install(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        text = _moved(unit.read_text(), places).replace("User=evals-etl", "User=root")
        (units / unit.name).write_text(text)
    service = (units / "evals-etl.service").read_text()
    sections = [x for x in service.splitlines() if x.startswith("[")]
    assert sections == ["[Unit]", "[Service]"]  # no [Install]: the timer starts it, never boot
    assert "ROBOFLOW_API_KEY=" not in service.split("ExecStart=")[0]  # no key in the unit
    done = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           *(str(units / u.name) for u in UNITS)],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # A key it cannot parse is only a warning line (exit 0): any line naming a unit fails.
    problems = [line for line in (done.stdout + done.stderr).splitlines() if str(units) in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
