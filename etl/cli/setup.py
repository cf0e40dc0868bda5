"""``init`` writes a commented starting config (and a key file, mode 600, if asked);
``completion`` prints a bash or zsh completion script."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path

from etl.cli.common import Commands, folder, say
from etl.errors import ConfigError


def shipped(name: str) -> Path:
    """A file the commands point to: ``configs/``/``docs/`` in a checkout, ``etl/_data`` in
    the wheel (pyproject.toml's force-include puts them there)."""
    root = Path(__file__).resolve().parents[2]
    for candidate in (root / "configs" / name, root / "docs" / name,
                      Path(__file__).resolve().parents[1] / "_data" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(name)


def register(sub: Commands) -> None:
    init = sub.add_parser("init", help="write a commented starting config (and a key file)")
    init.add_argument("--config", type=Path, default=Path("evals-etl.toml"),
                      help="the config file to write (default ./evals-etl.toml; never replaced)")
    init.add_argument("--workspace", required=True, help="workspace URL slug")
    init.add_argument("--out", type=folder, help="output folder for the exports")
    init.add_argument("--key-file", type=Path, metavar="PATH",
                      help="also write the API key, read from stdin (never a flag), to PATH "
                      "with mode 600, and point the config at it")
    init.set_defaults(handler=_init)

    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(handler=_completion)


def _init(args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.workspace):
        raise ConfigError(f"--workspace {args.workspace!r} is not a workspace URL slug")
    for path in filter(None, (args.config, args.key_file)):
        if os.path.lexists(path):
            raise ConfigError(f"{path} exists; init never replaces a file (move it away first)")
    text = shipped("example.toml").read_text(encoding="utf-8")
    text = text.replace('workspace = "my-workspace"', f'workspace = "{args.workspace}"')
    text = text.replace("# Use it with:  evals-etl export --config configs/example.toml",
                        f"# Use it with:  evals-etl export --config {args.config}")
    if args.out is not None:
        text = text.replace('out = "evals-out"', f'out = "{_toml(str(args.out))}"')
    if args.key_file is not None:
        _write_key(args.key_file)
        text = text.replace('# key_file = "~/.config/evals-etl/api-key"',
                            f'key_file = "{_toml(str(args.key_file.resolve()))}"')
    with open(args.config, "x", encoding="utf-8") as handle:  # "x": never over another file
        handle.write(text)
    say(f"wrote {args.config}" + (f" and {args.key_file} (mode 600)" if args.key_file else "")
        + f"; check it with: evals-etl doctor --config {args.config}")
    return 0


def _write_key(path: Path) -> None:
    key = (getpass.getpass("Roboflow API key: ") if sys.stdin.isatty()
           else sys.stdin.readline()).strip()
    if not key:
        raise ConfigError("no API key on stdin: pipe it in (e.g. from a secret manager) or "
                          "type it at the prompt")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # 600 from the start
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")


def _toml(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _completion(args: argparse.Namespace) -> int:
    import shtab

    from etl.cli import _parser

    print(shtab.complete(_parser(), shell=args.shell))
    return 0
