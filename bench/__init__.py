"""Benchmarks: ``python -m bench.run`` (BENCHMARKS.md says what each one measures)."""

import os

# The environment the harness was started with. Importing etl sets ARROW_DEFAULT_MEMORY_POOL
# in this process (etl/__init__.py picks Arrow's allocator that way), and ``python -m
# bench.run`` imports this package before any module imports etl: contenders (the baseline
# commit above all) start from this copy, so each picks its own allocator.
STARTED_WITH: dict[str, str] = dict(os.environ)
