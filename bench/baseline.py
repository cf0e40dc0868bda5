"""evals-etl at an earlier commit, as a contender: a detached git worktree of that commit.

``baseline_tree(rev, work)`` checks ``rev`` out into ``<work>/baseline-tree`` (``git worktree
add --detach``) and removes it again (``git worktree remove --force``) when the block ends,
whatever happened in it. The contender runs ``python -m etl export`` with the same
interpreter and virtual environment as evals-etl, with its working folder and
``PYTHONPATH`` at the worktree, so the ``etl`` package imported is the commit's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.contenders import CONCURRENCY, ROOT, Contender, etl_argv, etl_rows

KEY = "etl-base"


@dataclass(frozen=True)
class Baseline:
    rev: str  # as given on the command line
    commit: str  # the full hash it resolved to
    short: str
    tree: Path

    def contender(self) -> Contender:
        return Contender(KEY, f"evals-etl at {self.short}", CONCURRENCY, etl_argv,
                         etl_rows, root=self.tree, etl=True)

    def as_dict(self) -> dict[str, str]:
        return {"rev": self.rev, "commit": self.commit, "short": self.short,
                "tree": str(self.tree)}



class BaselineError(RuntimeError):
    """The baseline's worktree could not be made (or removed): git's own message."""


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BaselineError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise BaselineError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def baseline_tree(rev: str, work: Path) -> Iterator[Baseline]:
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    short = _git("rev-parse", "--short", commit)
    tree = work / "baseline-tree"
    _git("worktree", "add", "--detach", str(tree), commit)
    try:
        print(f"baseline: evals-etl at {short} checked out in {tree}", file=sys.stderr,
              flush=True)
        yield Baseline(rev, commit, short, tree)
    finally:
        try:
            _git("worktree", "remove", "--force", str(tree))
        except BaselineError as exc:  # say so; an error of the block itself matters more
            print(f"baseline: {exc}", file=sys.stderr, flush=True)
