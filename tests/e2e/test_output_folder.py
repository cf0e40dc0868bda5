"""Whole exports into output folders as operators really have them: someone else's folder,
another workspace's, one whose link a sync lost, one a notebook reads for a week, a copy on a
laptop, a stray WAL, a name full of glob characters, litter, a damaged file. Real HTTP against
the simulator, the command line through etl.cli.main, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import duckdb
import pytest

from etl.cli import main
from etl.config import OutputConfig
from etl.config import load as load_config
from etl.errors import ConfigError
from etl.export import run_export
from etl.progress import Reporter
from etl.simulator import SimHandle
from etl.store import publish
from tests.support.folders import litter_in, tree
from tests.support.runs import config, dataset, export, simulator

SIM = {"seed": 5, "evals": 4, "missing_panel_rate": 0.0}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimHandle]:
    with simulator(**SIM) as handle:
        monkeypatch.setenv("ROBOFLOW_API_KEY", handle.options.api_key)
        yield handle


def cli_export(sim: SimHandle, out: Path, *extra: str, workspace: str | None = None) -> int:
    return main(["export", "--workspace", workspace or sim.options.workspace, "--api-url",
                 sim.url, "--out", str(out), "--concurrency", "4", "--log-format", "json",
                 *extra])


def requests(sim: SimHandle) -> int:
    return sim.stats.snapshot().requests


def untouched(before: dict[str, object], after: dict[str, object]) -> bool:
    """Nothing changed but the run history (etl.history records a refused run in a folder it
    has run in before: state/history.jsonl, and so the mtime of state/)."""
    def mine(entries: dict[str, object]) -> dict[str, object]:
        return {k: v for k, v in entries.items()
                if not k.endswith(("state/history.jsonl", "state")) and k not in ("state",)}
    return mine(before) == mine(after)


def query(out: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["query", "--out", str(out), "--format", "csv", sql])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def default_export(sim: SimHandle, out: Path) -> None:
    """An export with the output defaults a real deployment has (keep 3, keep_days 8)."""
    cfg = replace(config(sim, out), output=OutputConfig(out=out))
    with (out.parent / f"{out.name}.log").open("a") as log:
        summary = anyio.run(run_export, cfg, Reporter("json", log))
    assert summary.status == "success"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two uninterrupted exports of the simulated workspace: what every repaired run must equal."""
    out = tmp_path_factory.mktemp("reference") / "out"
    with simulator(**SIM) as handle:
        export(handle, out)
        export(handle, out)
    return dataset(out)


# --------------------------------------------------------------------------- ownership


@pytest.mark.parametrize("kind", ["home", "training-runs", "legacy-other-workspace"])
def test_a_folder_that_is_not_ours_is_refused_before_any_request(
        sim: SimHandle, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    if kind == "home":
        (out / "Documents").mkdir(parents=True)
        (out / ".bashrc").write_text("export PATH=...")
    elif kind == "training-runs":
        (out / "runs" / "detect" / "train" / "weights").mkdir(parents=True)
        (out / "runs" / "detect" / "train" / "weights" / "best.pt").write_bytes(b"w" * 100)
        (out / "staging" / "batch-1").mkdir(parents=True)
        (out / "snapshots" / "000001-mine").mkdir(parents=True)
    else:  # an earlier evals-etl's folder (no marker) holding another workspace
        export(sim, out)
        (out / ".evals-etl.json").unlink()
    before, served = tree(tmp_path), requests(sim)
    assert cli_export(sim, out, workspace="intruder" if kind.startswith("legacy") else None) == 2
    assert untouched(before, tree(tmp_path))  # nothing deleted, created or touched
    assert requests(sim) == served  # not one HTTP request
    err = capsys.readouterr().err
    assert "refusing" in err or "holds the export of workspace" in err


def test_another_workspace_is_refused_and_the_first_keeps_its_data(
        sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_export(sim, out) == 0
    before, served = tree(out), requests(sim)
    assert cli_export(sim, out, workspace="other-workspace") == 2
    assert untouched(before, tree(out)) and requests(sim) == served
    err = capsys.readouterr().err
    assert "'acme'" in err and "'other-workspace'" in err and "another --out" in err
    assert cli_export(sim, out) == 0  # the owner carries on


def test_an_earlier_versions_folder_is_adopted(sim: SimHandle, tmp_path: Path,
                                              reference: dict[str, object]) -> None:
    out = tmp_path / "out"
    export(sim, out)
    (out / ".evals-etl.json").unlink()  # as 0.1 and 0.2 left it
    export(sim, out)
    marker = json.loads((out / ".evals-etl.json").read_text())
    assert marker["workspace"] == sim.options.workspace
    assert "adopted" in (tmp_path / "out.log").read_text()
    assert dataset(out) == reference


def test_an_empty_out_is_never_the_working_directory(
        sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text('[output]\nout = ""\n')
    assert main(["export", "--workspace", "acme", "--api-url", sim.url,
                 "--config", "c.toml"]) == 2
    with pytest.raises(ConfigError, match="must name a folder"):
        load_config(tmp_path / "c.toml", overrides={"workspace": "acme"})
    with pytest.raises(SystemExit) as caught:
        main(["export", "--workspace", "acme", "--api-url", sim.url, "--out", ""])
    assert caught.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"] and requests(sim) == 0


# --------------------------------------------------------------------------- the tables link


@pytest.mark.parametrize("damage", ["lost", "dangling", "absolute", "copied-in", "empty-folder"])
def test_a_broken_link_is_repaired_history_intact_and_the_next_run_right(
        sim: SimHandle, tmp_path: Path, damage: str, reference: dict[str, object]) -> None:
    out = tmp_path / "out"
    export(sim, out)
    current = publish.current_snapshot(out)
    assert current is not None
    history = {name: tree(out / name) for name in ("snapshots", "runs")}
    link = out / "tables"
    link.unlink()
    if damage == "dangling":
        link.symlink_to("snapshots/000099-gone/tables")
    elif damage == "absolute":
        link.symlink_to(current / "tables")  # right files, wrong form: never trusted
    elif damage == "copied-in":
        shutil.copytree(current / "tables", link)  # cp -rL, a zip
    elif damage == "empty-folder":
        link.mkdir()
    summary = export(sim, out)
    assert summary.status == "success"
    for name, entries in history.items():  # nothing that was there is gone
        now = tree(out / name)
        assert {k: v[:3] for k, v in entries.items() if k}.items() <= {
            k: v[:3] for k, v in now.items()}.items()
    assert dataset(out) == reference
    assert (out / "tables").is_symlink()


# --------------------------------------------------------------------------- readers


def test_a_read_only_session_keeps_answering_across_a_week_of_nightly_exports(
        sim: SimHandle, tmp_path: Path) -> None:
    out = tmp_path / "out"
    default_export(sim, out)
    session = duckdb.connect(str(out / "evals.duckdb"), read_only=True)
    sql = ("select (select count(*) from eval_overview), (select count(*) from image_predictions),"
           " (select count(*) from runs)")
    first = session.execute(sql).fetchone()
    for night in range(8):
        default_export(sim, out)
        assert session.execute(sql).fetchone() == first, f"night {night + 1}"
        assert session.execute("select count(*) from class_leaderboard").fetchone() is not None
    session.close()
    with duckdb.connect(str(out / "evals.duckdb"), read_only=True) as fresh:
        assert fresh.execute("select count(*) from runs").fetchone() == (9,)


def test_a_copied_folder_reads_its_own_files_after_the_original_pruned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    original, laptop = tmp_path / "server" / "out", tmp_path / "laptop" / "out"
    with simulator(**SIM) as first:
        monkeypatch.setenv("ROBOFLOW_API_KEY", first.options.api_key)
        assert cli_export(first, original) == 0
    laptop.parent.mkdir()
    shutil.copytree(original, laptop, symlinks=True)  # scp -r, a restored backup
    (tmp_path / "keep1.toml").write_text("[output]\nkeep = 1\nkeep_days = 0\n")
    with simulator(**{**SIM, "seed": 6, "evals": 7}) as second:  # the server moves on
        for _ in range(3):
            assert cli_export(second, original, "--config", str(tmp_path / "keep1.toml")) == 0
    copied = publish.current_snapshot(laptop)
    assert copied is not None and not (original / "snapshots" / copied.name).exists()

    code, text, err = query(laptop, "select count(*) as n from evaluations", capsys)
    assert code == 0 and text.splitlines() == ["n", "4"]  # the laptop's 4 evals, not 7
    assert "rebuilt" in err and str(original) in err
    capsys.readouterr()
    assert main(["status", "--out", str(laptop)]) == 0
    assert "== last runs" in capsys.readouterr().out
    with duckdb.connect(str(laptop / "evals.duckdb"), read_only=True) as con:  # any client now
        assert con.execute("select count(*) from evaluations").fetchone() == (4,)
    shutil.rmtree(original.parent)  # and with the original gone altogether
    assert query(laptop, "select count(*) as n from eval_overview", capsys)[1].splitlines()[1] == "4"


def test_a_read_only_copy_is_queried_without_writing_to_it(
        sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original, mounted = tmp_path / "out", tmp_path / "backup"
    assert cli_export(sim, original) == 0
    shutil.copytree(original, mounted, symlinks=True)
    shutil.rmtree(original)
    for folder, _, files in os.walk(mounted):  # what a read-only mount looks like to a user
        os.chmod(folder, 0o555)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
    try:
        before = tree(mounted)
        if os.geteuid() == 0:  # root writes anyway: take the lock from under us instead
            holder = subprocess.Popen([sys.executable, "-c", (
                "import sys, time; from etl.store.runlock import RunLock\n"
                f"with RunLock(__import__('pathlib').Path({str(mounted)!r})):\n"
                "    print('held', flush=True); time.sleep(60)")],
                stdout=subprocess.PIPE, text=True)
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            before = tree(mounted)
        try:
            code, text, err = query(mounted, "select count(*) as n from evaluations", capsys)
        finally:
            if os.geteuid() == 0:
                holder.kill()
                holder.wait()
        assert code == 0 and text.splitlines() == ["n", "4"]
        assert "temporary folder" in err
        assert {k: v for k, v in tree(mounted).items() if not k.startswith("state")} == {
            k: v for k, v in before.items() if not k.startswith("state")}
    finally:
        for folder, _, _ in os.walk(mounted):
            os.chmod(folder, 0o755)


def foreign_wal(tmp_path: Path) -> bytes:
    db = tmp_path / "notebook.duckdb"
    for old in (db, tmp_path / "notebook.duckdb.wal"):
        old.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", (
        "import duckdb, os\n"
        f"c = duckdb.connect({str(db)!r})\n"
        "c.execute('create table t as select 1 as x'); c.execute('checkpoint')\n"
        "c.execute('insert into t values (2)')\n"
        "os._exit(0)\n")], check=True)
    return (tmp_path / "notebook.duckdb.wal").read_bytes()


def test_a_stray_wal_is_moved_aside_and_nothing_stays_broken(
        sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli_export(sim, out) == 0
    (out / "evals.duckdb.wal").write_bytes(foreign_wal(tmp_path))
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(out / "evals.duckdb"), read_only=True)
    code, text, err = query(out, "select count(*) as n from evaluations", capsys)
    assert code == 0 and text.splitlines() == ["n", "4"] and "aside" in err
    assert [p.name.startswith("evals.duckdb.wal.stray-") for p in out.iterdir()].count(True) == 1
    duckdb.connect(str(out / "evals.duckdb"), read_only=True).close()
    (out / "evals.duckdb.wal").write_bytes(foreign_wal(tmp_path))  # again, before an export
    assert cli_export(sim, out) == 0  # not "partial", not "rebuilt" forever
    assert cli_export(sim, out) == 0
    log = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert sum("aside" in str(e.get("msg", e)) for e in log) == 1


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("name", ["we [x]? *é 'q\" ü", "k[ab]", "run[1]\\b? *"])
def test_any_path_works_for_export_query_and_status(
        sim: SimHandle, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str],
        reference: dict[str, object]) -> None:
    out = tmp_path / name
    if name == "k[ab]":  # the folder DuckDB would read for it as a glob pattern
        (tmp_path / "ka" / "tables").mkdir(parents=True)
    assert cli_export(sim, out) == 0
    assert cli_export(sim, out) == 0  # incremental: merges over, and carries, the previous
    assert dataset(out) == reference
    code, text, _ = query(out, "select count(*) as n from eval_overview", capsys)
    assert code == 0 and text.splitlines() == ["n", "4"]
    assert main(["status", "--out", str(out)]) == 0
    assert "success" in capsys.readouterr().out
    assert main(["views", "--out", str(out)]) == 0


# --------------------------------------------------------------------------- litter and damage


def test_litter_survives_exports_and_pruning_with_one_warning_a_run(
        sim: SimHandle, tmp_path: Path, reference: dict[str, object]) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    export(sim, out)
    made = litter_in(out, outside)
    untouched = tree(outside)
    (tmp_path / "keep1.toml").write_text("[output]\nkeep = 1\nkeep_days = 0\n")
    log = tmp_path / "litter.log"
    for _ in range(3):
        assert main(["export", "--workspace", "acme", "--api-url", sim.url, "--out", str(out),
                     "--config", str(tmp_path / "keep1.toml"), "--log-format", "json"]) == 0
    assert [p for p in made if not os.path.lexists(p)] == []
    assert tree(outside) == untouched
    assert dataset(out) == reference
    own = [p for p in (out / "snapshots").iterdir() if publish.complete(p)]
    assert own == [publish.current_snapshot(out)]
    del log


def test_a_damaged_snapshot_is_a_clear_error_and_full_refresh_recovers(
        sim: SimHandle, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        reference: dict[str, object]) -> None:
    out = tmp_path / "out"
    assert cli_export(sim, out) == 0
    older = {p.name: tree(p) for p in (out / "snapshots").iterdir()}
    assert cli_export(sim, out) == 0
    victim = out / "tables" / "image_predictions" / "data.parquet"
    with open(victim, "r+b") as fh:  # a tool writing in place (root ignores the 0444)
        fh.seek(victim.stat().st_size // 2)
        fh.write(b"\xff" * 64)
    for name, entries in older.items():  # the snapshot before it shares nothing with it
        assert tree(out / "snapshots" / name) == entries
    capsys.readouterr()
    served = requests(sim)
    for _ in range(2):  # not once: every time, until the operator acts
        assert cli_export(sim, out) == 1
        err = capsys.readouterr().err
        assert "image_predictions/data.parquet" in err and "--full-refresh" in err
    assert requests(sim) == served  # refused before any request
    assert cli_export(sim, out, "--full-refresh") == 0
    assert cli_export(sim, out) == 0
    assert dataset(out) == reference
