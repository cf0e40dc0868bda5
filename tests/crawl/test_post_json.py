"""post_json (the webhook's POST): 2xx delivers, 429/5xx retry, redirects and 4xx end it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from etl.crawl.http import post_json
from etl.crawl.retry import RetryPolicy
from etl.errors import ApiError, BadRequestError, TransientError

POLICY = RetryPolicy(max_attempts=3, retry_budget=3, backoff_base=0.01, backoff_max=0.02)


class Script:
    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[object] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the stdlib names it
            script.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status = script.statuses.pop(0) if script.statuses else 200
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "https://elsewhere.example/secret-path")
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook/secret-token", script
    httpd.shutdown()
    httpd.server_close()


def post(url: str) -> int:
    return anyio.run(lambda: post_json(url, {"text": "hi"}, POLICY, timeout=5))


def test_a_2xx_delivers_and_429_or_5xx_are_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.statuses = [204]
    assert post(url) == 1
    script.statuses = [429, 503, 200]
    assert post(url) == 3
    assert script.received[-1] == {"text": "hi"}


@pytest.mark.parametrize(("status", "error"), [(302, BadRequestError), (404, ApiError),
                                               (400, BadRequestError)])
def test_redirects_and_4xx_end_it_at_once(server: tuple[str, Script], status: int,
                                          error: type[Exception]) -> None:
    url, script = server
    script.statuses = [status]
    with pytest.raises(error) as caught:
        post(url)
    assert len(script.received) == 1
    assert "secret" not in str(caught.value)  # neither the URL's path nor the Location's


def test_giving_up_names_the_host_only(server: tuple[str, Script]) -> None:
    url, script = server
    script.statuses = [503] * 5
    with pytest.raises(TransientError) as caught:
        post(url)
    assert len(script.received) == POLICY.max_attempts
    assert "127.0.0.1" in str(caught.value) and "secret-token" not in str(caught.value)
