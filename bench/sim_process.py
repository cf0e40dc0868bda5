"""Start ``bench.sim_server`` as a child process, wait until it listens, read its counters."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.workload import Workload


@dataclass(frozen=True)
class SimProcess:
    url: str
    info: dict[str, Any]  # the server's ready line: workspace, api_key, planned_requests...

    @property
    def workspace(self) -> str:
        return str(self.info["workspace"])

    @property
    def api_key(self) -> str:
        return str(self.info["api_key"])

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/__sim__/stats", timeout=10) as response:
            stats: dict[str, Any] = json.load(response)
        return stats

    def requests(self) -> int:
        return int(self.stats()["requests"])


@contextmanager
def sim_process(workload: Workload, log: Path) -> Iterator[SimProcess]:
    argv = [sys.executable, "-m", "bench.sim_server", "--evals", str(workload.evals),
            "--images", *map(str, workload.images), "--latency-ms", str(workload.latency_ms),
            "--fault-rate", str(workload.fault_rate), "--seed", str(workload.seed),
            "--projects", str(workload.projects), "--versions", str(workload.versions)]
    with log.open("ab") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err,
                                cwd=Path(__file__).resolve().parent.parent)
    try:
        yield SimProcess(*_ready(proc))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _ready(proc: subprocess.Popen[bytes]) -> tuple[str, dict[str, Any]]:
    assert proc.stdout is not None
    # The server prints exactly one line once it listens; EOF means it died first.
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"bench simulator did not start (exit code {proc.wait()})")
    info: dict[str, Any] = json.loads(line)
    return str(info["url"]), info
