"""The command line as users type it: export, status, views, query, normalize, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from etl.cli import main
from tests.support.runs import simulator, table


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "out"
    with simulator(seed=21, evals=6, missing_panel_rate=0.0) as sim:
        monkeypatch.setenv("ROBOFLOW_API_KEY", sim.options.api_key)
        code = main(["export", "--workspace", "acme", "--api-url", sim.url, "--out", str(out),
                     "--concurrency", "4", "--log-format", "json"])
    assert code == 0
    return out


def test_query_prints_a_table_csv_and_json(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "select eval_id, status from evaluations order by eval_id"
    assert main(["query", "--out", str(exported), sql]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["eval_id", "status"] and "(6 rows)" in text
    assert main(["query", "--out", str(exported), "--format", "csv", sql]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 7
    assert main(["query", "--out", str(exported), "--format", "json", sql]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["status"] for r in rows} <= {"done", "running", "failed"}


def test_a_bad_query_is_a_usage_error(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--out", str(exported), "select * from no_such_view"]) == 2
    assert "no_such_view" in capsys.readouterr().err


def test_status_shows_runs_and_pending_evals(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--out", str(exported)]) == 0
    text = capsys.readouterr().out
    assert "== last runs" in text and "success" in text


def test_the_folder_can_be_moved_and_opened_from_anywhere(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    moved = tmp_path / "elsewhere" / "evals"
    moved.parent.mkdir()
    shutil.move(str(exported), moved)
    assert main(["views", "--out", str(moved)]) == 0
    monkeypatch.chdir("/")
    capsys.readouterr()
    assert main(["query", "--out", str(moved), "--format", "csv",
                 "select count(*) n from image_predictions"]) == 0
    assert int(capsys.readouterr().out.splitlines()[1]) > 0


@pytest.mark.parametrize("command", ["replay", "normalize"])  # normalize: the old name
def test_replay_rebuilds_a_run_from_its_archive(exported: Path, command: str) -> None:
    before = table(exported, "image_predictions").sort_by("image_id")
    run_id = table(exported, "runs").column("run_id")[0].as_py()
    assert main([command, "--out", str(exported), "--run", run_id]) == 0
    after = table(exported, "image_predictions").sort_by("image_id")
    assert after.num_rows == before.num_rows
    assert after.drop_columns(["fetched_at"]).equals(before.drop_columns(["fetched_at"]))


def test_missing_key_and_bad_flags_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ROBOFLOW_API_KEY", raising=False)
    assert main(["export", "--workspace", "acme", "--out", str(tmp_path / "o")]) == 2
    assert "ROBOFLOW_API_KEY" in capsys.readouterr().err
    monkeypatch.setenv("ROBOFLOW_API_KEY", "k")
    assert main(["export", "--workspace", "acme", "--confidence", "high",
                 "--out", str(tmp_path / "o")]) == 2


def test_evals_that_vanish_are_marked_no_longer_listed(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    gone: set[str] = set()

    def hide(kind: str, eval_id: str, body: dict) -> dict:
        if kind == "list":
            body = {**body, "evals": [e for e in body["evals"] if e["evalId"] not in gone]}
        return body

    with simulator(seed=22, evals=5, mutate=hide) as sim:
        monkeypatch.setenv("ROBOFLOW_API_KEY", sim.options.api_key)
        argv = ["export", "--workspace", "acme", "--api-url", sim.url, "--out", str(out),
                "--log-format", "json"]
        assert main(argv) in (0, 3)
        victim = sim.workspace.evals[0].eval_id
        gone.add(victim)
        assert main(argv) in (0, 3)
    rows = {r["eval_id"]: r["listed"] for r in table(out, "evaluations").to_pylist()}
    assert rows[victim] is False
    assert sum(rows.values()) == 4


def test_normalize_replays_only_the_last_pass_of_a_restarted_image_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    first_pass: dict[str, bool] = {}

    def ghost_on_first_pass(kind: str, eval_id: str, body: dict) -> dict:
        # The first pass promises one image more and shows a "ghost" on its second page:
        # the crawler sees totalImages change, starts over, and publishes the clean pass.
        if kind != "image-predictions":
            return body
        if body["offset"] == 0:
            first_pass[eval_id] = eval_id not in first_pass
            return body
        if first_pass[eval_id]:
            ghost = {**body["images"][0], "imageId": "ghost"}
            return {**body, "totalImages": body["totalImages"] + 1,
                    "images": [*body["images"], ghost]}
        return body

    with simulator(seed=23, evals=2, images=(30, 40), running_rate=0, failed_rate=0,
                   missing_panel_rate=0, mutate=ghost_on_first_pass) as sim:
        monkeypatch.setenv("ROBOFLOW_API_KEY", sim.options.api_key)
        assert main(["export", "--workspace", "acme", "--api-url", sim.url, "--out", str(out),
                     "--log-format", "json", "--config", str(_small_pages(tmp_path))]) == 0
    before = table(out, "image_predictions").sort_by("image_id")
    assert "ghost" not in before.column("image_id").to_pylist()
    run_id = table(out, "runs").column("run_id")[0].as_py()
    assert main(["normalize", "--out", str(out), "--run", run_id]) == 0
    after = table(out, "image_predictions").sort_by("image_id")
    assert after.column("image_id").to_pylist() == before.column("image_id").to_pylist()


def _small_pages(tmp: Path) -> Path:
    path = tmp / "pages.toml"
    path.write_text("[crawl]\nimage_page_size = 10\nbackoff_base = 0.01\nbackoff_max = 0.02\n")
    return path
