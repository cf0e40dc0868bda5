"""evals-etl: export Roboflow model evaluations into typed Parquet tables and DuckDB views."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Arrow's buffers from the C library's allocator rather than mimalloc, unless the user picked a
# pool. pyarrow reads this once, when it is first imported, hence here: before any module of
# ours imports it. mimalloc keeps the segments that freed batches leave for later ones; a
# crawl frees batches of every size all along, and the publish then allocates its own on top
# of what the crawl left mapped, while malloc hands big blocks back as they are freed.
# Measured on one 200,000-image eval (``python -m bench.run scaling``): peak RSS about 60 MB
# lower, in the same time.
if "pyarrow" not in _sys.modules:
    _os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
