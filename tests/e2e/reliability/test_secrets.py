"""Secret hygiene and safe defaults: the key never lands anywhere but the Authorization header.

Every byte the tool writes (the whole output folder) and everything it prints (stdout and
stderr, in both log formats, on success and on each failure path) is scanned for the key.
"""

from __future__ import annotations

import io
import os
import ssl
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from etl.config import ApiConfig, Config, CrawlConfig, OutputConfig, Secret
from etl.errors import ApiError, TransientError
from etl.export import run_export
from etl.progress import Reporter
from etl.simulator import SimOptions, build_app, generate
from tests.support.runs import export, simulator

KEY = "rf-SECRET-7f3a9c51d2e84b60"


def _cli(sim_url: str, out: Path, key: str, *extra: str,
         log_format: str = "json") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ROBOFLOW_API_KEY": key}
    cmd = [sys.executable, "-m", "etl", "export", "--workspace", "acme", "--api-url", sim_url,
           "--out", str(out), "--concurrency", "4", "--log-format", log_format, *extra]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=False)


def _assert_nowhere(key: str, *, streams: list[bytes], folder: Path) -> None:
    needle = key.encode()
    for stream in streams:
        assert needle not in stream
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert needle not in path.read_bytes(), f"key found in {path}"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_the_key_is_in_no_output_no_file_and_no_url(tmp_path: Path, log_format: str) -> None:
    with simulator(api_key=KEY, evals=6, missing_panel_rate=0.3) as sim:
        ok = _cli(sim.url, tmp_path / "out", KEY, log_format=log_format)
        refused = _cli(sim.url, tmp_path / "out", KEY + "-wrong", log_format=log_format)
        stats = sim.stats.snapshot()
    assert ok.returncode in (0, 3), ok.stderr.decode()[-1000:]
    assert refused.returncode == 4
    assert b"401" in refused.stderr or b"refused" in refused.stderr
    _assert_nowhere(KEY, streams=[ok.stdout, ok.stderr, refused.stdout, refused.stderr],
                    folder=tmp_path)
    assert stats.query_key_requests == 0  # never ?api_key=
    assert stats.requests > 0


def test_the_key_is_not_in_failure_paths_or_tracebacks(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    with simulator(api_key=KEY, evals=2, fault_rate=1.0, fault_kinds=("500_html",),
                   fault_max_per_url=100) as sim:
        down = _cli(sim.url, tmp_path / "out", KEY, "--config", str(_budget(tmp_path)))
        broken = _cli(sim.url, blocker, KEY)
    assert down.returncode in (1, 6), down.stderr.decode()[-1000:]
    assert broken.returncode != 0
    _assert_nowhere(KEY, streams=[down.stdout, down.stderr, broken.stdout, broken.stderr],
                    folder=tmp_path)


def _budget(tmp: Path) -> Path:
    path = tmp / "budget.toml"
    path.write_text("[crawl]\nretry_budget = 5\nmax_attempts = 3\nbackoff_base = 0.01\n"
                    "backoff_max = 0.02\n")
    return path


def test_config_and_errors_never_show_the_key() -> None:
    api = ApiConfig(key=Secret(KEY))
    config = Config("acme", api)
    assert KEY not in repr(config) and KEY not in str(api.key)
    with pytest.raises(Exception) as caught:
        raise TransientError("acme/model-evals", params={"split": "test"}, status=503)
    assert KEY not in str(caught.value)


def test_tls_verification_is_on_by_default(tmp_path: Path) -> None:
    assert ApiConfig().verify_tls is True
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    options = replace(SimOptions(), evals=2)

    async def main() -> None:
        runner = web.AppRunner(build_app(options, generate(options)), shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        config = Config("acme", ApiConfig(url=f"https://127.0.0.1:{port}",
                                          key=Secret(options.api_key)),
                        CrawlConfig(backoff_base=0.01, backoff_max=0.02),
                        OutputConfig(out=tmp_path / "out"))
        try:
            with pytest.raises(ApiError, match="TLS verification failed"):
                await run_export(config, Reporter("json", io.StringIO()))
        finally:
            await runner.cleanup()

    anyio.run(main)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_output_files_follow_the_umask_and_nothing_is_world_writable(
    tmp_path: Path, umask: int
) -> None:
    old = os.umask(umask)
    try:
        with simulator(evals=3) as sim:
            export(sim, tmp_path / "out")
    finally:
        os.umask(old)
    for path in [tmp_path / "out", *(tmp_path / "out").rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & stat.S_IWOTH, f"{path} is world-writable"
        assert not mode & umask & 0o077, f"{path} ignores the umask ({oct(mode)})"


def test_paths_with_quotes_are_safe_in_sql(tmp_path: Path) -> None:
    out = tmp_path / "o'ut \"x\"; drop view evaluations; --"
    with simulator(evals=3) as sim:
        export(sim, out)
    from etl import views

    assert "evaluations" in views.view_names(out / "evals.duckdb")
    assert views.query(out / "evals.duckdb", "select count(*) as n from evaluations", "csv") \
        .splitlines()[1] == "3"
