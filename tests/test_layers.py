"""The dependency rules of docs/ARCHITECTURE.md, stated as data and checked by reading imports.

Every module of ``etl/`` belongs to a room (its folder, or its own name at the top). A room may
import only the rooms listed for it, an I/O library only where it is listed, and no room may
close an import circle. Imports under ``if TYPE_CHECKING:`` are types, not dependencies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "etl"

# The shared values every room may use: errors, the panel vocabulary and the schema module.
VALUES = {"etl", "errors", "panels", "schemas", "timestamps", "redact"}
ROOMS: dict[str, set[str]] = {  # room -> the rooms it may import (besides itself)
    "errors": set(),
    "panels": set(),
    "schemas": {"panels"},
    "timestamps": set(),
    "redact": set(),
    "crashpoints": set(),  # the test hook that kills a run at a named step
    "duckpath": set(),  # how a path is spelled so DuckDB reads that file (glob escaping)
    "config": {"errors"},
    "progress": {"redact"},
    "interrupts": set(),
    "folders": {"errors"},
    "health": set(),
    "pings": {"redact"},
    "history": VALUES | {"metrics"},
    "metrics": set(),
    "normalize": VALUES,
    "crawl": VALUES | {"config", "normalize", "crashpoints"},
    "store": VALUES | {"crashpoints", "duckpath"},
    "views": {"errors", "duckpath", "schemas", "tabular"},
    "tabular": set(),  # pure: query results as a text table, CSV or JSON lines
    # warehouse reads sql/ through views.sql_files to create the marts there too
    "warehouse": VALUES | {"store", "crashpoints", "views"},
    "tables_doc": VALUES,
    "staging": VALUES | {"crawl", "normalize", "store"},
    "outcomes": VALUES | {"config", "crawl", "normalize"},
    "export": VALUES | {"config", "crawl", "interrupts", "normalize", "outcomes", "progress",
                        "staging",
                        "store", "views"},
    "replay": VALUES | {"config", "crawl", "export", "normalize", "progress", "store", "views"},
    "demo": VALUES | {"config", "export", "history", "progress", "report", "simulator", "views"},
    "doctor": VALUES | {"config", "crawl", "folders", "store", "views", "warehouse"},
    "cli": VALUES | {"check", "config", "demo", "doctor", "export", "folders", "health",
                     "history", "interrupts", "metrics", "pings", "progress", "replay", "report",
                     "simulator", "store", "tables_doc", "tabular", "views", "warehouse"},
    # The HTML report reads the published views (read-only), never the crawl or the store.
    "report": VALUES | {"views"},
    # `check`: regression rules over the views (read-only); its webhook goes through crawl/http.
    "check": VALUES | {"views", "crawl"},
    "simulator": set(),  # the fake API knows nothing of the exporter it stands in for
    "__main__": {"cli"},
}
PURE_ROOMS = {"errors", "panels", "schemas", "timestamps", "redact", "normalize", "duckpath",
              "tabular",
              "health"}
PURE_MODULES = {"crawl/plan.py", "crawl/ledger.py", "crawl/retry.py", "crawl/pager.py",
                "simulator/workspace.py", "simulator/common.py", "simulator/metrics.py",
                "simulator/images.py", "simulator/truth.py", "report/model.py",
                "report/figures.py", "report/pages.py", "report/eval_charts.py",
                "report/image_charts.py", "report/workspace_charts.py"}
LIBRARIES: dict[str, set[str]] = {  # I/O library -> the only modules that may import it
    "aiohttp": {"crawl/http.py", "crawl/body.py"},  # the client (body.py: reading a body)
    "aiohttp.web": {"simulator/app.py", "simulator/faults.py", "simulator/server.py"},
    "duckdb": {"views.py", "store/merge.py", "warehouse/dataset.py", "warehouse/target.py",
               "warehouse/iceberg.py",
               "report/data.py"},
    "adbc_driver_manager": {"warehouse/load.py"},
    "adbc_driver_postgresql": set(),  # loaded by name from the dialect, never imported
    "pyarrow.parquet": {"store/archive.py", "store/journal.py", "store/snapshots.py",
                        "store/snapfiles.py", "store/repair.py", "store/merge.py", "store/publish.py",
                        "store/writer.py"},
    "socket": {"store/runlock.py"},  # the hostname, for the lock's message
    "requests": set(),
    # Iceberg: the catalog, the load, the run manifest and doctor's probe (etl.warehouse.iceberg*)
    "pyiceberg": {"warehouse/iceberg.py", "warehouse/iceberg_catalog.py",
                  "warehouse/iceberg_manifest.py", "warehouse/iceberg_probe.py"},
    "sqlglot": {"warehouse/transpile.py"},  # the views' SQL into a warehouse's dialect
    "urllib.request": {"pings.py"},  # a monitoring ping is one small POST, not the crawl
}
ENVIRONMENT_READERS = {"config.py", "crashpoints.py", "simulator/cli.py",
                       "check/rules.py",  # the webhook URL's variable, named by the rules file
                       "__init__.py"}  # Arrow's allocator, chosen before pyarrow is imported


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def room(module: str) -> str:
    """``crawl/http.py`` -> ``crawl``; ``cli.py`` -> ``cli``; ``__init__.py`` -> ``etl``."""
    head = module.split("/")[0].removesuffix(".py")
    return "etl" if head == "__init__" else head


def etl_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for stmt in node.orelse for n in [stmt, *_runtime_nodes(stmt)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports(path: Path) -> set[str]:
    """Dotted names imported at run time; ``from a import b`` gives ``a`` and ``a.b``."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def etl_targets(path: Path) -> set[str]:
    """The etl modules ``path`` imports, as paths relative to the package (``crawl/http.py``)."""
    found = set()
    for name in imports(path):
        if name != "etl" and not name.startswith("etl."):
            continue
        parts = name.split(".")[1:]
        for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
            if (PACKAGE / candidate).is_file():
                found.add(candidate)
                break
        else:
            if not parts:
                found.add("__init__.py")
    return found


def uses(path: Path, library: str) -> bool:
    return any(n == library or n.startswith(library + ".") for n in imports(path))


def test_every_module_has_a_room() -> None:
    homeless = {rel(p) for p in etl_modules()} - {
        m for m in (rel(p) for p in etl_modules()) if room(m) in ROOMS or room(m) == "etl"}
    assert not homeless, f"add these to ROOMS: {sorted(homeless)}"


@pytest.mark.parametrize("path", etl_modules(), ids=rel)
def test_a_room_imports_only_the_rooms_it_may(path: Path) -> None:
    mine = room(rel(path))
    allowed = {mine, "etl"} | ROOMS.get(mine, set())
    wrong = sorted(t for t in etl_targets(path) if room(t) not in allowed)
    assert not wrong, f"{rel(path)} ({mine}) may not import {wrong}"


@pytest.mark.parametrize("path", [p for p in etl_modules() if room(rel(p)) in PURE_ROOMS
                                  or rel(p) in PURE_MODULES], ids=rel)
def test_pure_modules_import_no_io_library(path: Path) -> None:
    io = {"aiohttp", "anyio", "duckdb", "socket", "asyncio", "adbc_driver_manager",
          "pyarrow.parquet", "pyarrow.dataset", "urllib.request", "requests", "os", "shutil"}
    found = sorted(lib for lib in io if uses(path, lib))
    assert not found, f"{rel(path)} is pure but imports {found}"


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_io_libraries_stay_in_their_modules(library: str) -> None:
    def offends(p: Path) -> bool:
        if library != "aiohttp":
            return uses(p, library)
        # The client is aiohttp minus its server half (``from aiohttp import web``).
        names = imports(p)
        server = any(n.startswith("aiohttp.web") for n in names)
        return ("aiohttp" in names and not server) or any(
            n.startswith("aiohttp.") and not n.startswith("aiohttp.web") for n in names)

    offenders = sorted(rel(p) for p in etl_modules() if offends(p)
                       and rel(p) not in LIBRARIES[library])
    assert not offenders, f"{library} may be imported only by {sorted(LIBRARIES[library])}"


def test_only_the_config_readers_read_the_environment() -> None:
    offenders = sorted(rel(p) for p in etl_modules()
                       if ("os.environ" in p.read_text() or "getenv(" in p.read_text())
                       and rel(p) not in ENVIRONMENT_READERS)
    assert not offenders


def test_storage_knows_nothing_of_normalizers_views_or_the_crawl() -> None:
    # Said by ROOMS already; stated once more because it is the rule most tempting to break.
    for path in PACKAGE.glob("store/*.py"):
        assert not {room(t) for t in etl_targets(path)} & {"normalize", "views", "crawl"}, rel(path)


def import_graph() -> dict[str, set[str]]:
    return {rel(p): {t for t in etl_targets(p) if t != rel(p)} for p in etl_modules()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_there_is_no_import_circle() -> None:
    # A package's __init__ re-exporting its modules is not a circle of its own modules.
    graph = {m: {t for t in ts if not (t.endswith("__init__.py") and m.startswith(
        t.removesuffix("__init__.py")))} for m, ts in import_graph().items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_rules_catch_a_storage_module_importing_normalize(tmp_path: Path) -> None:
    bad = PACKAGE / "store" / "_layer_probe.py"
    bad.write_text("from etl.normalize import PANELS\n")
    try:
        wrong = [t for t in etl_targets(bad) if room(t) not in {"store", "etl"} | ROOMS["store"]]
    finally:
        bad.unlink()
    assert wrong == ["normalize/__init__.py"]
