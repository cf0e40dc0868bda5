"""Servers and gateways that misbehave in ways the simulator does not: echoed secrets, gzip
bombs, endless bodies, redirects, error envelopes in a 200, bodies nested 100,000 deep, and
pages whose ``totalImages`` lies. Each runs as a real proxy in front of the simulator.
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
from aiohttp import web

from etl.simulator import SimHandle
from tests.support.hostile import echo_headers, endless, gzip_bomb, hostile_proxy
from tests.support.runs import dataset, simulator, table

ROOT = Path(__file__).resolve().parents[3]
KEY = "rf-HOSTILE-0c1f7e22a9b34d58"
PANEL_PATHS = ("/model-evals/",)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with simulator(api_key=KEY, seed=61, evals=6, images=(40, 1500), latency_ms=2,
                   running_rate=0, failed_rate=0, missing_panel_rate=0) as handle:
        yield handle


# The export in-process, then its own peak RSS, written to a pipe of its own. VmHWM, not
# ru_maxrss: Linux carries a forking parent's (the test worker's) ru_maxrss over into the child.
MEASURED = """
import os, sys
from etl.cli import main
code = main(sys.argv[1:])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
os.write(int(os.environ["PEAK_FD"]), hwm.encode())
sys.exit(code)
"""


def run(url: str, out: Path, *extra: str, log_format: str = "json",
        concurrency: int = 4) -> tuple[subprocess.CompletedProcess[bytes], int]:
    """``evals-etl export`` through ``url``; returns the process and its peak RSS in kB."""
    config = out.parent / f"{out.name}.toml"
    config.write_text(f'workspace = "acme"\n[api]\nurl = "{url}"\n'
                      "read_timeout = 60\ntotal_timeout = 300\n"
                      f"[crawl]\nconcurrency = {concurrency}\nbackoff_base = 0.01\n"
                      "backoff_max = 0.05\nnot_done_seconds = 0.5\n")
    read, write = os.pipe()
    env = {**os.environ, "ROBOFLOW_API_KEY": KEY, "PEAK_FD": str(write)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", MEASURED, "export", "--config", str(config), "--out",
             str(out), "--log-format", log_format, *extra], env=env, cwd=ROOT,
            capture_output=True, timeout=180, check=False, pass_fds=(write,))
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as pipe:
        peak = pipe.read().decode() or "0"
    return done, int(peak)


def forms(key: str) -> list[bytes]:
    from urllib.parse import quote
    return [key.encode(), quote(key, safe="").encode()]


def assert_nowhere(key: str, *, streams: list[bytes], folder: Path) -> None:
    for needle in forms(key):
        for stream in streams:
            assert needle not in stream, stream[-500:]
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert needle not in path.read_bytes(), f"the key is in {path}"


def panel_status(out: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["eval_id"], r["panel"], r["params"]): r
            for r in table(out, "panel_status").to_pylist()}


@pytest.fixture(scope="module")
def clean(sim: SimHandle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "out"
    done, _ = run(sim.url, out)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    return out


ECHO_STATUSES = [500, 502, 503, 429, 400, 404, 409]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_gateway_echoing_the_key_leaks_it_nowhere(sim: SimHandle, tmp_path: Path,
                                                    log_format: str) -> None:
    async def behave(request: web.Request, n: int) -> web.StreamResponse | None:
        i = sum(map(ord, request.path_qs))
        if n == 1 and i % 3 == 0:  # every endpoint, every error class, each URL once
            status = ECHO_STATUSES[i % len(ECHO_STATUSES)]
            body = echo_headers(request)
            if i % 2:
                body = json.dumps({"error": "gateway", "message": body})
            return web.Response(status=status, text=body)
        if n == 1 and i % 3 == 1:  # a 200 that is an error envelope quoting the key
            return web.json_response({"error": "rate_limited",
                                      "message": f"slow down, {request.headers['Authorization']}"})
        return None

    with hostile_proxy(sim.url, behave) as proxy:
        done, _ = run(proxy.url, tmp_path / "out", log_format=log_format)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    status = subprocess.run([sys.executable, "-m", "etl", "status", "--out",
                             str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                            check=False)
    assert_nowhere(KEY, streams=[done.stdout, done.stderr, status.stdout, status.stderr],
                   folder=tmp_path)
    messages = " ".join(str(r["message"]) for r in panel_status(tmp_path / "out").values())
    assert "Bearer" not in messages or "[REDACTED]" in messages


def test_a_payload_carrying_the_key_is_stored_without_it(tmp_path: Path) -> None:
    def inject(kind: str, eval_id: str, body: dict[str, Any]) -> None:
        if kind == "performance-by-class":  # a class named after the caller's header
            body["classes"][0]["className"] = f"cls Bearer {KEY}"
        if kind == "image-predictions" and body.get("images"):
            body["images"][0]["name"] = f"{KEY}.jpg"

    with simulator(api_key=KEY, seed=62, evals=3, images=(5, 20), running_rate=0,
                   failed_rate=0, mutate=inject) as sim:
        done, _ = run(sim.url, tmp_path / "out")
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert_nowhere(KEY, streams=[done.stdout, done.stderr], folder=tmp_path)
    names = {r["class_name"] for r in table(tmp_path / "out", "class_metrics").to_pylist()}
    assert "cls Bearer [REDACTED]" in names


@pytest.mark.parametrize("kind", ["gzip-bomb", "endless"])
def test_an_oversize_body_ends_its_unit_in_bounded_memory(kind: str, sim: SimHandle,
                                                          tmp_path: Path) -> None:
    bomb = gzip_bomb() if kind == "gzip-bomb" else b""

    async def behave(request: web.Request, n: int) -> web.StreamResponse | None:
        if "/image-predictions" not in request.path:
            return None
        if kind == "endless":
            return await endless(request, 200 << 20)
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip",
                                                "Content-Type": "application/json"})

    with hostile_proxy(sim.url, behave) as proxy:
        done, peak_kb = run(proxy.url, tmp_path / "out")
    assert done.returncode == 3, done.stderr[-2000:]
    # The documented bound: about concurrency (4) x the 32 MiB cap, above a ~150 MB baseline;
    # without the caps the bomb alone inflates to 1 GiB per request.
    print(f"\n{kind}: peak RSS {peak_kb / 1024:.0f} MB")
    assert peak_kb < 400 * 1024
    images = [r for k, r in panel_status(tmp_path / "out").items() if k[1] == "image-predictions"]
    assert images and all(r["state"] == "error" for r in images)
    assert all(r["error_code"] == "response_too_large" for r in images)
    others = [r for k, r in panel_status(tmp_path / "out").items()
              if k[1] != "image-predictions"]
    assert all(r["state"] == "ok" for r in others)  # one bad panel costs its own unit only


def test_a_redirect_is_not_followed_and_says_where_it_pointed(sim: SimHandle,
                                                               tmp_path: Path) -> None:
    async def behave(request: web.Request, n: int) -> web.StreamResponse | None:
        if "/recommendations" in request.path:
            raise web.HTTPFound(f"https://login.example.com/sso?api_key={KEY}&next=/x")
        return None

    with hostile_proxy(sim.url, behave) as proxy:
        done, _ = run(proxy.url, tmp_path / "out")
    assert done.returncode == 3
    recs = [r for k, r in panel_status(tmp_path / "out").items() if k[1] == "recommendations"]
    assert recs and all(r["state"] == "error" and r["http_status"] == 302 for r in recs)
    assert all("redirect to https://login.example.com not followed" in r["message"]
               for r in recs)
    assert_nowhere(KEY, streams=[done.stdout, done.stderr], folder=tmp_path)


def test_retryable_envelopes_and_deep_error_bodies_are_retried_to_the_clean_result(
        sim: SimHandle, clean: Path, tmp_path: Path) -> None:
    async def behave(request: web.Request, n: int) -> web.StreamResponse | None:
        if n == 1 and hash(request.path_qs) % 2:
            return web.json_response({"error": "service_unavailable", "message": "later"})
        if n <= 2 and "/confidence-sweep" in request.path:
            return web.Response(status=503, body=b"[" * 100_000)
        return None

    with hostile_proxy(sim.url, behave) as proxy:
        done, _ = run(proxy.url, tmp_path / "out")
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert b"Traceback" not in done.stderr and b"RecursionError" not in done.stderr
    assert dataset(tmp_path / "out") == dataset(clean)
    assert {k: r["state"] for k, r in panel_status(tmp_path / "out").items()} == {
        k: r["state"] for k, r in panel_status(clean).items()}


def _image_requests(sim: SimHandle, eval_id: str) -> int:
    by_path = sim.stats.snapshot().by_path
    return sum(n for path, n in by_path.items()
               if eval_id in path and path.split("?")[0].endswith("/image-predictions"))


@pytest.mark.parametrize(("claimed", "where", "images"), [
    (2_000_000, "first", (100, 164)),  # one short page claiming two million
    (10**9, "first", (1500, 1800)),  # past crawl.max_images_per_unit
    (2_000_000, "later", (1500, 1800)),  # full pages, then one that ends the data
])
def test_a_lying_total_images_costs_a_bounded_number_of_requests(
        claimed: int, where: str, images: tuple[int, int], tmp_path: Path) -> None:
    liar: dict[str, str] = {}

    def lie(kind: str, eval_id: str, body: dict[str, Any]) -> None:
        if kind != "image-predictions" or liar.setdefault("eval", eval_id) != eval_id:
            return
        if where == "first" or body.get("offset", 0) > 0:
            body["totalImages"] = claimed

    with simulator(api_key=KEY, seed=63, evals=2, images=images, running_rate=0,
                   failed_rate=0, missing_panel_rate=0, mutate=lie) as sim:
        done, _ = run(sim.url, tmp_path / "out")
        spent = _image_requests(sim, liar["eval"])
    assert done.returncode == 3
    (unit,) = [r for k, r in panel_status(tmp_path / "out").items()
               if k[0] == liar["eval"] and k[1] == "image-predictions"]
    assert unit["state"] == "error" and "totalImages" in unit["message"]
    # The bound: one request when the first page already refutes the total; otherwise the
    # pages up to the first short one, plus one in flight per paging worker, per pass (two).
    assert spent <= (1 if where == "first" else 2 * (2 + 8)), spent


def test_a_get_that_disagrees_with_the_listing_is_fetched_again(tmp_path: Path) -> None:
    def running(kind: str, eval_id: str, body: dict[str, Any]) -> None:
        if kind == "get":
            body["status"] = "running"  # the listing says done

    with simulator(api_key=KEY, seed=64, evals=2, images=(5, 10), running_rate=0,
                   failed_rate=0, missing_panel_rate=0, mutate=running) as sim:
        done, _ = run(sim.url, tmp_path / "out")
    gets = [r for k, r in panel_status(tmp_path / "out").items() if k[1] == "get"]
    assert done.returncode == 3
    assert gets and all(r["state"] == "unavailable" and r["error_code"] == "listing_mismatch"
                        for r in gets)
    with simulator(api_key=KEY, seed=64, evals=2, images=(5, 10), running_rate=0,
                   failed_rate=0, missing_panel_rate=0) as sim:
        again, _ = run(sim.url, tmp_path / "out")
    assert again.returncode == 0
    assert all(r["state"] == "ok" for k, r in panel_status(tmp_path / "out").items()
               if k[1] == "get")


def test_conflicting_duplicates_and_garbage_rows_in_a_listing_warn_once_per_kind(
        tmp_path: Path) -> None:
    def garbage(kind: str, eval_id: str, body: dict[str, Any]) -> None:
        if kind == "list" and body.get("evals"):
            twin = {**body["evals"][0], "versionId": "999"}
            body["evals"] += [twin] + [{"evalId": f"junk{i}"} for i in range(150)]

    with simulator(api_key=KEY, seed=65, evals=3, images=(5, 10), mutate=garbage) as sim:
        done, _ = run(sim.url, tmp_path / "out")
    lines = done.stderr.decode().splitlines()
    warnings = [line for line in lines if '"level": "warning"' in line]
    assert len(warnings) < 10, "\n".join(warnings[:20])
    assert any("listed twice with different fields; kept the first" in w for w in warnings)
    assert any("150 times" in w or "times: listing" in w for w in warnings)


def test_a_key_with_a_line_break_is_a_usage_error_that_does_not_print_it(
        sim: SimHandle, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'workspace = "acme"\n[api]\nurl = "{sim.url}"\n')
    before = sim.stats.snapshot().requests
    done = subprocess.run([sys.executable, "-m", "etl", "export", "--config", str(config),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                          env={**os.environ, "ROBOFLOW_API_KEY": f"{KEY}\nX-Injected: 1"},
                          check=False)
    assert done.returncode == 2
    assert b"line break" in done.stderr and KEY.encode() not in done.stderr
    assert sim.stats.snapshot().requests == before  # caught before any request


def test_the_standard_proxy_variables_are_honoured(sim: SimHandle, clean: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def forward(request: web.Request, n: int) -> None:
        return None  # a plain forwarding proxy

    with hostile_proxy(sim.url, forward) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        done, _ = run(sim.url, tmp_path / "via")
        through = sum(proxy.seen.values())
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        direct, _ = run(sim.url, tmp_path / "direct")
        bypassed = sum(proxy.seen.values()) - through
    assert done.returncode in (0, 3) and direct.returncode in (0, 3)
    assert through > 10 and bypassed == 0
    assert dataset(tmp_path / "via") == dataset(clean)
