"""The environment's proxy and .netrc, against the simulator over HTTP.

The session reads ``HTTP(S)_PROXY`` and ``NO_PROXY`` once (``etl.crawl.http.env_proxy``), not
per request, and never takes ``.netrc`` credentials for the API host: the key travels in the
``Authorization`` header, which aiohttp refuses to combine with them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from etl.simulator import SimHandle
from tests.support.api import api_client
from tests.support.hostile import Proxy, hostile_proxy

pytestmark = pytest.mark.anyio

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@pytest.fixture
def forward_proxy(sim: SimHandle) -> Iterator[tuple[Proxy, list[str | None]]]:
    """A proxy that forwards to the simulator and notes each request's Proxy-Authorization."""
    credentials: list[str | None] = []

    async def note(request: web.Request, n: int) -> None:
        credentials.append(request.headers.get("Proxy-Authorization"))

    with hostile_proxy(sim.url, note) as proxy:
        yield proxy, credentials


async def test_requests_go_through_the_proxy_the_environment_names(
    sim: SimHandle, no_env_proxy: pytest.MonkeyPatch,
    forward_proxy: tuple[Proxy, list[str | None]],
) -> None:
    proxy, credentials = forward_proxy
    no_env_proxy.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://pat:s3cret@"))
    async with api_client(sim) as client:
        evals = await client.list_evals()
        await client.list_evals(status="done")
    assert len(evals.evals) == len(sim.workspace.evals)
    assert sum(proxy.seen.values()) == 2
    assert credentials == ["Basic cGF0OnMzY3JldA=="] * 2  # pat:s3cret


async def test_no_proxy_sends_the_api_host_direct(
    sim: SimHandle, no_env_proxy: pytest.MonkeyPatch,
    forward_proxy: tuple[Proxy, list[str | None]],
) -> None:
    proxy, _ = forward_proxy
    no_env_proxy.setenv("HTTP_PROXY", proxy.url)
    no_env_proxy.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with api_client(sim) as client:
        assert (await client.list_evals()).evals
    assert not proxy.seen


async def test_a_netrc_entry_for_the_api_host_does_not_replace_the_key(
    sim: SimHandle, no_env_proxy: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory,
) -> None:
    netrc = tmp_path / "netrc"  # type: ignore[operator]
    netrc.write_text("machine 127.0.0.1\nlogin someone\npassword not-the-key\n")
    netrc.chmod(0o600)
    no_env_proxy.setenv("NETRC", str(netrc))
    async with api_client(sim) as client:
        assert len((await client.list_evals()).evals) == len(sim.workspace.evals)


async def test_a_netrc_entry_for_the_proxy_host_authenticates_to_the_proxy_only(
    sim: SimHandle, no_env_proxy: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory,
    forward_proxy: tuple[Proxy, list[str | None]],
) -> None:
    proxy, credentials = forward_proxy
    netrc = tmp_path / "netrc"  # type: ignore[operator]
    netrc.write_text("machine 127.0.0.1\nlogin pat\npassword s3cret\n")  # the proxy's host too
    netrc.chmod(0o600)
    no_env_proxy.setenv("NETRC", str(netrc))
    no_env_proxy.setenv("HTTP_PROXY", proxy.url)
    async with api_client(sim) as client:  # the simulator refuses any other Authorization
        assert len((await client.list_evals()).evals) == len(sim.workspace.evals)
    assert credentials == ["Basic cGF0OnMzY3JldA=="]
