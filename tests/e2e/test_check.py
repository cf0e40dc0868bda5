"""``evals-etl check`` on the demo dataset: exit codes, --since-last, the webhook received.

The dataset is the demo's (``etl.demo.run_demo``, seed 7); the webhook is a small HTTP server
in this process that answers 503 to its first POST, so the retry is exercised too.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from etl.cli import main
from etl.errors import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE

TOKEN = "T0KEN-in-the-webhook-path"
FIRES = """
[[rule]]
name = "must fire"
metric = "f1"
baseline = "best_so_far"
"""
QUIET = """
[[rule]]
name = "must not fire"
metric = "map50"
class = "truck"
tolerance = 1.0
"""


@pytest.fixture
def demo(demo_dataset: Path) -> Path:
    return demo_dataset


class Hook:
    """Records every POST; the first one gets a 503."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib names it
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.paths.append(self.path)
                hook.headers.append(dict(self.headers))
                self.send_response(503 if len(hook.bodies) == 1 else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/{TOKEN}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def check(out: Path, rules: Path | None, *extra: str) -> list[str]:
    return ["check", "--out", str(out), *(["--rules", str(rules)] if rules else []), *extra]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def test_a_rule_that_must_fire_exits_9_and_one_that_must_not_exits_0(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(check(demo, write(tmp_path, FIRES))) == EXIT_REGRESSION
    text = capsys.readouterr().out
    assert "REGRESSION" in text and "must fire: 3 regressed" in text
    assert main(check(demo, write(tmp_path, QUIET), "--format", "json")) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["regressed"] is False and report["findings"] == []
    assert report["rules"][0]["compared"] >= 1  # it did compare something


def test_since_last_is_quiet_on_the_second_run(demo: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rules = write(tmp_path, FIRES)
    assert main(check(demo, rules, "--since-last", "--format", "json")) == EXIT_REGRESSION
    assert len(json.loads(capsys.readouterr().out)["findings"]) == 3
    state = json.loads((demo / "state" / "check.json").read_text())
    assert len(state["findings"]) == 3
    assert main(check(demo, rules, "--since-last", "--format", "json")) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["findings"] == []
    assert main(check(demo, rules)) == EXIT_REGRESSION  # without the flag: everything again
    assert not list((demo / "state").glob(".check.json.*"))  # no temporary file left


def test_the_webhook_gets_one_post_per_batch_retried_without_secrets(
        demo: Path, tmp_path: Path, hook: Hook, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_ETL_TEST_HOOK", hook.url)
    rules = write(tmp_path, FIRES + '\n[notify]\nwebhook_url_env = "EVALS_ETL_TEST_HOOK"\n')
    assert main(check(demo, rules)) == EXIT_REGRESSION
    captured = capsys.readouterr()
    assert "webhook delivered (2 attempts)" in captured.out
    assert len(hook.bodies) == 2 and hook.bodies[0] == hook.bodies[1]  # 503, then retried
    body = hook.bodies[-1]
    assert body["text"].startswith("evals-etl check: 3 regression(s) in workspace acme")
    assert len(body["findings"]) == 3 and {f["rule"] for f in body["findings"]} == {"must fire"}
    assert all(f["value"] < f["baseline_value"] for f in body["findings"])
    assert "Authorization" not in hook.headers[-1]
    for text in (json.dumps(body), captured.out, captured.err):
        assert TOKEN not in text and "sim-key" not in text


def test_a_webhook_that_stays_down_is_a_warning_not_another_code(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = write(tmp_path, FIRES + f'\n[notify]\nwebhook_url = "http://127.0.0.1:9/{TOKEN}"\n'
                  "timeout_seconds = 1\n")
    assert main(check(demo, rules)) == EXIT_REGRESSION
    err = capsys.readouterr().err
    assert "webhook not delivered" in err and "127.0.0.1" in err and TOKEN not in err


def test_usage_mistakes_exit_2(demo: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(check(demo, write(tmp_path, "[[rule]]\nmetric = 'speed'\n"))) == EXIT_USAGE
    pinned = "[[rule]]\nmetric = 'f1'\nbaseline = 'pinned'\neval = 'gone'\n"
    assert main(check(demo, write(tmp_path, pinned))) == EXIT_USAGE
    assert main(check(tmp_path / "empty", None)) == EXIT_USAGE
    assert "metric must be one of" in capsys.readouterr().err


def test_since_last_that_cannot_record_its_state_is_a_usage_error(
        demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo, copy, symlinks=True)
    shutil.rmtree(copy / "state")
    (copy / "state").write_text("not a folder")
    assert main(check(copy, write(tmp_path, FIRES), "--since-last")) == EXIT_USAGE
    assert "--since-last cannot record" in capsys.readouterr().err
