"""The parts of the HTTP policy that need no server (the rest runs against the simulator)."""

from __future__ import annotations

import email.utils

from etl.crawl.http import retry_after_seconds, segment


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert retry_after_seconds(date, now=now) == 12.0
    assert retry_after_seconds(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_path_segments_cannot_escape() -> None:
    assert segment("../x") == "..%2Fx"
    assert segment("..") == "%2E%2E"
    assert segment("a/b") == "a%2Fb"
    assert segment("q'\"\x00") == "q%27%22%00"
