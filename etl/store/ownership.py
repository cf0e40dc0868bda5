"""Whose folder is it: the ownership marker an output folder carries, checked before a run.

``OUT/.evals-etl.json`` says that evals-etl made the folder and for which workspace::

    {"format": 1, "workspace": "acme", "created": "2026-12-01T12:00:00+00:00",
     "created_by": "evals-etl 0.1.0"}

:func:`claim` runs before anything is written (before the run lock, before any HTTP
request). It refuses, with a :class:`ConfigError` (exit 2) and nothing touched or created:

* a folder that is not empty and carries no marker (a home directory, a training run's
  folder, a mistyped ``--out``), unless it is an output folder of an earlier evals-etl;
* a folder whose marker names other workspaces: a run may export a subset of the folder's
  workspaces (the others' rows stay as they are), or all of them and new ones (the marker
  then names them all), but a workspace the folder does not hold, without the ones it does,
  is a mistyped ``--out`` or ``--workspace``;
* a marker of a newer format, a marker that is not a file, evals-etl's own folders
  (``staging``, ``snapshots``, ``runs``, ``state``) turned into files or symlinks.

A folder made by an earlier evals-etl (published snapshots, or the ``tables`` link beside
``evals.duckdb``, but no marker) is adopted: its workspace is read from its data (``runs``,
else ``evaluations``), checked like a marker's, and the marker written. An empty folder, or
one holding only what an operating system leaves in folders (``.DS_Store``, ``lost+found``),
is simply claimed.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etl import __version__
from etl.errors import ConfigError, StorageError
from etl.store import layout, publish

FORMAT = 1
# What a run keeps in OUT/state (the lock; the run history, etl.history).
STATE_FILES = frozenset({"lock", "history.jsonl", "history.jsonl.tmp", "history.reserve"})
# What may be in a folder evals-etl has never written to without making it someone else's.
EMPTY_ENOUGH = layout.OS_LITTER | {"lost+found", ".Spotlight-V100", ".Trashes", ".fseventsd"}


@dataclass(frozen=True)
class Marker:
    format: int
    workspace: str  # the first; kept so an older evals-etl still reads the marker
    created: str
    workspaces: tuple[str, ...] = ()

    @property
    def owners(self) -> tuple[str, ...]:
        return self.workspaces or (self.workspace,)


def read_marker(out: Path) -> Marker | None:
    """The marker of ``out``; None when there is none, or it does not read as one."""
    path = Path(out) / layout.MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        listed = data.get("workspaces") or []
        return Marker(int(data["format"]), str(data["workspace"]), str(data.get("created", "")),
                      tuple(str(w) for w in listed) if isinstance(listed, list) else ())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claim(out: Path, workspaces: str | Sequence[str]) -> list[str]:
    """Make sure ``out`` is (or becomes) evals-etl's output folder for ``workspaces``.

    Returns notes (a folder adopted, workspaces added); raises :class:`ConfigError` having
    changed nothing.
    """
    out = Path(out)
    run = (workspaces,) if isinstance(workspaces, str) else tuple(workspaces)
    try:
        return _claim(out, run)
    except OSError as exc:
        raise StorageError.of(exc, out, "claiming the output folder") or exc


def _claim(out: Path, run: tuple[str, ...]) -> list[str]:
    if not os.path.lexists(out):
        out.mkdir(parents=True, exist_ok=True)
        return _write(out, run, [])
    if not out.is_dir():
        raise ConfigError(f"the output folder {out} is a file, not a folder")
    _check_structure(out)
    marker_path = out / layout.MARKER
    if os.path.lexists(marker_path) and (marker_path.is_symlink() or not marker_path.is_file()):
        raise ConfigError(f"{marker_path} is not the marker file evals-etl writes; refusing to "
                          f"use {out}")
    marker = read_marker(out)
    if marker is not None:
        if marker.format > FORMAT:
            raise ConfigError(f"{out} was made by a newer evals-etl (marker format "
                              f"{marker.format}, this one knows {FORMAT}); upgrade evals-etl")
        check_workspaces(out, marker.owners, run, "its marker says")
        if set(run) <= set(marker.owners):
            return []
        added = [w for w in run if w not in marker.owners]
        return _write(out, (*marker.owners, *added),
                      [f"{out} now holds workspaces {', '.join(added)} too"], replace_=True)
    entries = sorted(p.name for p in out.iterdir() if p.name not in EMPTY_ENOUGH)
    if not entries:
        return _write(out, run, [])
    if not (_made_by_evals_etl(out) or _only_evals_etl_entries(out)):
        shown = ", ".join(entries[:5]) + (" …" if len(entries) > 5 else "")
        unreadable = " (its marker is unreadable)" if os.path.lexists(marker_path) else ""
        raise ConfigError(
            f"refusing to export into {out}: it is not empty ({shown}) and was not made by "
            f"evals-etl{unreadable}, so nothing in it is evals-etl's to write or delete. Choose a "
            "new or empty folder for --out (or output.out)")
    found = tuple(sorted(_dataset_workspaces(out)))
    if found:
        check_workspaces(out, found, run, "its data says")
    owners = (*found, *(w for w in run if w not in found))
    was = "an unreadable marker" if os.path.lexists(marker_path) else "no marker"
    note = (f"adopted {out}, an output folder of an earlier evals-etl with {was}: wrote "
            f"{layout.MARKER} for workspace {', '.join(repr(w) for w in owners)}")
    return _write(out, owners, [note], replace_=True)


def _check_structure(out: Path) -> None:
    for name in layout.FOLDERS:
        path = out / name
        if os.path.lexists(path) and not layout.real_dir(path):
            kind = "a symbolic link" if path.is_symlink() else "not a folder"
            raise ConfigError(f"{path} is {kind}; evals-etl keeps its own {name}/ folder there "
                              "and never follows a link out of the output folder. Move it away")
    db = out / layout.DB
    if db.is_dir() and not db.is_symlink():
        raise ConfigError(f"{db} is a folder; evals-etl writes its database there. Move it away")


def check_workspaces(out: Path, owners: Sequence[str], run: Sequence[str], source: str
                     ) -> None:
    """A run may cover some of the folder's workspaces, or all of them and more."""
    if set(run) <= set(owners) or set(owners) <= set(run):
        return
    held = ", ".join(repr(w) for w in owners)
    new = ", ".join(repr(w) for w in run if w not in owners)
    raise ConfigError(
        f"{out} holds the export of workspace {held} ({source}), not {new}; use another "
        f"--out for {new}, or, to keep several workspaces in this folder, export them together "
        f"once (--workspace for each of {held} and {new}; later runs may export any of them)")


def _made_by_evals_etl(out: Path) -> bool:
    """Signs of an earlier evals-etl: a snapshot with a manifest, or the link and database."""
    snapshots = out / "snapshots"
    if layout.real_dir(snapshots) and any(
            layout.snapshot_seq(p.name) >= 0 and (p / layout.MANIFEST).is_file()
            and publish.manifest_or_none(p) is not None for p in snapshots.iterdir()):
        return True
    link = out / layout.LINK
    return os.path.lexists(link) and (out / layout.DB).is_file() and (
        link.is_symlink() or link.is_dir())


def _only_evals_etl_entries(out: Path) -> bool:
    """Nothing but what a run writes before its first publish (a lock, its staging folder)."""
    judges: dict[str, Callable[[Path], bool]] = {
        "state": lambda p: p.name in STATE_FILES and p.is_file() and not p.is_symlink(),
        "staging": layout.own_staging,
        "snapshots": layout.own_snapshot,
        "runs": lambda p: layout.own_run(p, set()),
    }
    for entry in out.iterdir():
        if entry.name in EMPTY_ENOUGH or (layout.is_temp_file(entry.name)
                                          and not layout.real_dir(entry)):
            continue
        own = judges.get(entry.name)
        if own is None or not layout.real_dir(entry) or not all(own(p) for p in entry.iterdir()):
            return False
    return True


def _dataset_workspaces(out: Path) -> set[str]:
    snapshot = publish.find_current(out)
    if snapshot is not None:
        return publish.dataset_workspaces(snapshot)
    link = out / layout.LINK  # a `tables` folder copied out of the link still holds the data
    return publish.dataset_workspaces(out) if layout.real_dir(link) else set()


def _write(out: Path, owners: tuple[str, ...], notes: list[str], *,
           replace_: bool = False) -> list[str]:
    """Write the marker atomically, never over another run's (two runs claiming at once)."""
    path = out / layout.MARKER
    body: dict[str, object] = {"format": FORMAT, "workspace": owners[0],
            **({"workspaces": list(owners)} if len(owners) > 1 else {}),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_by": f"evals-etl {__version__}"}
    tmp = out / f"{layout.MARKER}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    try:
        if replace_:  # adopting (a marker there is unreadable), or workspaces added
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if another run wrote one meanwhile
            except FileExistsError:
                other = read_marker(out)
                if other is None:
                    raise ConfigError(f"{path} appeared meanwhile and is unreadable") from None
                check_workspaces(out, other.owners, owners, "its marker says")
    finally:
        tmp.unlink(missing_ok=True)
    return notes
