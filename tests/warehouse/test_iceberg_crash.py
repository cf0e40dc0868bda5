"""An Iceberg load killed mid-way leaves every table at a committed state, the run tags
consistent and latest.json on the previous run; the next load finishes the job."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from etl import crashpoints, schemas, warehouse
from tests.support.lake import LAKE_SIM, Lake, lake_checksums, published_checksums
from tests.support.runs import export, simulator
from tests.support.s3 import S3Server

# Whole exports loaded into a lake on a real S3 server: the e2e tier, like tests/e2e/.
pytestmark = pytest.mark.e2e

Checksums = dict[str, tuple[int, str]]


@dataclass(frozen=True)
class Exports:
    """Two runs of the same workspace, exported once per module: each test loads copies."""

    one: Path  # the output folder after the first export
    two: Path  # after the second (incremental) export
    first: str
    second: str


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    root = tmp_path_factory.mktemp("exports")
    with simulator(**LAKE_SIM) as sim:
        first = export(sim, root / "two").run_id
        shutil.copytree(root / "two", root / "one", symlinks=True)
        second = export(sim, root / "two").run_id
    return Exports(root / "one", root / "two", first, second)


@dataclass(frozen=True)
class TwoRuns:
    lake: Lake
    out: Path  # the second run's dataset, not loaded yet
    first: str  # loaded
    second: str
    one: Checksums
    two: Checksums


@pytest.fixture
def two_runs(s3: S3Server, exports: Exports, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> TwoRuns:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    lake = Lake(tmp_path, f"s3://{s3.create_bucket(f'crash-{uuid.uuid4().hex[:8]}')}/wh", s3)
    assert warehouse.load(exports.one, lake.uri).run_id == exports.first
    return TwoRuns(lake, exports.two, exports.first, exports.second,
                   published_checksums(exports.one), published_checksums(exports.two))


def load_killed_at(runs: TwoRuns, point: str) -> None:
    done = subprocess.run([sys.executable, "-m", "etl", "load", "--out", str(runs.out), "--to",
                           runs.lake.uri], env={**os.environ, crashpoints.ENV: point},
                          capture_output=True, text=True, timeout=120, check=False)
    killed = (-signal.SIGKILL, crashpoints.EXIT_STATUS)
    assert done.returncode in killed, (done.returncode, done.stderr[-2000:])


def assert_committed_and_consistent(runs: TwoRuns) -> set[str]:
    """Every table is run one's or run two's, whole; the tables already at run two."""
    lake, at_two = runs.lake, set()
    now = lake_checksums(lake)
    for name in schemas.TABLES:
        tags = lake.tags(name)
        current = lake.table(name).metadata.current_snapshot_id
        assert now[name] in (runs.one[name], runs.two[name]), name
        assert tags.get(runs.second) in (None, current), name  # a tag is never ahead or behind
        if tags.get(runs.second) == current and now[name] == runs.two[name]:
            at_two.add(name)
        else:
            assert tags[runs.first] == current, name
    # Run one's complete state is still readable by its tags, and latest.json still names it.
    assert lake_checksums(lake, ref=runs.first) == runs.one
    assert lake.manifest()["run_id"] == runs.first
    return at_two


# Before the first commit; after a few tables, by a real SIGKILL; after every table but before
# latest.json.
@pytest.mark.parametrize("point", ["iceberg-staged", "iceberg-committed-confusion_matrix:SIGKILL",
                                   "iceberg-run-written"])
def test_a_killed_load_leaves_committed_tables_and_the_next_load_finishes(
        two_runs: TwoRuns, point: str) -> None:
    runs = two_runs
    load_killed_at(runs, point)

    at_two = assert_committed_and_consistent(runs)
    if point == "iceberg-staged":
        assert not at_two  # killed before its first commit: nothing changed at all
    elif point == "iceberg-run-written":
        assert at_two == set(schemas.TABLES)  # every table done, but not yet declared complete
    else:
        assert at_two and at_two != set(schemas.TABLES)
    before = runs.lake.snapshots()

    finished = warehouse.load(runs.out, runs.lake.uri)

    assert lake_checksums(runs.lake) == runs.two
    assert runs.lake.manifest()["run_id"] == runs.second
    after = runs.lake.snapshots()
    for name in schemas.TABLES:
        assert runs.lake.tags(name)[runs.second] == runs.lake.table(name).metadata.current_snapshot_id
        if name in at_two:  # what the killed load committed is not done again
            assert after[name][0] == before[name][0] and name not in finished.tables, name
    assert warehouse.load(runs.out, runs.lake.uri).noop


def test_two_loads_at_once_leave_the_tables_whole(two_runs: TwoRuns) -> None:
    """Iceberg commits are optimistic: a load that loses a race retries or stops (exit 5)."""
    runs = two_runs
    loads = [subprocess.Popen([sys.executable, "-m", "etl", "load", "--out", str(runs.out),
                               "--to", runs.lake.uri], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [load.wait(timeout=120) for load in loads]
    errors = [load.communicate()[1] for load in loads]

    assert set(codes) <= {0, 5} and 0 in codes, (codes, errors)
    warehouse.load(runs.out, runs.lake.uri)  # whatever the race left, one more load settles it
    assert lake_checksums(runs.lake) == runs.two  # no unit twice, none missing
    assert warehouse.load(runs.out, runs.lake.uri).noop
