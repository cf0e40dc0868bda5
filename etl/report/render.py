"""Pages to files: the Jinja2 environment, the shared assets, and the folder swap.

Templates live in ``etl/report/templates`` (shipped in the wheel with the package). Jinja2
autoescapes every value, so a class called ``<script>alert(1)</script>`` is text wherever a
template puts it; the one value written unescaped is the charts' JSON, and :func:`script_json`
escapes ``<``, ``>``, ``&`` and ``'`` inside it, so nothing in it can end its ``<script>``
element.

plotly.js is written once per report folder (``assets/plotly.min.js``, from the plotly
package) beside ``report.css`` and ``report.js``; every page loads them by a relative path,
so the folder works from disk, a zip or any static host with no network.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from etl.errors import ConfigError
from etl.report.pages import Page

TEMPLATES = Path(__file__).resolve().parent / "templates"
MARKER = ".evals-etl-report"  # in every report folder: what may be replaced by the next one
ASSETS = ("report.css", "report.js")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(script_json=script_json, fmt=fmt, when=when, pct=pct)
    return env


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a page's JSON")


def script_json(value: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">``."""
    try:  # figures hold plain numbers already (figures.num): no need to walk them
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                             default=_default)
    except ValueError:  # a NaN or an infinity somewhere: null, as everywhere else
        encoded = json.dumps(_plain(value), ensure_ascii=False, allow_nan=False,
                             separators=(",", ":"), default=_default)
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("'", "\\u0027"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        encoded = encoded.replace(raw, escaped)
    return Markup(encoded)


def fmt(value: Any, digits: int = 3) -> str:
    """A number as a table shows it; an empty cell for NULL."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pct(value: Any) -> str:
    return "" if value is None else f"{value:.0%}"


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def plotly_js() -> bytes:
    """plotly.js as the plotly package ships it (minified, MIT licence header included)."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


def plotly_version(js: bytes) -> str:
    """The version plotly.min.js states in its licence header (``* plotly.js v4.1.1``)."""
    found = re.search(rb"plotly\.js v(\d+\.\d+\.\d+)", js[:400])
    return found.group(1).decode() if found else "(unknown version)"


class Writer:
    """Writes a report into a fresh folder beside ``target``, then swaps it into place."""

    def __init__(self, target: Path, generated: dict[str, Any]) -> None:
        self.target = Path(os.path.abspath(target))
        _check_replaceable(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.work = self.target.with_name(f".{self.target.name}.{os.getpid()}.partial")
        shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "assets").mkdir(parents=True)
        self.env = environment()
        self.generated = generated
        self.bytes = 0
        self.pages = 0

    def assets(self, js: bytes) -> None:
        (self.work / "assets" / "plotly.min.js").write_bytes(js)
        for name in ASSETS:
            shutil.copyfile(TEMPLATES / "assets" / name, self.work / "assets" / name)
        (self.work / MARKER).write_text("made by evals-etl report; this folder is replaced "
                                        "whole by the next report\n", encoding="utf-8")

    def page(self, page: Page) -> None:
        html = self.env.get_template(f"{page.kind}.html").render(page=page, **self.generated)
        path = self.work / page.path
        path.parent.mkdir(parents=True, exist_ok=True)
        data = html.encode("utf-8")
        path.write_bytes(data)
        self.bytes += len(data)
        self.pages += 1

    def finish(self) -> None:
        """Swap the finished folder into place; the previous report is removed after."""
        old = self.target.with_name(f".{self.target.name}.{os.getpid()}.old")
        if self.target.exists():
            os.replace(self.target, old)
        os.replace(self.work, self.target)
        shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def _check_replaceable(target: Path) -> None:
    """Only an empty folder or an earlier report may be replaced, never someone's folder."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ConfigError(f"{target} exists and is not a folder; pass --to a new folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise ConfigError(f"{target} is not empty and holds no earlier report "
                          f"({MARKER}); pass --to a new or empty folder")
