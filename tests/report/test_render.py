"""Rendering: the folder it writes, what it refuses to replace, and escaping in the HTML."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etl.errors import ConfigError
from etl.report import build_report, render
from etl.simulator.images import HOSTILE_STEMS
from etl.simulator.workspace import HOSTILE_CLASSES


def test_script_json_cannot_end_its_script_element() -> None:
    value = {"name": "</script><script>alert(1)</script>", "q": "it's & <b>", "n": float("nan"),
             "line": "a\u2028b"}
    encoded = str(render.script_json(value))
    assert "<" not in encoded and ">" not in encoded and "'" not in encoded
    assert "\u2028" not in encoded
    assert json.loads(encoded) == {**value, "n": None}


def test_the_report_folder_and_its_pages(dataset: Path, tmp_path: Path) -> None:
    result = build_report(dataset, tmp_path / "r")
    root = tmp_path / "r"
    assert result.index == root / "index.html" and result.evals == 24
    assert result.pages == 1 + len(list((root / "projects").glob("*.html"))) + 24
    assert sorted(p.name for p in (root / "assets").iterdir()) == [
        "plotly.min.js", "report.css", "report.js"]
    assert (root / "assets" / "plotly.min.js").read_bytes() == render.plotly_js()
    for page in root.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "plotly.min.js" in text and text.count("<script") == 3, page
        # nothing that could reach the network: every src/href is relative or a web link
        for target in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert not target.startswith(("//", "javascript:", "data:")), target
            assert target.startswith(("../", "assets/", "https://app.roboflow.com/")) or \
                re.match(r"^(?:projects|evals)/[^/]+\.html$|^index\.html$", target), target


def test_hostile_names_are_escaped_in_every_page(dataset: Path, tmp_path: Path) -> None:
    build_report(dataset, tmp_path / "r")
    seen = 0
    for page in (tmp_path / "r").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for raw in (*HOSTILE_CLASSES, *HOSTILE_STEMS):
            assert raw not in text, page
        seen += text.count("&lt;script&gt;alert(1)&lt;/script&gt;")
        assert "<img" not in text
    assert seen > 0  # the names are there, as text


def test_only_an_earlier_report_or_an_empty_folder_is_replaced(dataset: Path,
                                                              tmp_path: Path) -> None:
    target = tmp_path / "r"
    build_report(dataset, target, eval_ids=["pDIQOx5WlRB7gZlgCtie"])
    assert len(list((target / "evals").iterdir())) == 1
    build_report(dataset, target, projects=["pcb-defects-tghlm"])  # replaces the earlier one
    assert len(list((target / "evals").iterdir())) == 9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty and holds no earlier report"):
        build_report(dataset, mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    build_report(dataset, tmp_path / "empty", eval_ids=["pDIQOx5WlRB7gZlgCtie"])


def test_a_moved_folder_is_reported_from_its_own_files(dataset: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(dataset, moved, symlinks=True)  # its evals.duckdb names the original
    result = build_report(moved)
    assert result.index == moved / "report" / "index.html"
    assert not (dataset / "report").exists()


def test_the_report_command(dataset: Path, tmp_path: Path) -> None:
    def report(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "etl", "report", *args], text=True,
                              capture_output=True, timeout=120, check=False)

    to = tmp_path / "cli-report"
    done = report("--out", str(dataset), "--to", str(to), "--eval", "pDIQOx5WlRB7gZlgCtie")
    assert done.returncode == 0, done.stderr
    assert f"report: {to / 'index.html'} (3 pages for 1 evals" in done.stdout
    refused = report("--out", str(dataset), "--to", str(to), "--project", "x")
    assert refused.returncode == 2 and "no project 'x' in the dataset" in refused.stderr
    nothing = report("--out", str(tmp_path / "nothing"))
    assert nothing.returncode == 2 and "does not exist" in nothing.stderr
    (tmp_path / "empty").mkdir()
    empty = report("--out", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "nothing is published" in empty.stderr
