"""ownership.claim(): which folders evals-etl may write into, decided before anything is written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from etl.errors import ConfigError
from etl.store import ownership, publish
from etl.store.layout import MARKER
from tests.support.folders import tree

from .storage_scenario import WS, publish_run, units


def refused(out: Path, workspace: str = WS) -> str:
    """claim() refuses ``out`` (exit 2) and leaves every byte and timestamp as it was."""
    parent = out.parent
    before = tree(parent)
    with pytest.raises(ConfigError) as caught:
        ownership.claim(out, workspace)
    assert caught.value.exit_code == 2
    assert tree(parent) == before
    return str(caught.value)


def legacy(out: Path) -> Path:
    """An output folder as evals-etl 0.1/0.2 left it: published, no marker."""
    publish_run(out, "r1", units("e1", confidences=(None,)))
    return out


def test_a_new_folder_is_created_and_marked(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    assert ownership.claim(out, WS) == []
    marker = json.loads((out / MARKER).read_text())
    assert marker["format"] == 1 and marker["workspace"] == WS and marker["created"]
    assert sorted(p.name for p in out.iterdir()) == [MARKER]
    assert ownership.claim(out, WS) == []  # the owner comes back


def test_an_empty_folder_or_one_with_only_os_files_is_claimed(tmp_path: Path) -> None:
    for name, junk in (("empty", None), ("finder", ".DS_Store"), ("mount", "lost+found")):
        out = tmp_path / name
        out.mkdir()
        if junk == "lost+found":
            (out / junk).mkdir()
        elif junk:
            (out / junk).write_bytes(b"x")
        ownership.claim(out, WS)
        assert ownership.read_marker(out) is not None


@pytest.mark.parametrize("content", ["file", "folder", "symlink", "hidden", "runs-of-yolo"])
def test_a_foreign_folder_is_refused_and_left_exactly_as_it_was(
        tmp_path: Path, content: str) -> None:
    out = tmp_path / "home"
    out.mkdir()
    if content == "file":
        (out / "thesis.pdf").write_bytes(b"%PDF")
    elif content == "folder":
        (out / "photos").mkdir()
    elif content == "symlink":
        (out / "link").symlink_to(tmp_path)
    elif content == "hidden":
        (out / ".bashrc").write_text("alias x=y")
    else:  # where a training job writes: the very names evals-etl uses
        (out / "runs" / "detect" / "train").mkdir(parents=True)
        (out / "runs" / "detect" / "train" / "best.pt").write_bytes(b"w")
        (out / "staging").mkdir()
    message = refused(out)
    assert "not empty" in message and "not made by evals-etl" in message


def test_another_workspace_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ownership.claim(out, "acme")
    message = refused(out, "other")
    assert "'acme'" in message and "'other'" in message


def test_a_folder_of_an_earlier_version_is_adopted_with_its_workspace(tmp_path: Path) -> None:
    out = legacy(tmp_path / "out")
    refused(out, "not-" + WS)  # its data says whose it is
    notes = ownership.claim(out, WS)
    assert len(notes) == 1 and "adopted" in notes[0]
    assert ownership.read_marker(out).workspace == WS  # type: ignore[union-attr]


def test_an_earlier_folder_is_adopted_even_with_its_link_lost(tmp_path: Path) -> None:
    out = legacy(tmp_path / "out")
    (out / "tables").unlink()  # rsync without -l
    refused(out, "intruder")
    ownership.claim(out, WS)
    assert ownership.read_marker(out) is not None


def test_a_folder_with_only_a_lock_is_evals_etls(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with publish.RunLock(out):
        pass
    assert "adopted" in ownership.claim(out, WS)[0]
    assert ownership.read_marker(out) is not None


def test_an_unreadable_or_newer_marker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("{not json")
    assert "unreadable" in refused(out)  # and nothing else says it is ours
    legacy_out = legacy(tmp_path / "legacy")
    (legacy_out / MARKER).write_text("{not json")
    assert "unreadable marker" in ownership.claim(legacy_out, WS)[0]
    (out / MARKER).write_text(json.dumps({"format": 99, "workspace": WS}))
    assert "newer evals-etl" in refused(out)


def test_evals_etl_folders_that_are_links_or_files_are_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("staging", "snapshots", "runs", "state"):
        out = tmp_path / f"out-{name}"
        ownership.claim(out, WS)
        (out / name).symlink_to(elsewhere, target_is_directory=True)
        assert "symbolic link" in refused(out)
        (out / name).unlink()
        (out / name).write_text("x")
        assert "not a folder" in refused(out)


def test_a_file_is_not_an_output_folder(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert "is a file" in refused(path)


def test_a_marker_written_meanwhile_by_another_workspace_wins(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    real_link = os.link

    def racing_link(src: str, dst: str) -> None:  # another run claims between check and write
        (out / MARKER).write_text(json.dumps({"format": 1, "workspace": "other"}))
        real_link(src, dst)

    monkeypatch.setattr(ownership.os, "link", racing_link)
    with pytest.raises(ConfigError, match="'other'"):
        ownership.claim(out, WS)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
