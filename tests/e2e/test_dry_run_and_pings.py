"""``export --dry-run`` asks only the list route and writes nothing; pings reach a local
monitoring server at start and end, with the outcome and never the key."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from etl.simulator import SimHandle
from tests.support import cli
from tests.support.folders import tree
from tests.support.runs import simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(seed=75, evals=6, images=(5, 20), running_rate=0.2) as handle:
        yield handle


def _routes(sim: SimHandle, before: dict) -> dict[str, int]:
    after = sim.stats.snapshot().by_route
    return {route: n - before.get((route, status), 0)
            for (route, status), n in after.items() if n - before.get((route, status), 0)}


def _contents(out: Path) -> dict[str, object]:
    """Every entry with its kind, size, mtime and bytes (or link target)."""
    found: dict[str, object] = {}
    for rel, entry in tree(out).items():
        path = out / rel if rel != "." else out
        if entry[1] == "file":
            found[rel] = (entry, hashlib.sha256(path.read_bytes()).hexdigest())
        elif entry[1] == "link":
            found[rel] = (entry, str(path.readlink()))
        else:
            found[rel] = entry
    return found


def _plan(done: object) -> dict:
    lines = cli.json_lines(done.stderr)  # type: ignore[attr-defined]
    return next(line for line in lines if line.get("event") == "dry_run")


def test_a_dry_run_lists_only_and_leaves_the_folder_byte_for_byte(
        sim: SimHandle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = sim.stats.snapshot().by_route
    fresh = cli.export(sim.url, out, "--dry-run", key=sim.options.api_key)
    assert fresh.returncode == 0, fresh.stderr
    assert set(_routes(sim, before)) == {"list"} and not out.exists()
    plan = _plan(fresh)
    assert plan["mode"] == "full" and plan["evals"]["new"] == plan["evals_listed"] == 6
    assert plan["requests_at_least"] == sum(plan["units"].values()) > 6

    assert cli.export(sim.url, out, key=sim.options.api_key).returncode in (0, 3)
    was = _contents(out)
    before = sim.stats.snapshot().by_route
    again = cli.export(sim.url, out, "--dry-run", key=sim.options.api_key)
    assert again.returncode == 0, again.stderr
    assert set(_routes(sim, before)) == {"list"}
    assert _contents(out) == was
    plan = _plan(again)
    assert plan["mode"] == "incremental" and plan["evals"]["new"] == 0
    # Evals still running are asked again; every done one is unchanged.
    assert plan["evals"]["pending"] + plan["evals"]["unchanged"] == 6
    text = cli.export(sim.url, out, "--dry-run", "--log-format", "text",
                      key=sim.options.api_key)
    assert "nothing was fetched or written" in text.stdout


class _Monitor(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.seen.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def monitor() -> Iterator[str]:
    _Monitor.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Monitor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/a1b2"
    finally:
        server.shutdown()


def _export_with(sim: SimHandle, out: Path, extra_toml: str, key: str) -> object:
    config = out.parent / "run.toml"
    config.write_text("[crawl]\nbackoff_base = 0.01\nbackoff_max = 0.05\nmax_attempts = 2\n"
                      f"not_done_seconds = 0.5\n{extra_toml}")
    return cli.run("export", "--config", str(config), "--workspace", "acme", "--api-url",
                   sim.url, "--out", str(out), "--log-format", "json",
                   env={"ROBOFLOW_API_KEY": key})


def test_pings_say_start_then_the_outcome_and_never_carry_the_key(sim: SimHandle, monitor: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = _export_with(sim, out, f'[ping]\nurl = "{monitor}"\n', sim.options.api_key)
    assert good.returncode in (0, 3), good.stderr  # type: ignore[attr-defined]
    refused = _export_with(sim, out, f'[ping]\nurl = "{monitor}"\n', "wrong-key-123456")
    assert refused.returncode == 4  # type: ignore[attr-defined]
    paths = [path for path, _, _ in _Monitor.seen]
    assert paths == ["/ping/a1b2/start", "/ping/a1b2", "/ping/a1b2/start", "/ping/a1b2/fail"]
    assert "success" in _Monitor.seen[1][2] or "partial" in _Monitor.seen[1][2]
    assert "401" in _Monitor.seen[3][2] or "refused" in _Monitor.seen[3][2]
    for key in (sim.options.api_key, "wrong-key-123456"):
        assert key not in json.dumps(_Monitor.seen)
    # The ping URL is a capability: the logs never show it.
    assert "a1b2" not in refused.stderr  # type: ignore[attr-defined]
