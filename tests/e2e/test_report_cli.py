"""`evals-etl demo` writes the report and prints its path; `evals-etl report` from a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etl.demo import run_demo


def test_the_demo_writes_the_report_and_prints_its_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_demo(Path("demo-out")) == 0
    printed = capsys.readouterr().out
    index = Path("demo-out") / "report" / "index.html"
    assert f"HTML report: {index} (open it in a browser" in printed
    assert index.is_file() and len(list((tmp_path / "demo-out/report/evals").iterdir())) == 24


def test_report_from_the_command_line_replaces_its_own_folder(tmp_path: Path) -> None:
    assert run_demo(tmp_path / "out") == 0
    again = subprocess.run([sys.executable, "-m", "etl", "report", "--out", str(tmp_path / "out"),
                            "--project", "pcb-defects-tghlm"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "pages for 9 evals" in again.stdout
    assert len(list((tmp_path / "out" / "report" / "evals").iterdir())) == 9
