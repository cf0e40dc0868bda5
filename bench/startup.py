"""``python -m bench.startup [--before REV]``: startup and an unchanged nightly run, side by side.

Measures, for this checkout and for REV (a git worktree made for the run), the wall time of
``evals-etl --version`` and of an incremental export that finds nothing changed (one list
request), each as a fresh process, alternating the two so a noisy machine hurts both alike.
Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import STARTED_WITH
from etl.simulator import SimOptions, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{cmd} in {cwd} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--before", default="07ab6e0", help="the revision to compare with")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evals-etl-startup-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before),
                        args.before], check=True, capture_output=True)
        try:
            return _measure({"before": before, "after": ROOT}, Path(tmp), args.repeats)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(before)], check=False, capture_output=True)


def _measure(trees: dict[str, Path], tmp: Path, repeats: int) -> int:
    # Every eval done and every panel there: the second run really finds nothing to fetch.
    options = replace(SimOptions(), seed=7, evals=60, images=(20, 60), running_rate=0.0,
                      failed_rate=0.0, missing_panel_rate=0.0)
    with serve_in_thread(options) as sim:
        env = {**STARTED_WITH, "ROBOFLOW_API_KEY": options.api_key}
        env.pop("PYTHONPATH", None)
        export = [sys.executable, "-m", "etl", "export", "--workspace", options.workspace,
                  "--api-url", sim.url, "--log-format", "json"]
        for name, tree in trees.items():  # the first, full run of each: not measured
            _timed([*export, "--out", str(tmp / f"out-{name}")], tree, env)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeats):
            for name, tree in trees.items():
                times.setdefault(("--version", name), []).append(
                    _timed([sys.executable, "-m", "etl", "--version"], tree, env))
                times.setdefault(("unchanged run", name), []).append(
                    _timed([*export, "--out", str(tmp / f"out-{name}")], tree, env))
    print("| measure | before | after | after / before |\n|---|---|---|---|")
    for what in ("--version", "unchanged run"):
        b, a = (statistics.median(times[(what, n)]) for n in ("before", "after"))
        print(f"| {what} (median of {repeats}) | {b:.3f} s | {a:.3f} s | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
