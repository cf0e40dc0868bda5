"""Command line: parse argv, build a Config, call one entry function, map errors to exit codes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("evals-etl: not wired yet", file=sys.stderr)
    return 1
