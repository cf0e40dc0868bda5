"""``evals-etl doctor``: check a set-up before the first night, one line per check.

Each check says ok, warn or fail, and how to fix what is not ok: the configuration and key,
that the API is reachable (and how fast), that the key is accepted for the workspace and has
the ``model-eval:read`` scope, that the list filters the enumeration relies on behave, that
the output folder is writable and evals-etl's (or can be made), the free disk space, the
DuckDB file, and with a warehouse URI the connection and its schema version. It sends a
handful of small GET requests and writes nothing but an unnamed probe file in the output
folder, gone when it is closed.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from etl import folders, views
from etl.config import KEY_ENV, Config
from etl.crawl.client import Client
from etl.crawl.http import Http
from etl.crawl.workspaces import for_workspace
from etl.errors import ApiError, AuthError, ConfigError, EtlError
from etl.store import ownership, publish

State = Literal["ok", "warn", "fail"]
SLOW_MS = 2000.0
LOW_DISK = 1 << 30  # 1 GiB


@dataclass(frozen=True)
class Check:
    name: str
    state: State
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "state": self.state, "detail": self.detail, "fix": self.fix}


async def api_checks(config: Config) -> list[Check]:
    """Reach the API, have the key accepted, list with the scope, and try the filters."""
    quick = replace(config.crawl, max_attempts=2, backoff_base=0.1, backoff_max=0.5,
                    retry_budget=4)
    api = replace(config.api, total_timeout=min(config.api.total_timeout, 20.0))
    async with Http(api, quick) as http:
        client = Client(http, config.workspace)
        started = time.monotonic()
        reached = await _attempt("api", lambda: client.projects(), config)
        if reached is not None:
            return [reached]
        ms = (time.monotonic() - started) * 1000
        host = f"{config.api.url} answered in {ms:.0f} ms"
        checks = [Check("api", "warn" if ms > SLOW_MS else "ok", host,
                        "a slow API makes long nights: raise crawl.concurrency" if ms > SLOW_MS
                        else ""),
                  Check("key", "ok", f"accepted for workspace {config.workspace!r}")]
        pages: list[Any] = []
        scope = await _attempt("scope", lambda: _keep(pages, client.list_evals()), config)
        if scope is not None:
            return [*checks, scope]
        checks.append(Check("scope", "ok", f"model-eval:read: {pages[0].rows} evals on the first "
                            "list page"))
        checks.append(await _filters(client, pages[0], config))
    return checks


async def _keep(into: list[Any], call: Awaitable[Any]) -> None:
    into.append(await call)


async def _attempt(name: str, call: Callable[[], Awaitable[Any]], config: Config) -> Check | None:
    """None when ``call`` went through; else the failed check, named for what it shows."""
    try:
        await call()
    except AuthError as exc:
        if exc.status == 403 and name == "scope":
            return Check("scope", "fail", f"the key lacks the model-eval:read scope ({exc})",
                         "create a key with model-eval:read (Roboflow app, workspace "
                         "settings, API keys)")
        return Check("key", "fail", f"the API refused the key ({exc})",
                     f"set {KEY_ENV} (or [api] key_file) to a key of workspace "
                     f"{config.workspace!r}")
    except ApiError as exc:
        where = "api" if exc.status is None else name
        return Check(where, "fail", str(exc), "check api.url, the network, a proxy "
                     "(HTTPS_PROXY) or the API's status page" if exc.status is None else "")
    return None


async def _filters(client: Client, first: Any, config: Config) -> Check:
    """The enumeration partitions the listing by status and project: do the filters filter?"""
    statuses = sorted({e.status for e in first.evals})
    projects = sorted({e.project for e in first.evals if e.project})
    wrong = []
    for field_name, value in ([("status", statuses[0])] if statuses else []) + (
            [("project", projects[0])] if projects else []):
        page = await client.list_evals(**{field_name: value})
        if any(getattr(e, field_name) != value for e in page.evals):
            wrong.append(f"{field_name}={value} returned other {field_name}es")
    if wrong:
        return Check("filters", "warn", "; ".join(wrong), "the listing stays complete only "
                     "while each filtered page has fewer than 200 rows; report it")
    tried = "status and project" if projects else "status"
    return Check("filters", "ok", f"the {tried} filters return only matching evals"
                 if statuses else "no evals yet: nothing to filter")


def every_workspace(config: Config, run: Callable[[Config], list[Check]]) -> list[Check]:
    """The API checks of each workspace of the config, named for it when there are several."""
    sources = config.sources()
    if len(sources) == 1:
        return run(config)
    found = []
    for source in sources:
        mine = run(for_workspace(config, source, config.crawl.concurrency))
        found += [replace(c, name=f"{c.name} ({source.slug})") for c in mine]
    return found


def folder_checks(out: Path, workspace: str | None) -> list[Check]:
    checks = []
    try:
        folders.check_writable(out)
        if out.is_dir():  # permissions can say yes where the file system says no (root, ACLs)
            tempfile.TemporaryFile(dir=out).close()
    except ConfigError as exc:
        return [Check("out", "fail", str(exc), "choose another --out or fix its permissions")]
    except OSError as exc:
        return [Check("out", "fail", f"{out} refuses a new file: {exc.strerror}",
                      "choose another --out or fix its permissions")]
    marker = ownership.read_marker(out) if out.is_dir() else None
    if marker is not None and workspace is not None and workspace not in marker.owners:
        checks.append(Check("out", "warn", f"{out} holds workspace {', '.join(marker.owners)}"
                            f", not {workspace!r}", "use another --out, or export them "
                            "together once (--workspace for each)"))
    elif marker is None and out.is_dir() and any(out.iterdir()):
        checks.append(Check("out", "warn", f"{out} is not empty and was not made by evals-etl",
                            "an export refuses a folder with other files: use an empty one"))
    else:
        checks.append(Check("out", "ok", f"{out} is writable" + (
            "" if out.exists() else " (it will be created)")))
    checks.append(_disk(out))
    checks.append(_database(out))
    return checks


def _disk(out: Path) -> Check:
    free = folders.free_bytes(out)
    snapshot = publish.current_snapshot(out) if out.is_dir() else None
    size = _size(snapshot) if snapshot is not None else 0
    said = f"{free / 2**30:.1f} GiB free" + (f"; a snapshot takes {size / 2**20:.0f} MiB"
                                              if size else "")
    if size and free < 1.2 * size:
        return Check("disk", "fail", said, "the next publish needs room for one more "
                     "snapshot: free space or lower output.keep")
    if free < LOW_DISK or (size and free < 3 * size):
        return Check("disk", "warn", said, "little room left: free space or lower output.keep")
    return Check("disk", "ok", said)


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.lstat(os.path.join(root, name)).st_size for name in files)
    return total


def _database(out: Path) -> Check:
    snapshot = publish.find_current(out) if out.is_dir() else None
    if snapshot is None:
        return Check("database", "ok", "nothing published yet")
    db = out / "evals.duckdb"
    if views.shows(db, snapshot / "tables"):
        return Check("database", "ok", f"{db}: {len(views.view_names(db))} views over "
                     f"snapshot {snapshot.name}")
    return Check("database", "warn", f"{db} does not show snapshot {snapshot.name} (missing, "
                 "moved, or built by another version)", f"evals-etl views --out {out}")


def warehouse_check(uri: str, schema: str) -> Check:
    from etl.warehouse.probe import probe

    try:
        state, detail = probe(uri, schema)
    except EtlError as exc:
        lake = uri.startswith("iceberg")
        return Check("warehouse", "fail", str(exc), "check the URI, the catalog and the bucket, "
                     "and the credentials (the AWS chain, or the URI's file)" if lake else
                     "check the URI, the server and the credentials (PGPASSWORD, ~/.pgpass)")
    return Check("warehouse", state, detail)  # type: ignore[arg-type]
