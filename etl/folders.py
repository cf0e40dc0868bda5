"""Is this output folder usable? Decided before any request, so a mistake costs nothing.

An export that fails at publish time, after crawling a whole workspace, because ``--out`` is
a file, a read-only folder or an ``s3://`` URL (which a local path would take literally,
leaving an ``s3:/`` folder) wastes a night. These checks run first and raise
:class:`~etl.errors.ConfigError` (exit 2) naming the folder and what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from etl.errors import ConfigError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """``s3://bucket/x``, ``gs://…``, ``file://…``: a URL, never a local folder's path."""
    return _URL.match(text) is not None


def refuse_url(text: str, what: str = "--out") -> None:
    """A URL given where a local folder belongs: refused (exit 2)."""
    if is_url(text):
        raise ConfigError(
            f"{what} {text!r} is a URL; the output must be a local folder (object storage is "
            "not supported as an output folder: export locally, then copy or `load` it)")


def check_readable(out: Path) -> None:
    """A folder to read a dataset from: it must exist and be a folder."""
    refuse_url(str(out))
    if not out.exists():
        raise ConfigError(f"{out} does not exist; run `evals-etl export --out {out}` first")
    if not out.is_dir():
        raise ConfigError(f"{out} is a file, not an output folder")


def check_writable(out: Path) -> None:
    """A folder to export into: a writable folder, or one that can be created."""
    refuse_url(str(out))
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; name a folder (it is created "
                          "if missing)")
    probe = out if out.exists() else _nearest_existing(out)
    if not probe.is_dir():
        raise ConfigError(f"--out {out}: {probe} is a file, so the folder cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        verb = "is not writable" if probe == out else f"cannot be created ({probe} is not writable)"
        raise ConfigError(f"--out {out} {verb} by this user: pick a folder you can write, or "
                          "fix its permissions (a read-only mount cannot hold an export)")


def free_bytes(out: Path) -> int:
    """Free space for an unprivileged writer on the file system that holds (or will hold) out."""
    stats = os.statvfs(out if out.exists() else _nearest_existing(out))
    return stats.f_bavail * stats.f_frsize


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
