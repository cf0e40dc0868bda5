"""Each way a run can fail is on record, in JSON to the last line, and fails the health check.

For every failure class (the key refused, the API down before the listing, the folder locked
by another run, a SIGTERM mid-crawl; a full disk is in reliability/test_disk_full.py): every
line the run writes parses as JSON, its final record has ``status`` and ``exit_code``, the
run appears first in ``status --format json``, and ``status --check`` exits 8 saying why.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl.errors import EXIT_AUTH, EXIT_CHECK_FAILED, EXIT_LOCKED, EXIT_USAGE
from etl.simulator import SimHandle
from etl.store import publish
from tests.support import cli
from tests.support.runs import simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=73, evals=5, images=(5, 20)) as handle:
        yield handle


@pytest.fixture(scope="module")
def published(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one good run, copied by each test that then fails a run in it."""
    out = tmp_path_factory.mktemp("good") / "out"
    done = cli.export(sim.url, out, key=sim.options.api_key)
    assert done.returncode in (0, 3), done.stderr
    return out


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _fail(kind: str, sim: SimHandle, out: Path) -> tuple[int, str]:
    if kind == "401":
        done = cli.export(sim.url, out, key="not-the-key")
    elif kind == "api-down":
        done = cli.export(_closed_port(), out, key=sim.options.api_key)
    elif kind == "locked":
        with publish.RunLock(out):
            done = cli.export(sim.url, out, key=sim.options.api_key)
    else:
        done = cli.export(sim.url, out, "--full-refresh", key=sim.options.api_key,
                          env={cli.CRASH_ENV: "listed:SIGTERM"})
    return done.returncode, done.stderr


EXPECTED = {"401": (EXIT_AUTH, "401"), "api-down": (6, "127.0.0.1"),
            "locked": (EXIT_LOCKED, "in use"), "sigterm": (143, "SIGTERM")}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_failed_run_is_on_record_and_fails_the_health_check(
        kind: str, sim: SimHandle, published: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(published, out, symlinks=True)
    code, stderr = _fail(kind, sim, out)
    want_code, word = EXPECTED[kind]
    assert code == want_code, stderr
    lines = cli.json_lines(stderr)  # every line is JSON, the fatal one included
    final = lines[-1]
    assert final["exit_code"] == code and final["status"] in ("refused", "failed", "interrupted")
    assert word in final["msg"]

    status = cli.run("status", "--out", str(out), "--format", "json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["runs"][0]["exit_code"] == code and not report["runs"][0]["published"]
    assert report["runs"][1]["published"]  # the good run is still there, and its data
    assert report["healthy"] is False and report["data_age_hours"] is not None

    check = cli.run("status", "--out", str(out), "--check")
    assert check.returncode == EXIT_CHECK_FAILED
    assert check.stdout.startswith("unhealthy: ") and word in check.stdout
    assert len(check.stdout.strip().splitlines()) == 1


def test_a_good_run_passes_and_an_old_one_fails_the_age_limit(published: Path) -> None:
    check = cli.run("status", "--out", str(published), "--check", "--max-age", "24")
    assert check.returncode == 0 and check.stdout.startswith("healthy: "), check.stdout
    stale = cli.run("status", "--out", str(published), "--check", "--max-age", "0.000001")
    assert stale.returncode == EXIT_CHECK_FAILED and "allowed" in stale.stdout


def test_a_partial_run_is_judged_by_the_accept_partial_setting(tmp_path: Path) -> None:
    with simulator(seed=74, evals=12, images=(5, 20), missing_panel_rate=0.3) as sim:
        out = tmp_path / "out"
        done = cli.export(sim.url, out, key=sim.options.api_key)
        assert done.returncode == 3
    # Each panel not ok is its own JSON record, with the fields a log query filters on.
    panels = [r for r in cli.json_lines(done.stderr) if r.get("event") == "panel_not_ok"]
    assert panels and all(r["eval_id"] and r["panel"] and r["state"] == "unavailable"
                          and r["http_status"] == 409 for r in panels)
    verdicts = {}
    for accept in ("never", "unavailable", "always"):
        settings = tmp_path / f"{accept}.toml"
        settings.write_text(f'[health]\naccept_partial = "{accept}"\n')
        verdicts[accept] = cli.run("status", "--out", str(out), "--check", "--config",
                                   str(settings)).returncode
    assert verdicts == {"never": EXIT_CHECK_FAILED, "unavailable": 0, "always": 0}


def test_the_same_mistakes_get_exit_2_in_every_reading_command(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    for command in (["status"], ["query", "select 1"], ["views"], ["report"],
                    ["load", "--to", "postgresql://nowhere/db"]):
        for out in (tmp_path / "missing", a_file, "s3://bucket/out"):
            done = cli.run(*command[:1], "--out", str(out), *command[1:])
            assert done.returncode == EXIT_USAGE, (command, out, done.stderr)
            assert "Traceback" not in done.stderr
    done = cli.run("status", "--out", str(tmp_path / "missing"), "--check")
    assert done.returncode == EXIT_USAGE


def test_refusals_before_any_reporter_are_json_too_when_json_was_asked_for(
        tmp_path: Path) -> None:
    for args, env in ((["export", "--out", "s3://bucket/x", "--log-format", "json"], {}),
                      (["export", "--bogus", "--log-format=json"], {}),
                      (["export", "--workspace", "acme", "--out", str(tmp_path / "o"),
                        "--log-format", "json"], {"ROBOFLOW_API_KEY": ""})):
        done = cli.run(*args, env=env)
        (record,) = cli.json_lines(done.stderr)
        assert done.returncode == EXIT_USAGE == record["exit_code"]
        assert record["status"] == "refused" and record["event"] == "finished"
