"""A real headless Chromium (Debian's, through its chromedriver) that opens report pages from
disk with the network cut off, and tells what happened: console messages, every request the
page made, and a screenshot.

The network is off three ways: DevTools' offline emulation, a host resolver that resolves
nothing, and a proxy that does not exist. Every request still reaches the DevTools log, so a
test sees an external request even though it could not succeed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DRIVER = "/usr/bin/chromedriver"
BINARIES = ("chromium", "chromium-headless-shell", "google-chrome", "chrome")


def chromium() -> str | None:
    found = (shutil.which(name) for name in BINARIES)
    return next((path for path in found if path), None)


def missing_reason() -> str | None:
    """Why no browser test can run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if chromium() is None:
        return f"no Chromium found ({', '.join(BINARIES)}): apt-get install chromium chromium-driver"
    if not Path(DRIVER).is_file():
        return f"no chromedriver at {DRIVER}: apt-get install chromium-driver"
    return None


def require_browser() -> None:
    """Skip without a browser, except in CI (or EVALS_ETL_REQUIRE_BROWSER=1), where it fails."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("EVALS_ETL_REQUIRE_BROWSER") == "1" or os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI / EVALS_ETL_REQUIRE_BROWSER=1 requires the browser tests")
    pytest.skip(reason)


@dataclass
class Visit:
    """What one page load did."""

    url: str
    console: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m for m in self.console if m.get("level") in ("SEVERE", "ERROR")]

    @property
    def external(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


class Browser:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, page: Path, *, timeout: float = 60) -> Visit:
        """Load ``page`` and wait until its script has drawn every chart."""
        from selenium.webdriver.support.ui import WebDriverWait

        self._drain()
        visit = Visit(page.resolve().as_uri())
        self.driver.get(visit.url)
        WebDriverWait(self.driver, timeout).until(
            lambda d: d.execute_script("return document.body && document.body.dataset"
                                       ".chartsDrawn !== undefined || window.__failed === true"))
        self.js("return new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)))")
        self._collect(visit)
        return visit

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, path: Path, *, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole page unless ``full_page`` is False)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 16000), "scale": 1}
        data = base64.b64decode(self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                                            params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def _drain(self) -> None:
        self.driver.get_log("browser")
        self.driver.get_log("performance")

    def _collect(self, visit: Visit) -> None:
        visit.console.extend(self.driver.get_log("browser"))
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                visit.requests.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.loadingFailed":
                visit.failed.append(message["params"])


@contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Browser]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium() or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        yield Browser(driver)
    finally:
        driver.quit()
