"""The README's first command: the demo runs the whole pipeline and every view then answers."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from etl import views
from etl.demo import SHOWCASE, run_demo


def test_demo_prints_the_showcase_and_every_view_queries_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_demo(Path("demo-out")) == 0
    printed = capsys.readouterr().out
    for name in SHOWCASE:
        assert f"== {name}" in printed
    db = tmp_path / "demo-out" / "evals.duckdb"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    names = views.view_names(db)
    assert {"eval_overview", "worst_images", "image_confusion_named", "panel_health"} <= set(names)
    with duckdb.connect(str(db), read_only=True) as con:
        for name in names:
            con.execute(f'select * from "{name}" limit 5').fetchall()
    assert os.getcwd() == str(elsewhere)
