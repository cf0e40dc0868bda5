"""Healthchecks-style pings: a URL hit when a run starts, and one when it ends well or badly.

A monitoring service (healthchecks.io, a self-hosted Healthchecks, Cronitor, Uptime Kuma)
alerts when a ping is late or a failure ping arrives, so a cron job that silently stops
running is noticed too. The ping carries the run's one-line outcome in its body, never the
API key (the line passes through :mod:`etl.redact`); the ping URL itself is a capability,
so messages name only its host. A ping that fails is a warning: monitoring must never
fail the export it watches.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from etl import redact

ATTEMPTS = 2


@dataclass(frozen=True)
class Pings:
    start: str = ""
    success: str = ""
    failure: str = ""
    timeout: float = 10.0

    @classmethod
    def of(cls, url: str = "", start: str = "", success: str = "", failure: str = "",
           timeout: float = 10.0) -> Pings:
        """``url`` alone means url/start, url and url/fail (the Healthchecks convention)."""
        base = url.rstrip("/")
        return cls(start or (f"{base}/start" if base else ""), success or base,
                   failure or (f"{base}/fail" if base else ""), timeout)

    def send(self, which: str, message: str) -> str | None:
        """Ping ``which`` (start, success, failure) with ``message``; a warning if it failed."""
        url = getattr(self, which)
        if not url:
            return None
        body = redact.text(message).encode("utf-8")[:10_000]  # Healthchecks keeps 10 kB
        error = ""
        for _ in range(ATTEMPTS):
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"User-Agent": "evals-etl",
                                                      "Content-Type": "text/plain"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read(1024)
                return None
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500:
                    break
            except (urllib.error.URLError, OSError) as exc:
                error = type(getattr(exc, "reason", exc)).__name__
        return f"the {which} ping to {urlsplit(url).hostname} failed ({error}); the run goes on"
