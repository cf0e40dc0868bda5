"""Look at an output folder the way the ownership and litter tests need: every entry, exactly."""

from __future__ import annotations

import os
from pathlib import Path

Entry = tuple[str, str, int, int]  # relative path, kind, size, mtime_ns


def tree(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` (``root`` itself included), links not followed."""
    found: dict[str, Entry] = {}
    if not os.path.lexists(root):
        return found
    for folder, dirs, files in os.walk(root):
        for name in ["", *dirs, *files] if folder == str(root) else [*dirs, *files]:
            path = Path(folder) / name if name else Path(folder)
            st = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            size = 0 if kind == "dir" else st.st_size
            rel = path.relative_to(root).as_posix()
            found[rel] = (rel, kind, size, st.st_mtime_ns)
    return found


def litter_in(out: Path, outside: Path) -> list[Path]:
    """Put the litter of a shared folder into every evals-etl folder of ``out``.

    ``outside`` is a folder the symlinks lead to: it must come out untouched.
    """
    (outside / "precious.txt").parent.mkdir(parents=True, exist_ok=True)
    (outside / "precious.txt").write_text("not evals-etl's")
    made = []
    for name in ("staging", "snapshots", "runs"):
        root = out / name
        root.mkdir(parents=True, exist_ok=True)
        (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        (root / "notes.txt").write_text("mine")
        (root / "link-out").symlink_to(outside, target_is_directory=True)
        (root / "dangling").symlink_to(root / "nowhere")
        foreign = root / "detect" / "train" / "weights"
        foreign.mkdir(parents=True)
        (foreign / "best.pt").write_bytes(b"weights")
        made += [root / ".DS_Store", root / "notes.txt", root / "link-out", root / "dangling",
                 foreign / "best.pt"]
    # Names evals-etl could have given, holding what it never writes.
    look_alike = out / "snapshots" / "000999-20260101T000000Z-abcdef"
    look_alike.mkdir()
    (look_alike / "thesis.pdf").write_bytes(b"%PDF")
    run_like = out / "runs" / "20260101T000000Z-abcdef"
    run_like.mkdir()
    (run_like / "notes.md").write_text("# mine")
    staging_like = out / "staging" / "my-experiment"
    (staging_like / "tables").mkdir(parents=True)
    (staging_like / "tables" / "results.csv").write_text("a,b\n")
    made += [look_alike / "thesis.pdf", run_like / "notes.md",
             staging_like / "tables" / "results.csv"]
    return made
