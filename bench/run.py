"""``python -m bench.run {compare,scaling,normalize}``: run a benchmark, print markdown, save JSON.

Results go to ``bench/results/<name>-<timestamp>.json`` (gitignored); progress goes to
stderr, the tables to stdout. See BENCHMARKS.md for the commands behind its figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.baseline import BaselineError
from bench.report import write_results
from bench.workload import Workload

CONTENDER_ORDER = ("etl", "probe", "dlt-tuned", "dlt-default", "sdk")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BaselineError as exc:
        print(f"bench.run: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="BENCHMARK")

    cmp = sub.add_parser("compare", help="evals-etl vs the roboflow SDK loop vs dlt rest_api")
    cmp.add_argument("--evals", type=int, default=199,
                     help="evals in the workspace (below 200, so one list call sees them all)")
    cmp.add_argument("--images", type=int, nargs=2, default=(3001, 5000), metavar=("MIN", "MAX"))
    cmp.add_argument("--latency-ms", type=float, default=50.0)
    cmp.add_argument("--fault-rate", type=float, default=0.0)
    cmp.add_argument("--seed", type=int, default=7)
    cmp.add_argument("--repeats", type=int, default=3, help="runs of evals-etl and the probe")
    cmp.add_argument("--dlt-tuned-repeats", type=int, default=2)
    cmp.add_argument("--dlt-default-repeats", type=int, default=1)
    cmp.add_argument("--sdk-repeats", type=int, default=1)
    cmp.add_argument("--only", nargs="+", choices=CONTENDER_ORDER, default=list(CONTENDER_ORDER))
    cmp.add_argument("--work", type=Path, help="scratch folder (default: a new temp folder)")
    cmp.add_argument("--baseline", metavar="REV",
                     help="also run evals-etl at this git revision (a detached worktree in the "
                          "scratch folder), as often as evals-etl, and give the ratios to it")
    cmp.add_argument("--profile", action="store_true",
                     help="one more evals-etl run under cProfile, not in the medians: where "
                          "its main-thread time goes, per stage")
    cmp.set_defaults(handler=_compare)

    scl = sub.add_parser("scaling", help="evals-etl wall time and peak RSS as the work grows")
    scl.add_argument("--workspace-sizes", type=int, nargs="*", default=[100, 1000, 5000])
    scl.add_argument("--images", type=int, nargs=2, default=(40, 300), metavar=("MIN", "MAX"),
                     help="images per eval in the growing-workspace series")
    scl.add_argument("--eval-sizes", type=int, nargs="*",
                     default=[1000, 10_000, 50_000, 200_000])
    scl.add_argument("--latency-ms", type=float, default=50.0)
    scl.add_argument("--repeats", type=int, default=1)
    scl.add_argument("--timeout", type=float, default=600.0, help="kill a run after this long")
    scl.add_argument("--work", type=Path)
    scl.add_argument("--baseline", metavar="REV",
                     help="also run evals-etl at this git revision at every size, after "
                          "each evals-etl run, and give the ratios to it")
    scl.set_defaults(handler=_scaling)

    nrm = sub.add_parser("normalize", help="normalization rows/s per core")
    nrm.add_argument("--pages", type=int, default=60, help="1,000-image pages")
    nrm.add_argument("--sweeps", type=int, default=200, help="confidence-sweep bodies")
    nrm.add_argument("--passes", type=int, default=5)
    nrm.set_defaults(handler=_normalize)
    return parser


def _compare(args: argparse.Namespace) -> int:
    from bench import compare

    workload = Workload(args.evals, tuple(args.images), args.latency_ms, args.fault_rate,
                        args.seed)
    owed = {"etl": args.repeats, "probe": args.repeats, "dlt-tuned": args.dlt_tuned_repeats,
            "dlt-default": args.dlt_default_repeats, "sdk": args.sdk_repeats}
    repeats = {k: owed[k] for k in CONTENDER_ORDER if k in args.only and owed[k] > 0}
    if (args.baseline or args.profile) and "etl" not in repeats:
        sys.exit("bench.run compare: --baseline and --profile need the etl contender "
                 "(in --only, with --repeats of at least 1)")
    result = compare.compare(workload, repeats, args.work, baseline=args.baseline,
                             profile=args.profile)
    return _finish("compare", result, compare.markdown(result),
                   1 if result["summary"]["mismatch"] or result["summary"]["failed"] else 0)


def _scaling(args: argparse.Namespace) -> int:
    from bench import scaling

    result = scaling.scaling(
        scaling.workspace_series(args.workspace_sizes, tuple(args.images), args.latency_ms),
        scaling.eval_series(args.eval_sizes, args.latency_ms), args.repeats, args.timeout,
        args.work, baseline=args.baseline)
    series = result["workspace"] + result["one_eval"]
    failed = any(s["failed"] or s.get("mismatch") for s in series)
    return _finish("scaling", result, scaling.markdown(result), 1 if failed else 0)


def _normalize(args: argparse.Namespace) -> int:
    from bench import micro

    result = micro.micro(args.pages, args.sweeps, args.passes)
    return _finish("normalize", result, micro.markdown(result), 0)


def _finish(name: str, result: dict[str, object], text: str, code: int) -> int:
    path = write_results(name, result)
    print(text)
    print(f"\nresults: {path}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
