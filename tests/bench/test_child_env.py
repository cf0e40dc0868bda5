"""Contenders start from the environment the harness was started with (bench.STARTED_WITH)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.contenders import ROOT

# The harness imports bench first and etl later, as ``python -m bench.run`` does; etl's import
# sets Arrow's allocator variable in the harness, which no contender may inherit.
SCRIPT = """
from bench.contenders import CONTENDERS, child_env
from bench.sim_process import SimProcess
import etl, os
assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"
sim = SimProcess("http://127.0.0.1:1", {"workspace": "acme", "api_key": "k"})
print(child_env(sim, CONTENDERS["etl"]).get("ARROW_DEFAULT_MEMORY_POOL", "unset"))
"""


def test_no_contender_inherits_the_allocator_that_importing_etl_chose() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "unset"
