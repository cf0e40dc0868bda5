"""Published datasets for the report's tests: the demo's workspace with hostile names.

Seed 7 is the demo's seed; ``hostile_names`` changes only names, so the dataset holds what
the demo's does: done evals of both task shapes, two running and one failed eval, and a done
eval whose vector analysis is missing (409, ``unavailable``).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.runs import export, simulator

MISSING_VECTOR = "pDIQOx5WlRB7gZlgCtie"  # its vector-analysis panel answers 409 for good


def make_dataset(out: Path, **options: object) -> Path:
    with simulator(seed=7, hostile_names=True, **options) as sim:
        export(sim, out, confidences=(None, 50))
    return out
