"""Reading a response body in bounded memory, whatever the server sends.

The body is read chunk by chunk and inflated here (gzip or deflate, the only encodings we
ask for), with a cap on the bytes on the wire and on the bytes after inflating: a 1 MB gzip
bomb that would expand to 1 GiB, or an endless body, ends its request at the cap with
:class:`ResponseTooLarge` instead of taking the process's memory. With C requests in flight,
memory for bodies stays under about C x :attr:`BodyLimits.max_body_bytes`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from etl.errors import BadRequestError

CHUNK = 64 * 1024


@dataclass(frozen=True)
class BodyLimits:
    # A 1,000-image page is about 0.5 MB of JSON: 32 MiB is that many times over.
    max_body_bytes: int = 32 * 1024 * 1024  # after inflating
    max_wire_bytes: int = 32 * 1024 * 1024  # as received


class ResponseTooLarge(BadRequestError):
    """A body past the size cap: the unit ends as an error (a bigger cap is a config change)."""


def _inflater(encoding: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()  # zlib-wrapped, as HTTP's deflate is
    raise aiohttp.ClientPayloadError(f"unsupported Content-Encoding {encoding!r}")


async def read_bounded(resp: aiohttp.ClientResponse, limits: BodyLimits, path: str,
                       query: Mapping[str, str]) -> bytes:
    """The whole (inflated) body of ``resp``, or :class:`ResponseTooLarge` past a cap."""
    def too_large(what: str, cap: int) -> ResponseTooLarge:
        return ResponseTooLarge(path, params=query, status=resp.status, code="response_too_large",
                                message=f"the response's {what} passed {cap:,} bytes; "
                                        "raise api.max_response_mb if this is legitimate")

    declared = resp.content_length
    if declared is not None and declared > limits.max_wire_bytes:
        raise too_large("Content-Length", limits.max_wire_bytes)
    inflater = _inflater(resp.headers.get("Content-Encoding", ""))
    wire = 0
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        wire += len(chunk)
        if wire > limits.max_wire_bytes:
            raise too_large("size on the wire", limits.max_wire_bytes)
        data = chunk if inflater is None else _inflate(inflater, chunk, limits.max_body_bytes - size)
        size += len(data)
        if size > limits.max_body_bytes:
            raise too_large("inflated size", limits.max_body_bytes)
        parts.append(data)
    if inflater is not None:
        parts.append(inflater.flush())
    return b"".join(parts)


def _inflate(inflater: zlib._Decompress, chunk: bytes, room: int) -> bytes:
    """Inflate ``chunk``, producing at most ``room + 1`` bytes (one more says: over the cap)."""
    try:
        out = inflater.decompress(chunk, max(room, 0) + 1)
    except zlib.error as exc:
        raise aiohttp.ClientPayloadError(f"the body does not inflate: {exc}") from None
    return out
