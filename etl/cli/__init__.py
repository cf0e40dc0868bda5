"""Command line: parse argv, build a Config, call one entry function, map errors to exit codes.

Each module here registers its commands: ``run`` (export, replay, demo), ``dataset`` (views,
query, load, report), ``status``, ``ops`` (doctor, init, completion); ``common`` holds what
they share. Exit codes (also in the README): 0 complete; 1 unexpected; 2 usage or config
error; 3 partial (published, some panels error or unavailable); 4 authentication failed;
5 another run holds the output folder; 6 the API stayed down (retry budget spent); 7 the disk
refused a write; 8 a check failed (``status --check``, ``doctor``); 128 + n stopped by
signal n before publishing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from etl import __version__, interrupts, progress
from etl.cli import check, dataset, ops, run, status
from etl.cli.common import ending, folder

__all__ = ["ending", "folder", "main"]

Handler = Callable[[argparse.Namespace], int]
_folder = folder  # the name tests and older callers use


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    progress.forget()  # a reporter of an earlier call (tests call main() many times) is done
    if "--log-format=json" in words or any(a == "--log-format" and b == "json"
                                           for a, b in itertools.pairwise(words)):
        progress.prefer("json")  # so even a refused flag or config answers in JSON
    args = _parser().parse_args(words)
    handler: Handler = args.handler
    try:
        with interrupts.handled():
            return handler(args)
    except BrokenPipeError:
        # `evals-etl query ... | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        code, state, reason = ending(exc)
        progress.finish(f"evals-etl: {reason}", status=state, exit_code=code,
                        error=type(exc).__name__)
        return code


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors come as the final JSON record when JSON was asked for."""

    def error(self, message: str) -> NoReturn:
        if progress.preferred() == "json":
            progress.finish(f"evals-etl: {message}", status="refused", exit_code=2,
                            error="UsageError")
            raise SystemExit(2)
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="evals-etl",
        description="Export Roboflow model evaluations into Parquet tables and DuckDB views.",
    )
    parser.add_argument("--version", action="version", version=f"evals-etl {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for module in (run, dataset, status, ops, check):
        module.register(sub)

    from etl.simulator import cli as sim_cli  # workspace options only: aiohttp loads on serve

    simulate = sub.add_parser("simulate", help="serve a simulated Roboflow model-evals API")
    sim_cli.add_arguments(simulate)
    simulate.set_defaults(handler=sim_cli.run)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
