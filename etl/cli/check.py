"""``check``: regression rules over the published dataset; exit 9 when a model got worse.

Exit codes: 0 nothing regressed (or, with ``--since-last``, nothing new did); 9 a regression
was found (``errors.EXIT_REGRESSION``); 2 a usage mistake (a bad rules file, a pinned eval
the dataset lacks, nothing published), caught before any finding is printed. A webhook that
cannot be reached is said on stderr and does not change the code.
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.cli.common import Commands, folder, say, unpublished
from etl.errors import EXIT_OK, EXIT_REGRESSION

if TYPE_CHECKING:
    from etl.check import Report


def register(sub: Commands) -> None:
    check = sub.add_parser(
        "check", help="regression rules over the published dataset: exit 9 when a model "
        "got worse than its baseline")
    check.add_argument("--out", type=folder, required=True)
    check.add_argument("--rules", type=Path, metavar="FILE",
                       help="TOML rules file (default: test F1 vs the previous version, "
                       "tolerance 0.01)")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.add_argument("--since-last", action="store_true",
                       help="report only findings new since the previous --since-last check "
                       "(state in OUT/state/check.json)")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from etl import check, folders
    from etl.cli.dataset import readable_database

    folders.check_readable(args.out)
    if args.since_last:  # it records what it reported in OUT/state/
        folders.check_writable(args.out)
    rules = check.load(args.rules)  # a bad file is exit 2 before anything is read
    with ExitStack() as stack:
        db = readable_database(args.out, stack)
        if db is None:
            return unpublished(args.out)
        report = check.run_check(db, args.out, rules, since_last=args.since_last,
                                 now=datetime.now(UTC))
    if report.notified is not None and not report.delivered:
        say(f"evals-etl: warning: {report.notified}")
    if args.format == "json":
        print(json.dumps(_as_json(report, rules.source), ensure_ascii=False))
    else:
        print(_as_text(report, rules.source))
    return EXIT_REGRESSION if report.reported else EXIT_OK


def _as_json(report: Report, source: str) -> dict[str, Any]:
    from etl.check import notify

    return {"rules_file": source, "since_last": report.since_last,
            "regressed": bool(report.reported),
            "findings": notify.payload(report.reported, None)["findings"],
            "rules": [{"rule": r.rule.title, "compared": r.checked, "not_comparable": r.skipped,
                       "findings": len(r.findings)} for r in report.results],
            "webhook": report.notified}


def _as_text(report: Report, source: str) -> str:
    from etl.check import notify

    new = " new" if report.since_last else ""
    head = (f"check ({source}): {len(report.reported)}{new} regression(s) "
            f"from {len(report.results)} rule(s)")
    lines = [head]
    for result in report.results:
        lines.append(f"  {result.rule.title}: {len(result.findings)} regressed, "
                     f"{result.checked} compared, {result.skipped} not comparable")
    lines += [f"REGRESSION {notify.line(f)}" for f in report.reported]
    if report.notified is not None and report.delivered:
        lines.append(report.notified)
    return "\n".join(lines)
