"""The canonical text of a timestamp, shared by the normalizers and the incremental state."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """The canonical text of a timestamp: ``2026-04-27T20:04:10.904Z`` (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    ms = moment.microsecond // 1000
    # strftime's %Y does not pad years before 1000 (on glibc), and fromisoformat needs four digits.
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S") + f".{ms:03d}Z"
