"""One redactor for everything a server says, so a secret it echoes back goes no further.

Gateways, WAF pages and debugging proxies echo request headers into their error bodies;
a buggy server could put them into a payload. Every byte that comes from a server passes
through here before it reaches a message, a log line, a table, the archive, the warehouse
or the terminal:

* :func:`body` takes the registered secrets (the API key, in the forms a server could echo:
  as is, URL-quoted, JSON-escaped) out of a raw response body, so the archive, the
  normalizers and everything after them never see them;
* :func:`text` does the same to any string, and also blanks every ``Bearer ...`` value,
  ``api_key=...`` parameter and ``Authorization:`` header, ours or not.

The secrets are registered once, where the key enters the HTTP session
(:class:`etl.crawl.http.Http`); this module holds them only in memory.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

MASK = "[REDACTED]"
_MASK_BYTES = MASK.encode()
# A credential in any of the shapes a header echo or a URL takes.
_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"'<>,;]+"),
    re.compile(r"(?i)(\bapi[_-]?key[\"']?\s*[=:]\s*[\"']?)[^\s&\"'<>,;]+"),
    re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[=:]\s*[\"']?)[^\r\n\"'<>]+"),
)
_secrets: list[str] = []
_secret_bytes: list[bytes] = []


def register(secret: str) -> None:
    """Redact ``secret`` (and its URL-quoted and JSON-escaped forms) from now on."""
    if not secret:
        return
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):  # the longest first: no partial leftovers
        if form and form not in _secrets:
            _secrets.append(form)
            _secret_bytes.append(form.encode())
    _secrets.sort(key=len, reverse=True)
    _secret_bytes.sort(key=len, reverse=True)


def body(raw: bytes) -> bytes:
    """A response body without the registered secrets (unchanged, and uncopied, if clean)."""
    for secret in _secret_bytes:
        if secret in raw:
            raw = raw.replace(secret, _MASK_BYTES)
    return raw


def text(value: str) -> str:
    """``value`` without registered secrets or anything shaped like a credential."""
    for secret in _secrets:
        if secret in value:
            value = value.replace(secret, MASK)
    for pattern in _PATTERNS:
        value = pattern.sub(lambda m: m.group(1) + MASK, value)
    return value


def forget() -> None:
    """Drop every registered secret (tests that use several keys in one process)."""
    _secrets.clear()
    _secret_bytes.clear()
