"""``init``, ``completion`` and the wheel: first steps on a new machine."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from etl import config
from tests.support import cli

ROOT = Path(__file__).resolve().parents[2]


def _init(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etl", "init", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=60)


def test_init_writes_a_config_that_loads_and_a_key_file_of_mode_600(tmp_path: Path) -> None:
    conf, key = tmp_path / "etc" / "evals.toml", tmp_path / "secrets" / "api-key"
    conf.parent.mkdir()
    done = _init("--config", str(conf), "--workspace", "acme-co", "--out",
                 str(tmp_path / "exports"), "--key-file", str(key), stdin="sekrit-key-42\n")
    assert done.returncode == 0, done.stderr
    assert "sekrit-key-42" not in done.stdout + done.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_text() == "sekrit-key-42\n"
    assert "sekrit-key-42" not in conf.read_text()
    loaded = config.load(conf, environ={})
    assert loaded.workspace == "acme-co" and loaded.api.key is not None
    assert loaded.api.key.reveal() == "sekrit-key-42"
    assert loaded.output.out == tmp_path / "exports" and not loaded.warnings
    assert "# " in conf.read_text()  # commented, like configs/example.toml

    again = _init("--config", str(conf), "--workspace", "acme-co")
    assert again.returncode == 2 and "never replaces" in again.stderr
    assert tomllib.loads(conf.read_text())["workspace"] == "acme-co"


def test_init_refuses_an_empty_key_and_a_bad_slug(tmp_path: Path) -> None:
    assert _init("--config", str(tmp_path / "a.toml"), "--workspace", "x",
                 "--key-file", str(tmp_path / "k"), stdin="\n").returncode == 2
    assert not (tmp_path / "a.toml").exists() and not (tmp_path / "k").exists()
    assert _init("--config", str(tmp_path / "b.toml"), "--workspace", "../etc").returncode == 2


def test_bash_completion_completes_commands_and_flags() -> None:
    script = cli.run("completion", "bash")
    assert script.returncode == 0
    probe = (f"{script.stdout}\n"
             "COMP_WORDS=(evals-etl sta); COMP_CWORD=1; _shtab_evals_etl; echo \"${COMPREPLY[@]}\"\n"
             "COMP_WORDS=(evals-etl status --ch); COMP_CWORD=2; _shtab_evals_etl; "
             "echo \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=False)
    assert done.stdout.split("\n")[:2] == ["status", "--check"], done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_parses() -> None:
    script = cli.run("completion", "zsh").stdout
    assert subprocess.run(["zsh", "-n", "-c", script], check=False).returncode == 0


def test_the_wheel_ships_what_the_commands_point_to(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                          check=False, timeout=300,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("evals_etl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("etl/_data/example.toml", "etl/_data/views.md", "etl/_data/tables.md",
                    "etl/sql/3_marts/eval_overview.sql"):
        assert shipped in names, shipped
    assert any(n.endswith((".dist-info/licenses/LICENSE", "/LICENSE"))
               for n in names), sorted(n for n in names if "dist-info" in n)
