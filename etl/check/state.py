"""``--since-last``: the findings the previous check reported, in ``OUT/state/check.json``.

Written atomically (a temporary file beside it, flushed to disk, then renamed over it), so a
check killed mid-write leaves the previous state whole. A state that does not read is
treated as none: every current finding is then new, which errs on the side of telling.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from etl.errors import ConfigError

STATE_FILE = Path("state") / "check.json"
FORMAT = 1


def previous_keys(out: Path) -> frozenset[str] | None:
    """The keys the last check saw (None: no readable state, as before a first check)."""
    try:
        data = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    return frozenset(keys)


def save(out: Path, keys: frozenset[str], checked_at: datetime) -> None:
    """Record ``keys`` as what this check saw."""
    path = out / STATE_FILE
    try:
        _write(path, json.dumps({"format": FORMAT, "checked_at": checked_at.isoformat(),
                                 "findings": sorted(keys)}, indent=1) + "\n")
    except OSError as exc:
        raise ConfigError(f"--since-last cannot record what it reported in {path}: "
                          f"{exc.strerror or exc}; fix the folder's permissions (or run "
                          "without --since-last)") from None


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)
