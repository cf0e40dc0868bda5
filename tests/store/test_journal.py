"""The checkpoint journal: durable lines naming whole files, and the take-over of a killed run."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.panels import PanelRequest
from etl.schemas import TABLES
from etl.store import publish
from etl.store.archive import ArchivedResponse, ArchiveWriter, read_archive
from etl.store.journal import Checkpoint, Journal, adopt, read_journal, resumed_files
from etl.store.writer import StagingWriter

from .storage_scenario import T0, publish_run, read_tables, run_row, status_table, unit_rows

CM = "confusion-matrix"


def killed_run(out: Path, run_id: str, requests: list[PanelRequest], *,
               journaled: int) -> Path:
    """A run that staged ``requests`` and journaled the first ``journaled`` of them, then died."""
    staging = out / "staging" / run_id
    writer = StagingWriter(staging / "tables")
    archive = ArchiveWriter(staging / "archive")
    journal = Journal(staging)
    for i, request in enumerate(requests):
        for table, rows in unit_rows(request, run_id).items():
            writer.write(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema))
        archive.append(ArchivedResponse(request.eval_id, request.panel, request.split,
                                        request.confidence, request.params, T0, b"{}"))
        if i + 1 == journaled:
            files = writer.checkpoint() + archive.checkpoint()
            journal.append(Checkpoint(
                tuple(p.relative_to(staging).as_posix() for p in files),
                tuple({"eval_id": r.eval_id, "panel": r.panel} for r in requests[:journaled])))
    return staging  # never closed: the process "died" with parts open


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(Checkpoint(("tables/a/part-00000.parquet",), ({"n": 1},)))
    with journal.path.open("a") as handle:
        handle.write('{"files": ["tables/a/part-000')  # killed while writing
    assert read_journal(tmp_path) == [Checkpoint(("tables/a/part-00000.parquet",), ({"n": 1},))]


def test_adopt_links_only_journaled_whole_files_and_journals_them_again(tmp_path: Path) -> None:
    requests = [PanelRequest("e1", CM, "test", None), PanelRequest("e2", CM, "test", None)]
    old = killed_run(tmp_path, "r1", requests, journaled=1)
    new = tmp_path / "staging" / "r2"
    adopted = adopt(tmp_path, new, published=None)
    assert adopted is not None and adopted.run_id == "r1"
    assert [r["eval_id"] for r in adopted.records] == ["e1"]
    assert adopted.archive_parts == 1
    (cm_file,) = resumed_files(new, "confusion_matrix")
    assert {r["eval_id"] for r in pq.read_table(cm_file).to_pylist()} == {"e1"}
    assert [r.eval_id for r in read_archive(new / "archive")] == ["e1"]
    assert cm_file.stat().st_ino == (old / "tables" / "confusion_matrix" /
                                     "part-00000.parquet").stat().st_ino  # linked, not copied
    (line,) = read_journal(new)  # a second kill keeps what this run took over
    assert set(line.files) == {p.relative_to(new).as_posix() for p in
                               [*new.glob("resumed/tables/*/*.parquet"), *new.glob("archive/*")]}


def test_adopt_prefers_the_newest_run_and_never_a_published_one(tmp_path: Path) -> None:
    request = [PanelRequest("e1", CM, "test", None)]
    killed_run(tmp_path, "20260101T000000Z-aaaaaa", request, journaled=1)
    killed_run(tmp_path, "20260102T000000Z-bbbbbb", request, journaled=1)
    new = tmp_path / "staging" / "20260103T000000Z-cccccc"
    adopted = adopt(tmp_path, new, published="20260102T000000Z-bbbbbb")
    assert adopted is not None and adopted.run_id == "20260101T000000Z-aaaaaa"


@pytest.mark.parametrize("damage", ["missing", "torn", "outside"])
def test_a_journal_naming_a_bad_file_is_not_adopted(tmp_path: Path, damage: str) -> None:
    old = killed_run(tmp_path, "r1", [PanelRequest("e1", CM, "test", None)], journaled=1)
    part = old / "tables" / "confusion_matrix" / "part-00000.parquet"
    if damage == "missing":
        part.unlink()
    elif damage == "torn":  # a power cut: the journal line survived, the file's tail did not
        part.write_bytes(part.read_bytes()[:40])
    else:
        Journal(old).append(Checkpoint(("../../../etc/passwd",)))
    assert adopt(tmp_path, tmp_path / "staging" / "r2", published=None) is None


def test_nothing_to_adopt(tmp_path: Path) -> None:
    assert adopt(tmp_path, tmp_path / "staging" / "r2", published=None) is None
    (tmp_path / "staging" / "replay-r0").mkdir(parents=True)  # no journal
    assert adopt(tmp_path, tmp_path / "staging" / "r2", published=None) is None


def test_the_merge_publishes_resumed_rows_of_reused_units_only(tmp_path: Path) -> None:
    reused, changed = PanelRequest("e1", CM, "test", None), PanelRequest("e2", CM, "test", None)
    killed_run(tmp_path, "r1", [reused, changed], journaled=2)
    staging = tmp_path / "staging" / "r2"
    assert adopt(tmp_path, staging, published=None) is not None
    # This run reuses e1 and fetched e2 again (its eval changed): e2's old rows must not show.
    fresh = {**unit_rows(changed, "r2")}
    fresh["confusion_matrix"] = fresh["confusion_matrix"][:1]
    with StagingWriter(staging / "tables") as writer:
        for table, rows in fresh.items():
            writer.write(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema))
    ok = (reused, changed)
    commit = publish.Commit("r2", staging, ok, ok, status_table(ok, [], "r2"), run_row("r2"),
                            None, resumed_units=(reused,))
    from etl import views

    publish.publish(tmp_path, commit, keep=2, views=views)
    rows = read_tables(tmp_path)["confusion_matrix"]
    assert {r["run_id"] for r in rows if r["eval_id"] == "e1"} == {"r1"}
    assert [r["run_id"] for r in rows if r["eval_id"] == "e2"] == ["r2"]  # one fresh row only


def test_a_published_run_leaves_no_journal_behind(tmp_path: Path) -> None:
    publish_run(tmp_path, "r1", [PanelRequest("e1", CM, "test", None)])
    assert not (tmp_path / "staging" / "r1").exists()
