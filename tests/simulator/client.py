"""A tiny blocking HTTP client for the simulator tests: exact status, headers and bytes."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlencode, urlsplit

from etl.simulator import SimHandle

KEY = "sim-key"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        """The ``error`` code of an error body."""
        code = self.json().get("error")
        return code if isinstance(code, str) else None


def fetch(sim: SimHandle | str, path: str, params: dict[str, Any] | None = None, *,
          key: str | None = KEY, query_key: str | None = None, method: str = "GET",
          timeout: float = 10.0) -> Reply:
    """One request to a simulator (or a base URL) on a fresh connection.

    ``key`` goes in the Bearer header, ``query_key`` in ``?api_key=``.
    """
    query = dict(params or {})
    if query_key is not None:
        query["api_key"] = query_key
    target = path + ("?" + urlencode(query) if query else "")
    parts = urlsplit(sim if isinstance(sim, str) else sim.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        conn.request(method, target, headers=headers)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()
