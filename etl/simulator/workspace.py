"""A seeded, internally consistent simulated workspace: its options, projects and evals.

Pure: no I/O, no clock. ``app.py`` serves the bodies built here and tests use the same
builders as ground truth. Equal options give an equal workspace; the panel bodies live in
``metrics.py`` and ``images.py`` and read only (seed, eval id, ...), so building one body
never depends on which others were built, and an eval of 200,000 images is never
materialised: image pages are made one at a time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from etl.simulator import images, metrics
from etl.simulator.common import (
    CLASS_WORDS,
    DETECTION,
    FAULT_KINDS,
    PANEL_NAMES,
    SEMSEG,
    SPLIT_ORDER,
    SPLITS,
    STATUSES,
    ident,
    leading_pair,
    rng_for,
    stable_hash,
)

__all__ = ["FAULT_KINDS", "PANEL_NAMES", "READINGS", "STATUSES", "SimEval", "SimOptions",
           "SimProject", "SimWorkspace", "generate", "stable_hash"]

ListOrder = Literal["newest", "oldest", "random"]
LimitOverMax = Literal["clamp", "reject"]
FilterCombination = Literal["reject", "most_specific"]
ImageDefaultSplit = Literal["all", "test"]
DefaultConfidence = Literal["20", "optimal"]
CompareRoute = Literal["served", "absent"]  # absent: a server without §9.5 (404, not_found)
READINGS: dict[str, tuple[str, ...]] = {  # option -> its readings, the default first
    "list_order": get_args(ListOrder), "limit_over_max": get_args(LimitOverMax),
    "filter_combination": get_args(FilterCombination),
    "image_default_split": get_args(ImageDefaultSplit),
    "default_confidence": get_args(DefaultConfidence), "compare_route": get_args(CompareRoute)}
# Always a class of the first project, so byte-exact class-name handling gets exercised.
AWKWARD_CLASS = 'défaut "grave", type B'
# ``hostile_names``: markup-like class names (image names: images.HOSTILE_STEMS), so anything
# that renders the workspace (the HTML report) can be shown to print them as text.
HOSTILE_CLASSES = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
_NEWEST = datetime(2026, 4, 27, 20, 4, 10, 904000, tzinfo=UTC)
SEMSEG_TYPE = "semantic-segmentation"  # the workspace listing's project type
_PROJECT_WORDS = ("chess-pieces", "hard-hat-detection", "conveyor-defects", "car-rims",
                  "pcb-defects", "road-signs", "fish-species", "solar-panels", "retail-shelf",
                  "wildlife-cam", "aerial-roofs", "weld-seams")


@dataclass(frozen=True)
class SimOptions:
    """Every knob of the simulator; defaults follow api-contract.md §17 ("Simulator").

    Rates are exact shares (``round(rate * n)`` evals get the property), so counts are
    predictable and the seed only chooses which evals. ``mutate`` is an in-process hook for
    hostile-input tests: ``mutate(kind, eval_id, body)`` with kind a panel name or
    ``"list"``/``"get"``/``"workspace"``/``"compare"``, called before serialising; it returns
    the object to serialise as JSON, ``bytes`` to send verbatim (status 200), or ``None`` to
    send ``body`` as (possibly) changed in place.
    """

    workspace: str = "acme"
    api_key: str = "sim-key"
    scopeless_key: str | None = None  # a valid key without model-eval:read: 403 on model-evals
    seed: int = 0
    projects: int = 3
    versions: int = 4
    evals: int = 24
    images: tuple[int, int] = (40, 300)
    classes: tuple[int, int] = (3, 8)
    running_rate: float = 0.1
    failed_rate: float = 0.05
    deleted_project_rate: float = 0.05
    semseg_rate: float = 0.15
    missing_panel_rate: float = 0.03
    recs_not_generated_rate: float = 0.2
    model_id_null_rate: float = 0.3
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0  # uniform [0, jitter) more, seeded per (URL, attempt)
    list_order: ListOrder = "newest"
    limit_over_max: LimitOverMax = "clamp"
    filter_combination: FilterCombination = "reject"
    image_default_split: ImageDefaultSplit = "all"
    default_confidence: DefaultConfidence = "20"
    compare_route: CompareRoute = "served"
    confidences: tuple[int, ...] | None = None  # None: {20, 50, the eval's optimal}
    header_fields: bool = False
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_max_per_url: int = 3
    slow_seconds: float = 2.0
    retry_after_seconds: int = 1
    down_after: int | None = None
    down_seconds: float = 0.0
    # Time passes mid-crawl: after this many requests, every running eval becomes done (once).
    finish_after: int | None = None
    # Every done eval's panel answers 409 model_eval_not_done to its first N calls per URL.
    not_done_first_calls: int = 0
    # Every project's first classes, and one image in two, get markup-like names.
    hostile_names: bool = False
    mutate: Callable[[str, str, dict[str, Any]], object] | None = None

    def __post_init__(self) -> None:
        rates = ("running_rate", "failed_rate", "deleted_project_rate", "semseg_rate",
                 "missing_panel_rate", "recs_not_generated_rate", "model_id_null_rate",
                 "fault_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.running_rate + self.failed_rate > 1.0:
            raise ValueError("running_rate + failed_rate must not exceed 1")
        for name, readings in READINGS.items():
            if getattr(self, name) not in readings:
                raise ValueError(f"{name} must be one of {', '.join(readings)}")
        if unknown := set(self.fault_kinds) - set(FAULT_KINDS):
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        for name, (low, high) in (("images", self.images), ("classes", self.classes)):
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max")
        if self.projects < 1 or self.versions < 1 or self.evals < 0:
            raise ValueError("projects and versions must be >= 1, evals >= 0")
        if any(not 0 <= c <= 100 for c in self.confidences or ()):
            raise ValueError("confidences must be integer percents in [0, 100]")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("latency_ms and latency_jitter_ms must be >= 0")
        if self.finish_after is not None and self.finish_after < 0:
            raise ValueError("finish_after must be >= 0")
        if self.not_done_first_calls < 0:
            raise ValueError("not_done_first_calls must be >= 0")


@dataclass(frozen=True)
class SimProject:
    slug: str
    name: str
    type: str  # the workspace listing's project type
    versions: int
    classes: tuple[str, ...]
    listed: bool  # False: the project was deleted, its evals show ``project: null``
    created: float


@dataclass(frozen=True)
class SimEval:
    seed: int
    eval_id: str
    status: str
    project: str | None  # as the API shows it: None when the project was deleted
    project_slug: str  # the slug even when deleted
    version_id: str
    model_id: str | None
    model_url: str | None
    created_at: str
    task_type: str
    n_images: int
    split_sizes: tuple[int, int, int]  # train, valid, test: images are indexed in that order
    classes: tuple[str, ...]
    missing_panel: str | None  # a done eval's panel whose backing data is missing (409)
    recs_generated: bool
    hostile_names: bool = False  # image names are markup-like (images.identity)

    @property
    def cm_classes(self) -> list[str]:
        return [*self.classes, "background"]

    def split_range(self, split: str) -> tuple[int, int]:
        """Image index range ``[lo, hi)`` of a split (``all`` spans every image)."""
        if split == "all":
            return 0, self.n_images
        i = SPLITS.index(split)
        lo = sum(self.split_sizes[:i])
        return lo, lo + self.split_sizes[i]

    def present_splits(self) -> list[str]:
        return [s for s in SPLIT_ORDER if self.split_sizes[SPLITS.index(s)] > 0]


def _share(rate: float, n: int) -> int:
    return int(rate * n + 0.5)


def generate(options: SimOptions) -> SimWorkspace:
    """Build the workspace ``options`` describe; equal options give equal workspaces."""
    rng = rng_for(options.seed, "workspace")
    projects = _make_projects(options, rng)
    evals = _make_evals(options, projects, rng)
    return SimWorkspace(options, projects, evals)


def _make_projects(options: SimOptions, rng: random.Random) -> tuple[SimProject, ...]:
    n_semseg = _share(options.semseg_rate, options.projects)
    if options.semseg_rate > 0 and options.projects >= 2:
        n_semseg = max(n_semseg, 1)  # so a default workspace always shows both task shapes
    semseg = set(rng.sample(range(options.projects), n_semseg))
    words = rng.sample(_PROJECT_WORDS, min(options.projects, len(_PROJECT_WORDS)))
    projects = []
    for i in range(options.projects + 1):  # the extra one is the deleted project
        word = words[i % len(words)] if i < options.projects else "retired-project"
        slug = f"{word}-{ident(rng, 5).lower()}"
        k = rng.randint(*options.classes)
        classes = rng.sample(CLASS_WORDS, min(k, len(CLASS_WORDS)))
        if i == 0:
            classes[-1] = AWKWARD_CLASS
        if options.hostile_names:  # after the draws: the rest of the workspace is unchanged
            for j, name in enumerate(HOSTILE_CLASSES[:len(classes) - 1]):  # the last one stays
                classes[j] = name
        kind = "semantic-segmentation" if i in semseg else rng.choice(
            ("object-detection", "object-detection", "instance-segmentation"))
        projects.append(SimProject(
            slug=slug, name=word.replace("-", " ").title(), type=kind,
            versions=options.versions, classes=tuple(classes), listed=i < options.projects,
            created=round(1_700_000_000 + rng.uniform(0, 3e7), 3)))
    return _with_cars_and_trucks(projects, options)


def _with_cars_and_trucks(projects: list[SimProject], options: SimOptions) -> tuple[SimProject, ...]:
    """The first detection project's first classes are car and truck (after every draw)."""
    first = next((i for i, p in enumerate(projects) if p.listed and p.type != SEMSEG_TYPE), None)
    if options.hostile_names or first is None or len(projects[first].classes) < 3:
        return tuple(projects)
    projects[first] = replace(projects[first], classes=leading_pair(projects[first].classes))
    return tuple(projects)


def _make_evals(options: SimOptions, projects: tuple[SimProject, ...],
                rng: random.Random) -> tuple[SimEval, ...]:
    n = options.evals
    order = list(range(n))
    rng.shuffle(order)
    n_running, n_failed = _share(options.running_rate, n), _share(options.failed_rate, n)
    status = {i: "running" for i in order[:n_running]}
    status.update({i: "failed" for i in order[n_running:n_running + n_failed]})
    done = [i for i in range(n) if i not in status]
    deleted = set(rng.sample(range(n), _share(options.deleted_project_rate, n)))
    null_model = set(rng.sample(range(n), _share(options.model_id_null_rate, n)))
    missing = set(rng.sample(done, _share(options.missing_panel_rate, len(done))))
    no_recs = set(rng.sample(done, _share(options.recs_not_generated_rate, len(done))))
    ages = sorted(rng.sample(range(1, 180 * 86_400_000), n)) if n else []
    models: dict[tuple[str, int], list[str]] = {}
    evals = []
    for i in range(n):
        project = projects[-1] if i in deleted else rng.choice(projects[:-1])
        version = rng.randint(1, project.versions)
        pool = models.setdefault((project.slug, version), [ident(rng) for _ in range(2)])
        n_images = rng.randint(*options.images)
        n_test = round(n_images * rng.uniform(0.1, 0.2))
        n_valid = round(n_images * rng.uniform(0.1, 0.25))
        evals.append(SimEval(
            seed=options.seed, eval_id=ident(rng), status=status.get(i, "done"),
            project=None if i in deleted else project.slug, project_slug=project.slug,
            version_id=str(version),
            model_id=None if i in null_model else rng.choice(pool),
            model_url=None if i in deleted else f"{project.slug}/{version}",
            created_at=metrics.iso_ms(_NEWEST - timedelta(milliseconds=ages[i])),
            task_type=SEMSEG if project.type == "semantic-segmentation" else DETECTION,
            n_images=n_images,
            split_sizes=(n_images - n_test - n_valid, n_valid, n_test),
            classes=project.classes,
            missing_panel=rng.choice(PANEL_NAMES[:-1]) if i in missing else None,
            recs_generated=i not in no_recs, hostile_names=options.hostile_names))
    return tuple(evals)  # index 0 has the smallest age: newest first


class SimWorkspace:
    """The generated workspace, and the pure builders of every response body it serves."""

    def __init__(self, options: SimOptions, projects: tuple[SimProject, ...],
                 evals: tuple[SimEval, ...]) -> None:
        self.options = options
        self.all_projects = projects  # including the deleted one
        self.projects = tuple(p for p in projects if p.listed)
        self.evals = evals  # newest first
        self.by_id = {ev.eval_id: ev for ev in evals}

    def finish(self, eval_ids: set[str]) -> None:
        """Time passes: these running or failed evals are now done (their panels answer).

        The only mutation the simulated workspace allows, so that tests can show a nightly
        run picking up evals that finished since the last one.
        """
        self.evals = tuple(replace(ev, status="done") if ev.eval_id in eval_ids else ev
                           for ev in self.evals)
        self.by_id = {ev.eval_id: ev for ev in self.evals}

    def ground_truth(self, *, image_confusion: bool = False) -> dict[str, Any]:
        """Everything this workspace serves, with the rows an export owes (see ``truth.py``)."""
        from etl.simulator import truth  # truth reads this module's types: import late

        return truth.ground_truth(self, image_confusion=image_confusion)

    def select(self, *, project: str | None = None, version: str | None = None,
               model: str | None = None, status: str | None = None) -> list[SimEval]:
        """Evals matching every given filter, newest first, no limit applied."""
        return [ev for ev in self.evals
                if (project is None or ev.project == project)
                and (version is None or ev.version_id == version)
                and (model is None or ev.model_id == model)
                and (status is None or ev.status == status)]

    def list_row(self, ev: SimEval) -> dict[str, Any]:
        return {"evalId": ev.eval_id, "status": ev.status, "project": ev.project,
                "versionId": ev.version_id, "modelId": ev.model_id,
                "createdAt": ev.created_at, "modelUrl": ev.model_url}

    def get_body(self, ev: SimEval) -> dict[str, Any]:
        """A running or failed eval has no ``summary`` key at all (not ``null``)."""
        body = self.list_row(ev)
        if ev.status == "done":
            body["summary"] = metrics.summary(ev)
        return body

    def workspace_body(self) -> dict[str, Any]:
        projects = []
        for p in self.projects:
            rng = rng_for(self.options.seed, "project", p.slug)
            splits = {s: rng.randint(20, 2000) for s in SPLITS}
            projects.append({
                "id": f"{self.options.workspace}/{p.slug}", "type": p.type, "name": p.name,
                "created": p.created, "updated": round(p.created + rng.uniform(0, 1e6), 3),
                "images": sum(splits.values()), "unannotated": rng.randint(0, 50),
                "annotation": p.name.lower(), "versions": p.versions, "public": False,
                "splits": splits, "classes": {c: rng.randint(5, 5000) for c in p.classes}})
        return {"workspace": {"name": self.options.workspace.title(),
                              "url": self.options.workspace, "members": 7,
                              "projects": projects}}

    def compare_body(self, project: str, version: str,
                     frontier_metric: str | None) -> dict[str, Any]:
        evals = self.select(project=project, version=version, status="done")
        return metrics.compare(evals, project, version, frontier_metric)

    # confidence variants

    def optimal_pct(self, ev: SimEval) -> int:
        return metrics.optimal_pct(ev)

    def default_confidence(self, ev: SimEval) -> int:
        """The canonical variant a request without ``confidence`` gets."""
        return metrics.optimal_pct(ev) if self.options.default_confidence == "optimal" else 20

    def materialized(self, ev: SimEval) -> frozenset[int]:
        """Confidence variants with a stored report; the default one always has one."""
        chosen = self.options.confidences
        base = {20, 50, metrics.optimal_pct(ev)} if chosen is None else set(chosen)
        return frozenset(base | {self.default_confidence(ev)})

    # panels

    def panel_body(self, ev: SimEval, panel: str, split: str | None = None,
                   confidence_pct: int | None = None) -> dict[str, Any]:
        """Any panel's body (image-predictions: its first page); ``None`` means the default."""
        confidence = self.default_confidence(ev) if confidence_pct is None else confidence_pct
        if panel == "image-predictions":
            return self.image_page(ev, split, confidence, 0, 200)
        if panel == "map-results":
            body = metrics.map_results(ev)
        elif panel == "confidence-sweep":
            body = metrics.confidence_sweep(ev)
        elif panel == "performance-by-class":
            body = metrics.performance_by_class(ev, split or "test")
        elif panel == "confusion-matrix":
            body = metrics.confusion_matrix(ev, split or "test", confidence)
        elif panel == "vector-analysis":
            body = images.vector_analysis(ev, confidence)
        elif panel == "recommendations":
            body = metrics.recommendations(ev)
        else:
            raise ValueError(f"unknown panel {panel!r}")
        return self._with_header(ev, body)

    def image_page(self, ev: SimEval, split: str | None, confidence_pct: int | None,
                   offset: int, limit: int) -> dict[str, Any]:
        """One page of image-predictions, built alone; ``None`` params take the defaults."""
        confidence = self.default_confidence(ev) if confidence_pct is None else confidence_pct
        split = split or self.options.image_default_split
        return self._with_header(ev, images.page(ev, split, confidence, offset, limit))

    def iter_images(self, ev: SimEval, split: str,
                    confidence_pct: int) -> Iterator[dict[str, Any]]:
        """Every image of a split, lazily (ground truth for tests)."""
        lo, hi = ev.split_range(split)
        return (images.image(ev, i, confidence_pct) for i in range(lo, hi))

    def _with_header(self, ev: SimEval, body: dict[str, Any]) -> dict[str, Any]:
        if not self.options.header_fields:
            return body
        return {"evalId": ev.eval_id, "project": ev.project, "versionId": ev.version_id,
                "modelId": ev.model_id, **body}
