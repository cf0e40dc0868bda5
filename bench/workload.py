"""The simulated workspaces the benchmarks run against, and what a plan over them costs.

Every eval is ``done`` and no panel is missing: the contenders then make exactly the same
requests (a running eval would cost evals-etl one call but dlt twelve), so their request
counts can be compared one for one. Faults are off unless a run asks for them. Evals of a
deleted project (``project`` null in the listing) stay: their panels are fetched, but their
version has no compare call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from etl.simulator import SimOptions, SimWorkspace

LIST_CAP = 200  # the list endpoint's cap: at this many evals evals-etl partitions the listing
PAGE = 1000  # image-predictions page size every contender asks for (the API's maximum)
SPLITS = ("train", "valid", "test")
# get, map-results, confidence-sweep, recommendations, vector-analysis, 3 x pbc, 3 x cm
FIXED_PANELS_PER_EVAL = 11


@dataclass(frozen=True)
class Workload:
    evals: int
    images: tuple[int, int]
    latency_ms: float
    fault_rate: float = 0.0
    seed: int = 7
    projects: int = 3
    versions: int = 4

    def sim_options(self, **extra: Any) -> SimOptions:
        return replace(
            SimOptions(), seed=self.seed, evals=self.evals, images=self.images,
            latency_ms=self.latency_ms, fault_rate=self.fault_rate, projects=self.projects,
            versions=self.versions, running_rate=0.0, failed_rate=0.0,
            missing_panel_rate=0.0, **extra)

    def describe(self) -> str:
        lo, hi = self.images
        images = f"{lo}" if lo == hi else f"{lo}-{hi}"
        faults = f", fault rate {self.fault_rate:g}" if self.fault_rate else ""
        return (f"{self.evals} evals x {images} images, latency {self.latency_ms:g} ms, "
                f"seed {self.seed}{faults}")


def planned_requests(workspace: SimWorkspace) -> int | None:
    """Requests a fault-free run of the default plan makes; None when the listing partitions.

    One list call, then per eval the eleven fixed panel calls and one call per image page
    (at least one: an empty eval still answers its first page), and one compare call per
    project version of :func:`compare_versions`.
    """
    if len(workspace.evals) >= LIST_CAP:
        return None
    panels = sum(FIXED_PANELS_PER_EVAL + image_pages(ev.n_images) for ev in workspace.evals)
    return 1 + panels + len(compare_versions(workspace))


def compare_versions(workspace: SimWorkspace) -> list[tuple[str, str]]:
    """The (project, version) pairs a run asks ``GET /{ws}/model-evals/compare`` about.

    The rule of ``etl.crawl.plan.plan_comparisons`` on a first run: every distinct pair among
    the done evals whose project and version are both known (the listing shows ``project``
    null for an eval of a deleted project).
    """
    return sorted({(ev.project, ev.version_id) for ev in workspace.evals
                   if ev.status == "done" and ev.project is not None
                   and ev.version_id is not None})


def listed_compare_versions(listing: list[dict[str, object]]) -> list[tuple[str, str]]:
    """:func:`compare_versions` from the rows of the list endpoint, as a client sees them."""
    pairs: set[tuple[str, str]] = set()
    for row in listing:
        project, version = row.get("project"), row.get("versionId")
        if row.get("status") == "done" and project is not None and version is not None:
            pairs.add((str(project), str(version)))
    return sorted(pairs)


def image_pages(n_images: int) -> int:
    return max(1, math.ceil(n_images / PAGE))
