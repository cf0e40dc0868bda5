"""Hostile payloads on every endpoint, through the simulator's ``mutate`` hook, over real HTTP.

For each payload the run must not crash, must write nothing outside its output folder, must
publish the other evals' data exactly as a clean run does, and must record an error in
``panel_status`` that names the eval, the panel and the field. Payloads the contract allows
(unknown fields, long strings, duplicate image ids, a ``totalImages`` that changed once) must
give the clean data. One simulator serves the whole module; each test sets the cases it plays.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest

from etl import config as config_module
from etl.config import KEY_ENV
from etl.errors import ConfigError, ContractError, EtlError, TransientError
from etl.export import RunSummary
from etl.schemas import TABLES
from etl.simulator import SimHandle
from etl.store import publish
from tests.support.runs import LINEAGE_OF_A_RUN, dataset, simulator, table
from tests.support.truth import published_mismatches, run, states, statuses, tree

WORKSPACE: dict[str, Any] = {"seed": 4, "evals": 6, "images": (5, 20), "missing_panel_rate": 0,
                             "recs_not_generated_rate": 0}
CRAWL: dict[str, Any] = {"image_page_size": 5, "concurrency": 4}
MB = "x" * 2**20
JsonPath = tuple[str | int, ...]


# -- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile payload: which endpoint's bodies change, how, and the error it must cause."""

    kind: str  # "list", "get" or a panel
    name: str
    change: Callable[[dict[str, Any], Mutator], object]
    field: str | None = None  # the field the error names; None: the payload must be accepted
    state: str = "error"
    code: str = "contract_error"
    later_pages_only: bool = False

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def setting(path: JsonPath, value: Any) -> Callable[[dict[str, Any], Mutator], object]:
    def change(body: dict[str, Any], _: Mutator) -> None:
        *parents, last = path
        _walk(body, parents)[last] = value
    return change


def dropping(path: JsonPath) -> Callable[[dict[str, Any], Mutator], object]:
    def change(body: dict[str, Any], _: Mutator) -> None:
        *parents, last = path
        del _walk(body, parents)[last]
    return change


def non_finite(path: JsonPath, token: str) -> Callable[[dict[str, Any], Mutator], object]:
    """``token`` (NaN, Infinity, -Infinity) at ``path``: JSON cannot say it, so raw bytes."""
    marker = "\u2063non-finite\u2063"

    def change(body: dict[str, Any], m: Mutator) -> bytes:
        setting(path, marker)(body, m)
        return json.dumps(body).replace(json.dumps(marker), token).encode()
    return change


def unknown_fields(*paths: JsonPath) -> Callable[[dict[str, Any], Mutator], object]:
    def change(body: dict[str, Any], _: Mutator) -> None:
        for path in paths:
            _walk(body, path)["zzFuture"] = {"nested": [1, "two", None], "flag": True}
    return change


def malformed(body: dict[str, Any], _: Mutator) -> bytes:
    return json.dumps(body).encode()[:40]


def wrong_root(body: dict[str, Any], _: Mutator) -> list[Any]:
    return [body]


def _walk(body: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        body = body[step]
    return body


def duplicate_image_across_pages(body: dict[str, Any], m: Mutator) -> None:
    if body["offset"] == 0:
        m.memo["first"] = copy.deepcopy(body["images"][0])
    else:  # page 1 always comes first; later pages repeat its first image verbatim
        body["images"].append(m.memo["first"])


def total_changes_once(body: dict[str, Any], m: Mutator) -> None:
    if body["offset"] and not m.memo.get("changed"):
        m.memo["changed"] = True
        body["totalImages"] += 1


def total_changes_always(body: dict[str, Any], _: Mutator) -> None:
    if body["offset"]:
        body["totalImages"] += 1


S = ("splits", "test")
R = ("recommendations",)
MALFORMED: dict[str, Any] = {"field": "undecodable body", "state": "unavailable", "code": "malformed_body"}
# Each round plays one hostility on every endpoint of the target eval in the same run.
ROUNDS: dict[str, list[Case]] = {
    "malformed JSON": [Case(kind, "malformed", malformed, **MALFORMED) for kind in (
        "get", "map-results", "confidence-sweep", "performance-by-class", "confusion-matrix",
        "vector-analysis", "image-predictions", "recommendations")],
    "root of the wrong type": [Case(kind, "root is a list", wrong_root, "$") for kind in (
        "get", "map-results", "confidence-sweep", "performance-by-class", "confusion-matrix",
        "vector-analysis", "image-predictions", "recommendations")],
    "container of the wrong type": [
        Case("get", "summary", setting(("summary",), "great"), "$.summary"),
        Case("map-results", "splits", setting(("splits",), []), "$.splits"),
        Case("confidence-sweep", "sweep", setting((*S, "perThreshold"), []),
             "$.splits.test.perThreshold"),
        Case("performance-by-class", "classes", setting(("classes",), {}), "$.classes"),
        Case("confusion-matrix", "classes", setting(("classes",), "a,b"), "$.classes"),
        Case("vector-analysis", "clusters", setting(("clusters",), {}), "$.clusters"),
        Case("image-predictions", "images", setting(("images",), {}), "$.images"),
        Case("recommendations", "items", setting((*R, "items"), {}), "$.recommendations.items"),
    ],
    "value of the wrong type": [
        Case("get", "status", setting(("status",), 7), "$.status"),
        Case("map-results", "precision", setting((*S, "precision"), "x"),
             "$.splits.test.precision"),
        Case("confidence-sweep", "point", setting((*S, "perThreshold", "0.50", "f1"), "x"),
             '$.splits.test.perThreshold["0.50"].f1'),
        Case("performance-by-class", "className", setting(("classes", 0, "className"), 1),
             "$.classes[0].className"),
        Case("confusion-matrix", "cell", setting(("matrix", 1, 0), "many"), "$.matrix[1][0]"),
        Case("vector-analysis", "noiseRatio",
             setting(("clustering", "metrics", "noiseRatio"), "x"),
             "$.clustering.metrics.noiseRatio"),
        Case("image-predictions", "imageId", setting(("images", 0, "imageId"), 5),
             "$.images[0].imageId"),
        Case("recommendations", "count", setting((*R, "summary", "count"), "three"),
             "$.recommendations.summary.count"),
    ],
    "another level of the wrong type": [
        Case("get", "summary value", setting(("summary", "precision"), "high"),
             "$.summary.precision"),
        Case("map-results", "split", setting(S, 3), "$.splits.test"),
        Case("confidence-sweep", "optimum", setting((*S, "optimalMetrics"), [0.5]),
             "$.splits.test.optimalMetrics"),
        Case("performance-by-class", "class", setting(("classes", 1), "car"), "$.classes[1]"),
        Case("confusion-matrix", "row", setting(("matrix", 0), "row"), "$.matrix[0]"),
        Case("vector-analysis", "cluster id", setting(("clusters", 0, "id"), "c"),
             "$.clusters[0].id"),
        Case("image-predictions", "totalImages", setting(("totalImages",), "many"),
             "$.totalImages"),
        Case("recommendations", "generated", setting(("generated",), "yes"), "$.generated"),
    ],
    "a required field missing": [
        Case("get", "status", dropping(("status",)), "$.status"),
        Case("map-results", "splits", dropping(("splits",)), "$.splits"),
        Case("confidence-sweep", "sweep", dropping((*S, "perThreshold")),
             "$.splits.test.perThreshold"),
        Case("performance-by-class", "className", dropping(("classes", 0, "className")),
             "$.classes[0].className"),
        Case("confusion-matrix", "matrix", dropping(("matrix",)), "$.matrix"),
        Case("vector-analysis", "cluster id", dropping(("clusters", 0, "id")),
             "$.clusters[0].id"),
        Case("image-predictions", "totalImages", dropping(("totalImages",)), "$.totalImages"),
        Case("recommendations", "generated", dropping(("generated",)), "$.generated"),
    ],
    "another required field missing": [
        Case("confidence-sweep", "splits", dropping(("splits",)), "$.splits"),
        Case("performance-by-class", "classes", dropping(("classes",)), "$.classes"),
        Case("confusion-matrix", "classes", dropping(("classes",)), "$.classes"),
        Case("vector-analysis", "clusters", dropping(("clusters",)), "$.clusters"),
        Case("image-predictions", "imageId", dropping(("images", 0, "imageId")),
             "$.images[0].imageId"),
    ],
    "NaN and Infinity": [
        Case("get", "NaN", non_finite(("summary", "recall"), "NaN"), "$.summary.recall"),
        Case("map-results", "Infinity", non_finite((*S, "recall"), "Infinity"),
             "$.splits.test.recall"),
        Case("confidence-sweep", "-Infinity",
             non_finite((*S, "optimalThreshold"), "-Infinity"), "$.splits.test.optimalThreshold"),
        Case("performance-by-class", "NaN", non_finite(("classes", 1, "f1"), "NaN"),
             "$.classes[1].f1"),
        Case("confusion-matrix", "NaN", non_finite(("matrix", 0, 0), "NaN"), "$.matrix[0][0]"),
        Case("vector-analysis", "Infinity",
             non_finite(("clustering", "processingTimeSeconds"), "Infinity"),
             "$.clustering.processingTimeSeconds"),
        Case("image-predictions", "NaN", non_finite(("images", 1, "stats", "f1"), "NaN"),
             "$.images[1].stats.f1"),
        Case("recommendations", "NaN", non_finite((*R, "summary", "f1"), "NaN"),
             "$.recommendations.summary.f1"),
    ],
    "inconsistent content": [
        Case("get", "another eval's payload", setting(("evalId",), "someone-else"), "$.evalId"),
        Case("map-results", "another eval's payload", setting(("evalId",), "x"), "$.evalId"),
        Case("confusion-matrix", "a row short", dropping(("matrix", 1, 0)), "$.matrix[1]"),
        Case("image-predictions", "totalImages changes on every pass", total_changes_always,
             "totalImages"),
    ],
    "a row missing from the matrix": [
        Case("confusion-matrix", "a row missing", dropping(("matrix", 2)), "$.matrix"),
    ],
    # Payloads the contract allows: the run must give the clean data, exactly.
    "unknown fields": [
        Case("get", "unknown", unknown_fields((), ("summary",))),
        Case("map-results", "unknown", unknown_fields((), S)),
        # perThreshold is keyed by threshold: a new key there is data, not an unknown field.
        Case("confidence-sweep", "unknown",
             unknown_fields((), S, (*S, "perThreshold", "0.50"), (*S, "optimalMetrics"))),
        Case("performance-by-class", "unknown", unknown_fields((), ("classes", 0))),
        Case("confusion-matrix", "unknown", unknown_fields(())),
        Case("vector-analysis", "unknown", unknown_fields((), ("clustering",), ("clusters", 0))),
        Case("image-predictions", "unknown",
             unknown_fields((), ("images", 0), ("images", 0, "stats"))),
        # Items are kept whole as JSON text (details), so an unknown key there is data.
        Case("recommendations", "unknown", unknown_fields((), R, (*R, "summary"))),
    ],
    "duplicate image ids across pages": [
        Case("image-predictions", "duplicates", duplicate_image_across_pages)],
    "totalImages changes once": [Case("image-predictions", "changes once", total_changes_once)],
}

LATER_PAGE_ROUNDS = {
    "later page of the wrong type": [Case(
        "image-predictions", "imageId", setting(("images", 0, "imageId"), 5),
        "$.images[0].imageId", later_pages_only=True)],
    "later page malformed": [Case("image-predictions", "malformed", malformed,
                                  later_pages_only=True, **MALFORMED)],
}

LIST_ERRORS = [
    Case("list", "malformed", malformed, "malformed JSON"),
    Case("list", "root is a list", wrong_root, "$"),
    Case("list", "evals wrong type", setting(("evals",), {}), "$.evals"),
    Case("list", "evals missing", dropping(("evals",)), "$.evals"),
    Case("list", "NaN", non_finite(("evals", 0, "versionId"), "NaN"), "$.evals[0].versionId"),
]
# A bad row costs its own eval only: the rest of the listing, and of the run, goes on.
LIST_ROW_ERRORS = [
    Case("list", "row status wrong type", setting(("evals", 2, "status"), 5),
         "$.evals[2].status"),
    Case("list", "row id missing", dropping(("evals", 1, "evalId")), "$.evals[1].evalId"),
]
LIST_ACCEPTED = [
    Case("list", "unknown fields", unknown_fields((), ("evals", 0))),
    Case("list", "a row twice", lambda body, m: body["evals"].append(body["evals"][0])),
]


# -- the simulator and the truth ---------------------------------------------------------------


@dataclass
class Mutator:
    """The simulator's ``mutate`` hook: plays the current cases on the target eval's bodies."""

    target: str = ""
    cases: dict[str, Case] = field(default_factory=dict)  # by endpoint
    renames: dict[str, str] = field(default_factory=dict)  # eval id -> the id it is listed as
    memo: dict[str, Any] = field(default_factory=dict)
    applied: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def __call__(self, kind: str, eval_id: str, body: dict[str, Any]) -> object:
        try:
            return self._mutate(kind, eval_id, body)
        except Exception as exc:  # a broken case must fail its test, not pass as a 500
            self.failures.append(f"{kind}: {type(exc).__name__}: {exc}")
            raise

    def _mutate(self, kind: str, eval_id: str, body: dict[str, Any]) -> object:
        if kind == "list":
            for row in body["evals"]:
                row["evalId"] = self.renames.get(row["evalId"], row["evalId"])
        elif kind == "get" and eval_id in self.renames:
            body["evalId"] = self.renames[eval_id]
        elif kind == "compare":  # the version's models name their evals as listed
            for model in body["models"]:
                model["evaluationId"] = self.renames.get(model["evaluationId"],
                                                         model["evaluationId"])
        case = self.cases.get(kind)
        if case is None or (kind != "list" and eval_id != self.target):
            return None
        if case.later_pages_only and not body.get("offset"):
            return None
        self.applied[kind] += 1
        return case.change(body, self)

    def play(self, cases: Sequence[Case] = (), renames: dict[str, str] | None = None) -> None:
        self.cases, self.renames = {c.kind: c for c in cases}, dict(renames or {})
        self.memo, self.applied = {}, Counter()
        self.failures.clear()


@dataclass
class World:
    sim: SimHandle
    mutator: Mutator
    truth: Path  # a clean export of the same simulator

    @property
    def target(self) -> str:
        return self.mutator.target


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    mutator = Mutator()
    with simulator(**WORKSPACE, mutate=mutator) as sim:
        # A done eval with every split populated and several image pages: every path exists.
        mutator.target = next(e.eval_id for e in sim.workspace.evals
                              if e.status == "done" and min(e.split_sizes) > 0
                              and e.n_images > 3 * CRAWL["image_page_size"])
        truth = tmp_path_factory.mktemp("truth") / "out"
        clean = run(sim, truth, **CRAWL)
        assert clean.status == "success"
        yield World(sim, mutator, truth)


@dataclass
class Sandbox:
    """An output folder deep inside a watched folder; the cwd is watched too."""

    root: Path
    out: Path
    log: Path

    @classmethod
    def make(cls, root: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
        box = cls(root, root / "a" / "b" / "out", root / "logs" / "run.log")
        box.out.parent.mkdir(parents=True)
        box.log.parent.mkdir()
        (root / "cwd").mkdir()
        monkeypatch.chdir(root / "cwd")  # relative writes would land here, and be seen
        return box

    def outside(self) -> dict[str, int]:
        return tree(self.root, skip=[self.out, self.log])


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox.make(tmp_path, monkeypatch)


def _export(world: World, box: Sandbox, cases: Sequence[Case] = (), *,
            renames: dict[str, str] | None = None) -> RunSummary:
    world.mutator.play(cases, renames)
    try:
        return run(world.sim, box.out, log=box.log, **CRAWL)
    finally:
        failures, applied = list(world.mutator.failures), world.mutator.applied
        world.mutator.play()
        assert not failures, failures
        assert {c.kind for c in cases} <= set(applied), f"cases that met no body: {applied}"


# -- panels and get ---------------------------------------------------------------------------


@pytest.mark.parametrize("cases", [
    *[pytest.param(cases, id=name) for name, cases in ROUNDS.items()],
    *[pytest.param(cases, id=name) for name, cases in LATER_PAGE_ROUNDS.items()],
])
def test_hostile_payloads_fail_only_their_unit_with_a_clear_error(
    world: World, sandbox: Sandbox, cases: list[Case]
) -> None:
    before = sandbox.outside()
    summary = _export(world, sandbox, cases)
    assert sandbox.outside() == before, "the run wrote outside its output folder"
    target, truth = world.target, states(world.truth)

    if all(c.field is None for c in cases):  # payloads the contract allows
        assert summary.status == "success"
        assert states(sandbox.out) == truth
        assert dataset(sandbox.out) == dataset(world.truth)
        return

    assert summary.status == "partial" and summary.exit_code == 3
    got = statuses(sandbox.out)
    problems = []
    for case in cases:
        mine = {k: r for k, r in got.items() if k[0] == target and k[1] == case.kind}
        assert set(mine) == {k for k in truth if k[0] == target and k[1] == case.kind}
        for row in mine.values():
            wrong = [part for part in (target, case.kind, case.field) if part not in row["message"]]
            if (row["state"], row["error_code"]) != (case.state, case.code) or wrong:
                problems.append(f"{case}: {row['state']}/{row['error_code']}, "
                                f"{wrong} not named in {row['message']!r}")
    assert problems == []
    # Everything else, the target's other panels included, is exactly the clean run's.
    hit = {(target, c.kind) for c in cases}
    assert {k: s for k, s in states(sandbox.out).items() if k[:2] not in hit} == {
        k: s for k, s in truth.items() if k[:2] not in hit}
    assert published_mismatches(sandbox.out, world.truth) == []


def test_one_megabyte_strings_are_kept_byte_exact(world: World, sandbox: Sandbox) -> None:
    name = 'é",' + MB
    summary = _export(world, sandbox, [
        Case("performance-by-class", "1 MB class name", setting(("classes", 0, "className"), name)),
        Case("image-predictions", "1 MB image name", setting(("images", 0, "imageName"), MB)),
    ])
    assert summary.status == "success"
    assert states(sandbox.out) == states(world.truth)
    classes = table(sandbox.out, "class_metrics")
    assert classes.num_rows == table(world.truth, "class_metrics").num_rows
    long = [r["eval_id"] for r in classes.select(["eval_id", "class_name"]).to_pylist()
            if r["class_name"] == name]
    assert long == [world.target] * 3  # one per split
    images = pq.read_table(sandbox.out / "tables" / "image_predictions",
                           columns=["eval_id", "image_name"]).to_pylist()
    long = [r["eval_id"] for r in images if r["image_name"] == MB]
    assert long and set(long) == {world.target}
    # Nothing else differs from the clean run.
    changed = {m.split(" ")[0] for m in published_mismatches(sandbox.out, world.truth)}
    assert changed == {"class_metrics", "image_predictions"}


# -- the listing --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def yesterday(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A folder holding a good run, which every hostile listing below must leave as it is."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        box = Sandbox.make(tmp_path_factory.mktemp("yesterday"), monkeypatch)
        _export(world, box)
        yield box


@pytest.mark.parametrize("case", LIST_ERRORS, ids=str)
def test_a_hostile_listing_fails_the_run_and_keeps_the_published_data(
    world: World, yesterday: Sandbox, case: Case
) -> None:
    before, snapshot = dataset(yesterday.out), publish.current_snapshot(yesterday.out)
    outside = yesterday.outside()
    with pytest.raises(EtlError) as caught:
        _export(world, yesterday, [case])
    # Without a listing there is nothing to plan: a typed error naming the field, not a crash.
    assert isinstance(caught.value, TransientError if case.name == "malformed" else ContractError)
    assert case.field is not None and case.field in str(caught.value)
    assert "list" in str(caught.value) or "model-evals" in str(caught.value)
    assert publish.current_snapshot(yesterday.out) == snapshot
    assert dataset(yesterday.out) == before
    assert yesterday.outside() == outside


@pytest.mark.parametrize("case", LIST_ROW_ERRORS, ids=str)
def test_a_bad_listing_row_skips_its_eval_and_the_run_goes_on(
    world: World, sandbox: Sandbox, case: Case
) -> None:
    summary = _export(world, sandbox, [case])
    assert summary.evals_listed == WORKSPACE["evals"] - 1
    assert any(case.field in w and "list" in w for w in summary.warnings), summary.warnings
    exported = set(table(sandbox.out, "evaluations").column("eval_id").to_pylist())
    truth = set(table(world.truth, "evaluations").column("eval_id").to_pylist())
    assert len(truth - exported) == 1
    assert all(table(sandbox.out, "evaluations").column("listed").to_pylist())


@pytest.mark.parametrize("case", LIST_ACCEPTED, ids=str)
def test_an_odd_but_valid_listing_gives_the_clean_data(
    world: World, sandbox: Sandbox, case: Case
) -> None:
    summary = _export(world, sandbox, [case])
    assert summary.status == "success" and summary.evals_listed == WORKSPACE["evals"]
    assert states(sandbox.out) == states(world.truth)
    assert dataset(sandbox.out) == dataset(world.truth)


# -- hostile eval ids and workspace slugs -------------------------------------------------------

ADDRESSABLE_IDS = ["../../../escaped", "a/b", "q'u\"ote", "nul\x00id"]
DOT_SEGMENTS = ["..", "."]


@pytest.mark.parametrize("hostile", [ADDRESSABLE_IDS, DOT_SEGMENTS], ids=["paths, quotes, NUL",
                                                                          "dot segments"])
def test_eval_ids_with_path_or_quote_characters_stay_data(
    world: World, sandbox: Sandbox, hostile: list[str]
) -> None:
    by_id = world.sim.workspace.by_id
    renames = dict(zip([e.eval_id for e in world.sim.workspace.evals], hostile, strict=False))
    for old, new in renames.items():
        by_id[new] = by_id[old]  # the simulator serves the eval's data under its new id too
    before = sandbox.outside()
    try:
        _export(world, sandbox, renames=renames)
    finally:
        for new in renames.values():
            del by_id[new]
    assert sandbox.outside() == before, "the run wrote outside its output folder"
    expected = {(renames.get(k[0], k[0]), *k[1:]): s for k, s in states(world.truth).items()}
    got = states(sandbox.out)
    assert set(got) == set(expected)
    # Dot segments too: the path is sent exactly as quoted (%2E%2E), never normalised away.
    assert got == expected
    assert dataset(sandbox.out) == _renamed_dataset(world.truth, renames)
    # The next run reads those ids back from the previous snapshot and merges around them.
    again = _export(world, sandbox, renames=renames)
    assert again.mode == "incremental" and again.status == "success"
    assert dataset(sandbox.out) == _renamed_dataset(world.truth, renames)
    assert sandbox.outside() == before


def _renamed_dataset(out: Path, renames: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    at = TABLES["evaluations"].schema.names.index("eval_id")  # lineage: the same in every table
    return {name: sorted(((*r[:at], renames.get(r[at], r[at]), *r[at + 1:]) for r in rows),
                         key=repr)
            for name, rows in dataset(out).items()}


HOSTILE_SLUGS = ["../../evil", "q'u\"o\x00te/x"]


def _slug_free(out: Path) -> dict[str, list[tuple[Any, ...]]]:
    drop = {*LINEAGE_OF_A_RUN, "workspace", "app_url"}
    found = {}
    for name in dataset(out):
        data = table(out, name)
        rows = data.select([c for c in data.column_names if c not in drop]).to_pylist()
        found[name] = sorted((tuple(r.values()) for r in rows), key=repr)
    return found


@pytest.fixture(scope="module")
def slugged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One export per hostile workspace slug (same seed), each from its own simulator."""
    outs = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for slug in HOSTILE_SLUGS:
            box = Sandbox.make(tmp_path_factory.mktemp("slug"), monkeypatch)
            before = box.outside()
            with simulator(**WORKSPACE, workspace=slug) as sim:
                summary = run(sim, box.out, log=box.log, **CRAWL)
            assert summary.status == "success"
            assert box.outside() == before, "the run wrote outside its output folder"
            outs[slug] = box.out
        yield outs


@pytest.mark.parametrize("slug", HOSTILE_SLUGS, ids=repr)
def test_a_workspace_slug_with_path_or_quote_characters_stays_data(
    world: World, slugged: dict[str, Path], slug: str
) -> None:
    out = slugged[slug]
    assert _slug_free(out) == _slug_free(world.truth)
    assert set(table(out, "evaluations").column("workspace").to_pylist()) == {slug}
    # A version unit's params name its workspace: the slug, kept as data like everywhere.
    truth = {(e, p, params.replace(f"workspace={world.sim.options.workspace}&",
                                   f"workspace={slug}&")): st
             for (e, p, params), st in states(world.truth).items()}
    assert states(out) == truth


@pytest.mark.parametrize("slug", HOSTILE_SLUGS, ids=repr)
def test_the_app_link_keeps_a_hostile_slug_inside_one_path_segment(
    slugged: dict[str, Path], slug: str
) -> None:
    links = [u for u in table(slugged[slug], "evaluations").column("app_url").to_pylist() if u]
    assert links
    prefix = f"https://app.roboflow.com/{quote(slug, safe='')}/"
    assert all(u.startswith(prefix) for u in links)


def test_a_workspace_slug_that_is_a_dot_segment_is_refused_as_configuration(
    sandbox: Sandbox,
) -> None:
    before = sandbox.outside()
    for slug in ("..", "."):
        with pytest.raises(ConfigError, match="not a workspace slug"):
            config_module.load(None, overrides={"workspace": slug}, environ={KEY_ENV: "k"})
    assert sandbox.outside() == before
