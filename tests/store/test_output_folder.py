"""The output folder as the world leaves it: litter, a lost link, damaged or shared files, old
readers, a stray WAL, names DuckDB would read as patterns. Real files, no simulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from etl import views
from etl.errors import PublishError
from etl.schemas import TABLES
from etl.store import publish
from etl.store.commit import Commit
from etl.store.merge import file_digest
from tests.support.folders import litter_in, tree

from .storage_scenario import (
    publish_run,
    read_tables,
    run_row,
    run_step,
    stage,
    status_table,
    units,
)
from .test_recover import crash_run

ONE = units("e1", confidences=(None,))


def recover(out: Path) -> list[str]:
    with publish.RunLock(out):
        return publish.recover(out, views)


def history(out: Path) -> dict[str, object]:
    """What must survive any repair: every snapshot and archive file, byte for byte."""
    return {name: {k: v for k, v in tree(out / name).items()} for name in ("snapshots", "runs")}


def db_rows(out: Path, table: str = "runs") -> list[tuple[object, ...]]:
    with views.connect(out / "evals.duckdb") as con:
        return sorted(con.execute(f"select run_id from {table}").fetchall())


# --------------------------------------------------------------------------- litter


def test_litter_is_skipped_with_one_warning_never_deleted_never_followed(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    publish_run(out, "r1", ONE)
    made = litter_in(out, outside)
    untouched = tree(outside)
    notes = recover(out)
    warnings = [n for n in notes if "did not make" in n]
    assert len(warnings) == 1, notes
    assert "staging/notes.txt" in warnings[0] and "18 entries" in warnings[0]
    assert not [n for n in notes if n.startswith("removed")]  # litter is never "left by a run"
    for i in range(2, 6):  # publishing and pruning (keep=1) walk past it all
        publish_run(out, f"r{i}", ONE, keep=1)
        recover(out)
    assert [p for p in made if not os.path.lexists(p)] == []
    assert tree(outside) == untouched
    own = sorted(p.name for p in (out / "snapshots").iterdir() if publish.complete(p))
    assert own == [publish.current_snapshot(out).name]  # type: ignore[union-attr]
    assert sorted(p.name for p in (out / "runs").iterdir() if p.name.startswith("r")) == ["r5"]


def test_evals_etl_still_clears_its_own_leftovers_among_the_litter(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_step(out, "run1")
    litter_in(out, tmp_path / "outside")
    crash_run(out, "run2", "views-built")  # leaves staging/r2 and an unpublished snapshot
    notes = recover(out)
    assert any("removed staging/r2" in n for n in notes)
    assert any("never published" in n for n in notes)
    run_step(out, "run2")
    assert {r["run_id"] for r in read_tables(out)["runs"]} == {"r1", "r2"}


# --------------------------------------------------------------------------- the tables link


@pytest.fixture
def two_published(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    run_step(out, "run1")
    run_step(out, "run2")
    return out


def reference(tmp_path: Path) -> dict[str, list[dict[str, object]]]:
    out = tmp_path / "reference"
    run_step(out, "run1")
    run_step(out, "run2")
    publish_run(out, "r3", ONE)
    return read_tables(out)


def test_a_lost_link_is_restored_and_the_next_run_is_right(
        two_published: Path, tmp_path: Path) -> None:
    out = two_published
    current = publish.current_snapshot(out)
    before, tables = history(out), read_tables(out)
    (out / "tables").unlink()  # rsync -r without -l, an object-store sync
    assert publish.find_current(out) == current  # readers already find it
    notes = recover(out)
    assert any("was missing" in n for n in notes)
    assert publish.current_snapshot(out) == current and read_tables(out) == tables
    assert history(out) == before
    publish_run(out, "r3", ONE)
    assert read_tables(out) == reference(tmp_path)


@pytest.mark.parametrize("target", ["snapshots/000042-gone/tables", "snapshots/../../x",
                                    "ABSOLUTE"])
def test_a_dangling_or_foreign_link_is_pointed_back_home(
        two_published: Path, tmp_path: Path, target: str) -> None:
    out = two_published
    current, before = publish.current_snapshot(out), history(out)
    if target == "ABSOLUTE":  # another output folder's snapshot: never read from here
        other = tmp_path / "other"
        run_step(other, "run1")
        target = str(publish.current_snapshot(other) / "tables")  # type: ignore[operator]
    link = out / "tables"
    link.unlink()
    link.symlink_to(target)
    assert publish.current_snapshot(out) is None
    assert any("pointed it at snapshot" in n for n in recover(out))
    assert publish.current_snapshot(out) == current and history(out) == before
    assert views.shows(out / "evals.duckdb", out / "tables")
    publish_run(out, "r3", ONE)
    assert read_tables(out) == reference(tmp_path)


def test_a_link_turned_into_a_copy_is_replaced_by_the_link(
        two_published: Path, tmp_path: Path) -> None:
    out = two_published
    current, before = publish.current_snapshot(out), history(out)
    (out / "tables").unlink()
    shutil.copytree(current / "tables", out / "tables")  # type: ignore[operator]  # cp -rL
    notes = recover(out)
    assert any("byte-identical copy" in n for n in notes)
    assert (out / "tables").is_symlink() and publish.current_snapshot(out) == current
    assert history(out) == before
    publish_run(out, "r3", ONE)
    assert read_tables(out) == reference(tmp_path)


def test_a_link_turned_into_a_folder_of_its_own_is_set_aside(two_published: Path) -> None:
    out = two_published
    current = publish.current_snapshot(out)
    (out / "tables").unlink()
    shutil.copytree(current / "tables", out / "tables")  # type: ignore[operator]
    (out / "tables" / "my-notes.txt").write_text("keep me")
    notes = recover(out)
    aside = [p for p in out.iterdir() if p.name.startswith("tables.detached-")]
    assert len(aside) == 1 and (aside[0] / "my-notes.txt").read_text() == "keep me"
    assert any("moved it aside" in n for n in notes)
    assert publish.current_snapshot(out) == current
    (out / "tables").unlink()
    (out / "tables").mkdir()  # an empty folder: nothing to keep
    assert any("empty `tables` folder" in n for n in recover(out))
    assert publish.current_snapshot(out) == current


def test_with_no_complete_snapshot_left_a_broken_link_stops_clearly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_step(out, "run1")
    (out / "tables").unlink()
    (out / "tables").symlink_to("snapshots/000042-gone/tables")
    for snapshot in (out / "snapshots").iterdir():
        (snapshot / "manifest.json").unlink()  # no snapshot is complete any more
    before = tree(out)
    with pytest.raises(PublishError, match="no complete snapshot is left") as caught:
        recover(out)
    assert "delete" in str(caught.value) and "backup" in str(caught.value)
    assert {k: v for k, v in tree(out).items() if not k.startswith("state")} == {
        k: v for k, v in before.items() if not k.startswith("state")}


def test_a_lost_link_after_an_unpublished_run_points_at_the_published_snapshot(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_step(out, "run1")
    published = publish.current_snapshot(out)
    crash_run(out, "run2", "views-built")  # run 2's snapshot is complete, never switched to
    (out / "tables").unlink()
    recover(out)
    assert publish.current_snapshot(out) == published
    assert [p.name for p in (out / "snapshots").iterdir()] == [published.name]  # type: ignore[union-attr]


# --------------------------------------------------------------------------- published files


def data_files(out: Path) -> list[Path]:
    return sorted((out / "snapshots").glob("*/tables/*/data.parquet"))


def test_published_files_are_read_only_and_shared_by_no_two_snapshots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for i in range(1, 4):  # later runs touch only e1's get unit: most tables are carried over
        publish_run(out, f"r{i}", ONE if i == 1 else ONE[:1], keep=3)
    published = [*(out / "snapshots").rglob("*"), out / "evals.duckdb",
                 *(out / "runs").rglob("part-*.parquet")]
    for path in (p for p in published if p.is_file()):
        assert not path.stat().st_mode & 0o222, f"{path} is writable"
    inodes = [p.stat().st_ino for p in data_files(out)]
    assert len(inodes) == len(set(inodes)) == 3 * len(TABLES)
    assert all(p.stat().st_nlink == 1 for p in data_files(out))


def test_one_write_in_place_damages_one_snapshot_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", ONE)
    publish_run(out, "r2", ONE[:1])
    current = publish.current_snapshot(out)
    victim = out / "tables" / "image_predictions" / "data.parquet"
    with open(victim, "r+b") as fh:  # root ignores 0444: what a careless tool does
        fh.seek(8)
        fh.write(b"\x00garbage\x00")
    for snapshot in (out / "snapshots").iterdir():
        manifest = json.loads((snapshot / "manifest.json").read_text())
        damaged = publish.damaged_tables(snapshot)
        assert damaged == ({"image_predictions": damaged["image_predictions"]}
                           if snapshot == current else {}), snapshot.name
        if snapshot != current:
            for name, recorded in manifest["files"].items():
                size, sha = file_digest(snapshot / "tables" / name / "data.parquet")
                assert (size, sha) == (recorded["bytes"], recorded["sha256"])


@pytest.mark.parametrize("damage", ["overwrite", "truncate", "delete", "symlink"])
def test_a_damaged_current_snapshot_is_a_clear_error_and_full_refresh_recovers(
        tmp_path: Path, damage: str) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", [*units("e1", confidences=(None,)), *units("e2", confidences=(None,))])
    victim = out / "tables" / "vector_clusters" / "data.parquet"
    if damage == "overwrite":
        with open(victim, "r+b") as fh:
            fh.write(b"NOT PARQUET")
    elif damage == "truncate":
        os.truncate(victim, 10)
    elif damage == "delete":
        victim.unlink()
    else:
        victim.unlink()
        victim.symlink_to(tmp_path / "elsewhere.parquet")
    with publish.RunLock(out), pytest.raises(publish.SnapshotDamaged) as caught:
        publish.prepare(out)
    message = str(caught.value)
    assert str(victim.resolve().parent.parent.parent.parent.name) in message
    assert "vector_clusters/data.parquet" in message and "--full-refresh" in message
    # Publishing over it without --full-refresh fails the same way, and publishes nothing.
    with pytest.raises(publish.SnapshotDamaged):
        publish_run(out, "r2", units("e1", confidences=(None,))[:1])
    assert len(list((out / "snapshots").iterdir())) == 1
    # --full-refresh: the run refetched everything there is (e1 here), and keeps what the
    # damaged snapshot still holds in its readable tables (e2's rows of every other table).
    with publish.RunLock(out):
        notes = publish.prepare(out, full_refresh=True)
        publish.recover(out, views)
    assert any("builds the next snapshot without" in n for n in notes)
    refetched = units("e1", confidences=(None,))
    staging = out / "staging" / "r3"
    stage(staging, "r3", refetched)
    publish.publish(out, Commit("r3", staging, tuple(refetched), tuple(refetched),
                                status_table(refetched, [], "r3"), run_row("r3"), None),
                    keep=3, views=views, full_refresh=True)
    assert not publish.damaged_tables(publish.current_snapshot(out))  # type: ignore[arg-type]
    tables = read_tables(out)
    assert {r["eval_id"] for r in tables["vector_clusters"]} == {"e1"}  # e2's lost with it
    assert {r["eval_id"] for r in tables["class_metrics"]} == {"e1", "e2"}


def test_full_refresh_publish_leaves_damaged_tables_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", [*units("e1", confidences=(None,)), *units("e2", confidences=(None,))])
    os.truncate(out / "tables" / "vector_clusters" / "data.parquet", 10)
    refetched = units("e1", confidences=(None,))
    staging = out / "staging" / "r2"
    stage(staging, "r2", refetched)
    commit = Commit("r2", staging, tuple(refetched), tuple(refetched),
                    status_table(refetched, [], "r2"), run_row("r2"), None)
    heard: list[str] = []
    publish.publish(out, commit, keep=3, views=views, full_refresh=True, on_note=heard.append)
    tables = read_tables(out)
    assert {r["eval_id"] for r in tables["vector_clusters"]} == {"e1"}
    assert {r["eval_id"] for r in tables["class_metrics"]} == {"e1", "e2"}


def test_an_unreadable_manifest_is_recreated_from_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", ONE)
    manifest = out / "snapshots" / publish.current_snapshot(out).name / "manifest.json"  # type: ignore[union-attr]
    rows = json.loads(manifest.read_text())["rows"]
    manifest.unlink()
    manifest.write_text("{torn")
    with publish.RunLock(out):
        assert any("re-created the unreadable manifest" in n for n in publish.prepare(out))
    assert json.loads(manifest.read_text())["rows"] == rows
    publish_run(out, "r2", ONE[:1])
    assert {r["run_id"] for r in read_tables(out)["runs"]} == {"r1", "r2"}


def test_a_legacy_snapshot_without_checksums_is_checked_by_its_footers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", ONE)
    snapshot = publish.current_snapshot(out)
    assert snapshot is not None
    manifest = json.loads((snapshot / "manifest.json").read_text())
    del manifest["files"]  # as 0.1 and 0.2 wrote them
    (snapshot / "manifest.json").unlink()
    (snapshot / "manifest.json").write_text(json.dumps(manifest))
    assert publish.damaged_tables(snapshot) == {}
    publish_run(out, "r2", ONE[:1])  # carried over without a checksum to compare with
    os.truncate(out / "tables" / "runs" / "data.parquet", 20)
    assert "runs" in publish.damaged_tables(publish.current_snapshot(out))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- readers


def test_a_read_only_session_keeps_answering_across_a_week_of_publishes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r0", ONE, keep=3)
    session = duckdb.connect(str(out / "evals.duckdb"), read_only=True)
    every = " union all ".join(f"select '{t}', count(*) from {t}" for t in TABLES)
    seen = session.execute(every).fetchall()
    for night in range(1, 9):  # the defaults of a nightly export: keep 3, keep_days 8
        publish_run_keeping(out, f"r{night}", keep=3, keep_days=8)
        assert session.execute(every).fetchall() == seen, f"night {night}"
    session.close()
    assert len(list((out / "snapshots").iterdir())) == 9


def test_retention_keeps_snapshots_replaced_within_keep_days(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for night in range(1, 6):
        publish_run(out, f"r{night}", ONE[:1], keep=1)
        backdate(out, days=10)  # every snapshot so far was made (and replaced) 10 days ago
    assert len(list((out / "snapshots").iterdir())) == 1  # keep_days=0: count only
    for night in range(6, 11):
        snapshot = publish_run_keeping(out, f"r{night}", keep=1, keep_days=8)
        assert snapshot.is_dir()
    # r5's snapshot was replaced by r6 just now, and every later one too: all kept.
    assert len(list((out / "snapshots").iterdir())) == 6
    backdate(out, days=9)  # all replaced 9 days ago: too long, but for r10's, replaced now
    publish_run_keeping(out, "r11", keep=1, keep_days=8)
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["000010-r10", "000011-r11"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["r10", "r11"]


def backdate(out: Path, days: float) -> None:
    """Pretend every snapshot of ``out`` was created ``days`` ago."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    for snapshot in (out / "snapshots").iterdir():
        path = snapshot / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["created_at"] = when
        path.unlink()
        path.write_text(json.dumps(manifest))


def publish_run_keeping(out: Path, run_id: str, *, keep: int, keep_days: float) -> Path:

    staging = out / "staging" / run_id
    stage(staging, run_id, ONE[:1])
    commit = Commit(run_id, staging, tuple(ONE[:1]), tuple(ONE[:1]),
                    status_table(ONE[:1], [], run_id), run_row(run_id), None)
    return publish.publish(out, commit, keep=keep, keep_days=keep_days, views=views)


def foreign_wal(tmp_path: Path) -> bytes:
    """The WAL a read-write client leaves when it dies before a checkpoint."""
    db = tmp_path / "other.duckdb"
    code = ("import duckdb, os\n"
            f"c = duckdb.connect({str(db)!r})\n"
            "c.execute('create table t as select 1 as x'); c.execute('checkpoint')\n"
            "c.execute('insert into t values (2)')\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    return (tmp_path / "other.duckdb.wal").read_bytes()


def test_a_stray_wal_is_moved_aside_and_the_database_opens(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", ONE)
    stray = foreign_wal(tmp_path)
    (out / "evals.duckdb.wal").write_bytes(stray)
    with pytest.raises(duckdb.Error, match="WAL"):
        duckdb.connect(str(out / "evals.duckdb"), read_only=True)
    notes = recover(out)
    assert any("moved evals.duckdb.wal aside" in n for n in notes)
    assert db_rows(out) == [("r1",)]
    (aside,) = [p for p in out.iterdir() if p.name.startswith("evals.duckdb.wal.stray-")]
    assert aside.read_bytes() == stray  # moved, not deleted
    assert recover(out) == []  # and it stays fixed
    # A WAL found when the database is replaced belonged to the old one: set aside too.
    (out / "evals.duckdb.wal").write_bytes(stray)
    heard: list[str] = []

    staging = out / "staging" / "r2"
    stage(staging, "r2", ONE[:1])
    publish.publish(out, Commit("r2", staging, tuple(ONE[:1]), tuple(ONE[:1]),
                                status_table(ONE[:1], [], "r2"), run_row("r2"), None),
                    keep=3, views=views, on_note=heard.append)
    assert any("moved evals.duckdb.wal aside" in n for n in heard)
    assert db_rows(out) == [("r1",), ("r2",)]


def test_a_database_built_from_other_sql_or_for_another_folder_is_rebuilt(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish_run(out, "r1", ONE)
    db = out / "evals.duckdb"
    os.chmod(db, 0o644)
    with duckdb.connect(str(db)) as con:  # as an evals-etl with other view definitions built it
        con.execute("update _evals_etl_build set sql_version = 'older'")
    assert not views.shows(db, out / "tables")
    current = publish.current_snapshot(out)
    assert current is not None
    assert recover(out) == [f"rebuilt evals.duckdb over snapshot {current.name}"]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, symlinks=True)
    assert not views.shows(copy / "evals.duckdb", copy / "tables")  # it reads out's files
    assert views.recorded_tables(copy / "evals.duckdb") == str((current / "tables").resolve())
    assert any("rebuilt" in n for n in recover(copy))
    assert views.shows(copy / "evals.duckdb", copy / "tables")
    assert views.shows(out / "evals.duckdb", out / "tables")


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("name", [
    "we [x]? *é 'q\" ü", "k[ab]", "eval_id=evil", "b\\s[1]", "{a,b} %20 #x", "tab\tnew\nline"])
def test_any_folder_name_publishes_merges_and_reads_its_own_files(
        tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    if name == "k[ab]":  # what DuckDB would read for it as a pattern: another dataset
        publish_run(tmp_path / "ka", "decoy", units("decoy", confidences=(None,)))
    run_step(out, "run1")
    run_step(out, "run2")  # merges over the previous snapshot, carries tables over
    publish_run(out, "r3", ONE[:1])
    assert {r["run_id"] for r in read_tables(out)["runs"]} == {"r1", "r2", "r3"}
    assert db_rows(out) == [("r1",), ("r2",), ("r3",)]
    with views.connect(out / "evals.duckdb") as con:
        evals = {r[0] for r in con.execute("select eval_id from evaluations").fetchall()}
        assert "decoy" not in evals and evals <= {"e1", "e2", "e3"}
        for view in views.view_names(out / "evals.duckdb"):
            con.execute(f'select count(*) from "{view}"').fetchall()
    assert views.shows(out / "evals.duckdb", out / "tables")


def test_a_strange_folder_holds_exactly_what_a_plain_one_does(tmp_path: Path) -> None:
    plain, strange = tmp_path / "plain", tmp_path / "[strange]? *"
    for out in (plain, strange):
        run_step(out, "run1")
        run_step(out, "run2")
    assert read_tables(plain) == read_tables(strange)
