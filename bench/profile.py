"""Where an evals-etl run's main-thread time goes, per stage, from a cProfile file.

``python -m bench.profile FILE.prof [--top N]`` prints the summary of a saved profile (one
written by ``python -m cProfile -o FILE.prof -m etl export ...``, as ``bench.run compare
--profile`` does). cProfile times the main thread only, with a wall clock: time spent
blocked in ``epoll`` waiting for the network is a stage of its own, "waiting in epoll".

Every function's own time (pstats' ``tottime``) goes to one stage: the first rule of
:data:`RULES` that matches the function decides. A function no rule matches (a library's
Python code, most C functions: ``write_table``, pyarrow's compute wrappers, DuckDB's
``_seam.py``, ``{method 'get' of 'dict' objects}``) takes the stages of its callers instead,
split in proportion to the time each caller spent in it, and a caller no rule matches in
turn takes its own callers' stages (in proportion to their cumulative time in it). So a
``pq.write_table`` called from ``etl/store/writer.py`` counts as a staging write, the same
call from ``etl/store/merge.py`` as the publish merge.
"""

from __future__ import annotations

import argparse
import pstats
import re
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.report import table

# What a rule looks at: "file" the path of a Python function's file ("/" separators),
# "function" a Python function's name, "builtin" the name of a C function as pstats shows it
# ("<method 'decode' of 'msgspec.json.Decoder' objects>", "<built-in method posix.stat>").
#   stage                       looks at    regular expression (re.search)
RULES: tuple[tuple[str, str, str], ...] = (
    ("imports", "file", r"^<frozen importlib\._bootstrap"),
    ("imports", "function", r"^<module>$"),  # module-level code runs on import
    ("decode", "builtin", (r"of 'msgspec\.(json|msgpack)\.Decoder' objects"
                          r"|msgspec\._core\.(json_decode|msgpack_decode|convert)\b")),
    ("decode", "file", r"(^|/)etl/normalize/_decode\.py$"),
    ("normalize", "file", r"(^|/)etl/normalize/"),
    ("staging writes", "file", r"(^|/)etl/store/writer\.py$"),
    ("raw archive", "file", r"(^|/)etl/store/archive\.py$"),
    ("publish merge", "file", r"(^|/)etl/store/merge\.py$"),
    ("views", "file", r"(^|/)etl/views\.py$"),
    ("waiting in epoll", "builtin", r"'poll' of 'select\.epoll' objects"),
    ("HTTP and event loop", "file",
     (r"/(aiohttp|aiohappyeyeballs|aiosignal|asyncio|anyio|sniffio|yarl|multidict|frozenlist"
     r"|propcache)/|/(selectors|socket|ssl)\.py$")),
    ("HTTP and event loop", "builtin",
     r"\b(_socket|select|_ssl|_asyncio|aiohttp|multidict|yarl|propcache|frozenlist)\."),
    ("other", "file", r"(^|/)etl/"),  # the rest of evals-etl: CLI, crawl, store, publish
)
OTHER = "other"  # also where time goes that no caller chain ties to a stage
# The order of the summary's rows.
STAGES: tuple[str, ...] = ("decode", "normalize", "staging writes", "raw archive",
                           "publish merge", "views", "HTTP and event loop", "waiting in epoll",
                           "imports", OTHER)
assert {stage for stage, _, _ in RULES} <= set(STAGES), "every rule's stage is a row"

Func = tuple[str, int, str]  # pstats' key: (file, line, name); C functions have file "~"
CallerTimes = tuple[int, int, float, float]  # (primitive calls, calls, tottime, cumtime)
Stats = Mapping[Func, tuple[int, int, float, float, Mapping[Func, CallerTimes]]]

_COMPILED = tuple((stage, what, re.compile(pattern)) for stage, what, pattern in RULES)


def own_stage(func: Func) -> str | None:
    """The stage the function's own file or name decides, or None (it takes its callers')."""
    file, _, name = func
    builtin = file == "~"
    path = file.replace("\\", "/")
    for stage, what, pattern in _COMPILED:
        if what == "builtin" and builtin and pattern.search(name):
            return stage
        if what == "file" and not builtin and pattern.search(path):
            return stage
        if what == "function" and not builtin and pattern.search(name):
            return stage
    return None


class Attribution:
    """Stage weights of every function of one profile, computed once per function."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self._through: dict[Func, dict[str, float]] = {}
        self._busy: set[Func] = set()

    def own_time(self, func: Func) -> dict[str, float]:
        """The function's tottime, split over stages."""
        tottime = self.stats[func][2]
        stage = own_stage(func)
        if stage is not None:
            return {stage: tottime}
        self._busy.add(func)
        try:
            weights = self._from_callers(func, index=2)
        finally:
            self._busy.discard(func)
        return {s: w * tottime for s, w in weights.items()}

    def _through_caller(self, func: Func) -> dict[str, float]:
        """Where time spent inside a call from ``func`` belongs: its stage, else its callers'."""
        stage = own_stage(func)
        if stage is not None:
            return {stage: 1.0}
        known = self._through.get(func)
        if known is None:
            self._busy.add(func)
            try:
                known = self._from_callers(func, index=3)
            finally:
                self._busy.discard(func)
            self._through[func] = known
        return known

    def _from_callers(self, func: Func, index: int) -> dict[str, float]:
        """Stage weights (summing to 1) from the callers, weighted by their ``index`` time.

        ``index`` 2 weighs a caller by the function's own time in calls from it, 3 by its
        cumulative time; both fall back to call counts when all the times are zero. A caller
        already being resolved (a cycle) is left out; none left means "other".
        """
        callers = {c: t for c, t in self.stats[func][4].items()
                   if c != func and c in self.stats and c not in self._busy}
        weights = {c: t[index] for c, t in callers.items()}
        if sum(weights.values()) <= 0:
            weights = {c: float(t[1]) for c, t in callers.items()}
        total = sum(weights.values())
        if total <= 0:
            return {OTHER: 1.0}
        out: dict[str, float] = defaultdict(float)
        for caller, weight in weights.items():
            for stage, share in self._through_caller(caller).items():
                out[stage] += share * weight / total
        return dict(out)


def summarize(stats: Stats, top: int = 3) -> dict[str, Any]:
    """Seconds per stage (every stage of :data:`STAGES`, zero or not) and each stage's
    largest functions; ``total_s`` is the profile's whole main-thread time."""
    attribution = Attribution(stats)
    # Resolving a caller's stage recurses up through callers no rule matches.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))
    seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    by_function: dict[str, dict[Func, float]] = defaultdict(dict)
    for func in stats:
        for stage, s in attribution.own_time(func).items():
            seconds[stage] = seconds.get(stage, 0.0) + s
            by_function[stage][func] = by_function[stage].get(func, 0.0) + s
    total = sum(seconds.values())
    idle = seconds.get("waiting in epoll", 0.0)
    stages = {}
    for stage, s in seconds.items():
        largest = sorted(by_function[stage].items(), key=lambda kv: -kv[1])[:top]
        stages[stage] = {"s": round(s, 4),
                         "busy_share": s / (total - idle) if total > idle and
                         stage != "waiting in epoll" else None,
                         "top": [[label(f), round(t, 4)] for f, t in largest if t > 0]}
    return {"total_s": round(total, 4), "idle_s": round(idle, 4), "busy_s": round(total - idle, 4),
            "stages": stages}


def load(path: Path) -> Stats:
    stats: Stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    return stats


_C_METHOD = re.compile(r"^<method '(?P<name>[^']+)' of '(?P<type>[^']+)' objects>$")
_C_FUNCTION = re.compile(r"^<built-in method (?P<name>[^ >]+)>$")


def label(func: Func) -> str:
    """``store/writer.py:88(write)`` for a Python function; ``msgspec.json.Decoder.decode``
    or ``posix.fsync`` for a C function (pstats' own spelling when it is neither form)."""
    file, line, name = func
    if file == "~":
        if m := _C_METHOD.match(name):
            return f"{m['type']}.{m['name']}"
        if m := _C_FUNCTION.match(name):
            return m["name"]
        return name
    tail = "/".join(Path(file.replace("\\", "/")).parts[-2:]) if "/" in file else file
    return f"{tail}:{line}({name})"


def markdown(summary: Mapping[str, Any]) -> str:
    rows = []
    for stage, s in summary["stages"].items():
        share = s["busy_share"]
        top = "; ".join(f"{name} {t:.2f}" for name, t in s["top"])
        rows.append([stage, s["s"], "–" if share is None else f"{share:.0%}", top or "–"])
    head = (f"Main thread: {summary['total_s']:.2f} s profiled, {summary['idle_s']:.2f} s of "
            f"them waiting in epoll, {summary['busy_s']:.2f} s busy (cProfile's own overhead "
            "included).")
    return head + "\n\n" + table(["stage", "s", "% of busy", "largest functions (s)"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, metavar="FILE.prof")
    parser.add_argument("--top", type=int, default=3, help="largest functions shown per stage")
    args = parser.parse_args(argv)
    print(markdown(summarize(load(args.file), args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
