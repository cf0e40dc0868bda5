"""What every command shares: the --out type, how an error ends a command, stderr lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeAlias

from etl import folders, interrupts, redact
from etl.errors import EXIT_UNEXPECTED, EXIT_USAGE, EtlError

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # add_subparsers()


def folder(text: str) -> Path:
    """An --out value: a folder's path; an empty one would silently mean the working directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            'must name a folder (an empty path would mean the current directory; pass "." if '
            "that is what you want)")
    if folders.is_url(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a URL; --out takes a local folder (object storage is not an output "
            "folder: export locally, then copy or `load` it)")
    return Path(text)


def ending(exc: BaseException) -> tuple[int, str, str]:
    """How an error ends a command: its exit code, a status word and one line saying why."""
    if isinstance(exc, KeyboardInterrupt):
        name, code = (exc.name, exc.exit_code) if isinstance(exc, interrupts.Interrupted) \
            else ("SIGINT", 130)
        return code, "interrupted", f"interrupted by {name}; the published dataset is unchanged"
    if isinstance(exc, EtlError):
        status = "refused" if exc.exit_code in (EXIT_USAGE, 4, 5) else "failed"
        return exc.exit_code, status, str(exc)
    return EXIT_UNEXPECTED, "failed", f"unexpected {type(exc).__name__}: {exc}"


def say(line: str) -> None:
    """A line on stderr; a closed or broken stderr must not turn into a traceback."""
    try:
        print(redact.text(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def unpublished(out: Path) -> int:
    db = out / "evals.duckdb"
    what = f"{db} does not exist" if not db.exists() else f"nothing is published in {out}"
    print(f"evals-etl: {what}; run `evals-etl export` first", file=sys.stderr)
    return EXIT_USAGE
