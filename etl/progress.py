"""What a run tells people and machines: a progress bar on a terminal, JSON lines otherwise.

The reporter never sees the API key: it only receives counts, eval ids, panel names and error
messages that ``etl.errors`` built from fields which exclude the key.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any, Literal

from etl import redact

Format = Literal["text", "json"]


def resolve_format(requested: str, stream: IO[str]) -> Format:
    """``auto`` means a human format on a terminal and JSON lines for cron and pipes."""
    if requested == "auto":
        return "text" if stream.isatty() else "json"
    return "json" if requested == "json" else "text"


class Reporter:
    """Log lines and a live progress bar, in one of two formats.

    In JSON mode every line is one JSON object with ``ts``, ``level``, ``msg`` and the facts
    as fields (``event``, ``eval_id``, ``panel``, ``status``, counts...). The last reporter
    made is the one :func:`finish` speaks through, so a command's final line (its fatal error
    included) comes in the same format as the rest of its log.
    """

    def __init__(self, fmt: Format = "text", stream: IO[str] | None = None) -> None:
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        self.run_id: str | None = None  # the run's id, once an event has named it
        _ACTIVE[:] = [self]
        self._bar: Any = None
        self._task: Any = None
        self._last_json = 0.0
        self._broken = False  # the stream went away: stop writing, never stop the run

    def _write(self, text: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # EPIPE, a closed file, a full disk behind a redirect
            self._broken = True
            self._stop_bar()

    def event(self, message: str, level: str = "info", **fields: Any) -> None:
        """One log line: ``message`` for people, ``fields`` for machines (both redacted)."""
        message = redact.text(message)
        fields = {k: redact.text(v) if isinstance(v, str) else v for k, v in fields.items()}
        if isinstance(fields.get("run_id"), str) and self.run_id is None:
            self.run_id = fields["run_id"]
        if self.fmt == "json":
            record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                      "level": level, "msg": message, **fields}
            self._write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
            return
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        text = f"{message} {extra}".rstrip()
        if self._bar is not None:
            self._guarded(lambda: self._bar.console.print(text, markup=False, highlight=False))
        else:
            prefix = "" if level == "info" else f"{level}: "
            self._write(f"{prefix}{text}\n")

    def progress(self, done: int, total: int, requests: int) -> None:
        """Advance the bar (text) or emit a throttled progress line (json)."""
        if self.fmt == "json":
            now = time.monotonic()
            if now - self._last_json >= 5 or done == total:
                self._last_json = now
                self.event("progress", units_done=done, units_total=total, requests=requests)
            return
        if self._broken:
            return
        if self._bar is None and self._guarded(self.stream.isatty):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]panels"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[requests]} requests"), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=True,
            )
            self._guarded(self._bar.start)
            self._task = self._bar.add_task("crawl", total=total, requests=0)
        if self._bar is not None:
            bar, task = self._bar, self._task
            self._guarded(lambda: bar.update(task, completed=done, total=total,
                                             requests=requests))

    def close(self) -> None:
        self._stop_bar()

    def _guarded(self, write: Any) -> Any:
        """Run a write to the terminal; a broken one stops output, not the run."""
        try:
            return write()
        except (OSError, ValueError):
            self._broken = True
            self._stop_bar()
            return None

    def _stop_bar(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            try:
                bar.stop()
            except (OSError, ValueError):
                pass


_ACTIVE: list[Reporter] = []
_PREFERRED: list[Format] = ["text"]  # for a final line said before any reporter exists


def forget() -> None:
    """No reporter speaks for the next command until it makes one."""
    _ACTIVE.clear()
    _PREFERRED[:] = ["text"]


def prefer(fmt: Format) -> None:
    """The format of a final line said before the command made its reporter (``--log-format
    json`` was asked for, but the flags or the config were refused before it was built)."""
    _PREFERRED[:] = [fmt]


def preferred() -> Format:
    return _PREFERRED[0]


def finish(message: str, *, level: str = "error", **fields: Any) -> None:
    """A command's last line: a JSON record in JSON mode, else ``message`` on stderr."""
    reporter = _ACTIVE[0] if _ACTIVE else None
    if reporter is None and _PREFERRED[0] == "json":
        reporter = Reporter("json")
    if reporter is not None and reporter.fmt == "json":
        fields.setdefault("run_id", reporter.run_id)
        reporter.event(message, level=level, event="finished", **fields)
        return
    try:
        print(redact.text(message), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # a closed or broken stderr must not turn into a traceback


_VARIABLE = re.compile(r"'[^']*'|\"[^\"]*\"|\d+")


def aggregate(lines: Sequence[str], examples: int = 3) -> list[str]:
    """Lines of one kind (alike but for quoted names and numbers) as one line with a count
    and a few examples, in the order each kind first appeared: a listing of 5,000 garbage
    rows is a handful of lines, not 5,000."""
    kinds: dict[str, list[str]] = {}
    for line in lines:
        kind = ": ".join(_VARIABLE.sub("…", line).split(": ")[:2])
        kinds.setdefault(kind, []).append(line)
    out = []
    for kind, members in kinds.items():
        if len(members) == 1:
            out.append(members[0])
            continue
        shown = " | ".join(members[:examples])
        more = f" | and {len(members) - examples} more" if len(members) > examples else ""
        out.append(f"{len(members)} times: {kind}; e.g. {shown}{more}")
    return out
