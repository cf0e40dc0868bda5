"""Benchmarks: ``python -m bench.run`` (BENCHMARKS.md says what each one measures)."""

import os

# The environment the harness was started with, taken before any module imports etl, whose
# ``__init__`` picks Arrow's allocator through ARROW_DEFAULT_MEMORY_POOL: contenders (the
# baseline commit above all) start from this one, so each picks its own allocator.
STARTED_WITH: dict[str, str] = dict(os.environ)
