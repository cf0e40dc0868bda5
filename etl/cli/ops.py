"""``doctor``, ``init`` and ``completion``: setting a machine up, and checking it, before the
first night."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from etl.cli.common import Commands, folder
from etl.errors import EXIT_CHECK_FAILED, EXIT_OK


def register(sub: Commands) -> None:
    doctor = sub.add_parser("doctor", help="check the key, the API, the output folder, the "
                            "disk and the warehouse before the first night")
    doctor.add_argument("--workspace", help="workspace URL slug (or `workspace` in --config)")
    doctor.add_argument("--api-url", help="API base URL (default https://api.roboflow.com)")
    doctor.add_argument("--out", type=folder, help="output folder (default: the config's)")
    doctor.add_argument("--config", type=Path, help="the TOML config the nightly run uses")
    target = doctor.add_mutually_exclusive_group()
    target.add_argument("--to", metavar="URI", help="also check this warehouse")
    target.add_argument("--to-env", metavar="VAR", help="environment variable holding the URI")
    target.add_argument("--to-file", type=Path, metavar="PATH", help="file holding the URI")
    doctor.add_argument("--schema", default="evals_etl")
    doctor.add_argument("--format", choices=["text", "json"], default="text")
    doctor.set_defaults(handler=_doctor)

    from etl.cli import setup

    setup.register(sub)


def _doctor(args: argparse.Namespace) -> int:
    import anyio

    from etl import config as config_module
    from etl import doctor
    from etl.errors import ConfigError

    overrides: dict[str, Any] = {"workspace": args.workspace, "api.url": args.api_url,
                                 "output.out": str(args.out) if args.out else None}
    checks: list[doctor.Check] = []
    out, workspace = args.out, args.workspace
    try:
        cfg = config_module.load(args.config, overrides=overrides)
    except ConfigError as exc:
        checks.append(doctor.Check("config", "fail", str(exc), "fix the config, then run "
                                   "doctor again"))
    else:
        out, workspace = cfg.output.out, cfg.workspace
        checks.append(doctor.Check("config", "ok", f"workspace {cfg.workspace!r}, API "
                                   f"{cfg.api.url}, output {cfg.output.out}"))
        checks += [doctor.Check("security", "warn", w) for w in cfg.warnings]
        checks += doctor.every_workspace(cfg, lambda c: anyio.run(doctor.api_checks, c))
    if out is not None:
        checks += doctor.folder_checks(out, workspace)
    if args.to is not None or args.to_env is not None or args.to_file is not None:
        try:
            uri, _ = config_module.warehouse_uri(args.to, args.to_env, args.to_file)
        except ConfigError as exc:
            checks.append(doctor.Check("warehouse", "fail", str(exc)))
        else:
            checks.append(doctor.warehouse_check(uri, args.schema))
    failed = any(c.state == "fail" for c in checks)
    if args.format == "json":
        print(json.dumps({"ok": not failed, "checks": [c.as_dict() for c in checks]}))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{c.state:<4}  {c.name:<{width}}  {c.detail}"
                  + (f"\n      {'':<{width}}  fix: {c.fix}" if c.fix and c.state != "ok" else ""))
        print(f"\n{'some checks failed' if failed else 'ready'}", file=sys.stderr)
    return EXIT_CHECK_FAILED if failed else EXIT_OK
