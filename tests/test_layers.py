"""The dependency rules of docs/ARCHITECTURE.md, checked by reading imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "etl"
PURE = ["errors.py", "panels.py", "schemas.py", "plan.py", "ledger.py",
        "normalize/*.py", "simulator/workspace.py", "simulator/common.py",
        "simulator/metrics.py", "simulator/images.py", "simulator/truth.py"]
IO_LIBRARIES = {"aiohttp", "duckdb", "adbc_driver_manager", "adbc_driver_postgresql", "socket",
                "requests", "urllib", "pyarrow.parquet"}
ONLY = {  # library -> the modules that may import it
    "duckdb": {"views.py", "publish.py", "merge.py", "warehouse.py"},
    "adbc_driver_postgresql": {"warehouse.py"},
    "adbc_driver_manager": {"warehouse.py"},
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(pattern: str) -> list[Path]:
    return sorted(PACKAGE.glob(pattern))


@pytest.mark.parametrize("path", [p for pat in PURE for p in modules(pat)], ids=str)
def test_pure_modules_import_no_io_library(path: Path) -> None:
    found = {name for name in imports(path) if name in IO_LIBRARIES or name.split(".")[0] in
             {"aiohttp", "duckdb"}}
    assert not found, f"{path.relative_to(PACKAGE)} is pure but imports {found}"


@pytest.mark.parametrize("library", sorted(ONLY))
def test_io_libraries_stay_in_their_module(library: str) -> None:
    offenders = [
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
        if any(n == library or n.startswith(library + ".") for n in imports(p))
        and str(p.relative_to(PACKAGE)) not in ONLY[library]
    ]
    assert not offenders


def test_only_http_imports_the_aiohttp_client() -> None:
    offenders = []
    for p in PACKAGE.rglob("*.py"):
        rel = str(p.relative_to(PACKAGE))
        if rel.startswith("simulator/") or rel == "http.py":
            continue
        if any(n == "aiohttp" or n.startswith("aiohttp.") for n in imports(p)):
            offenders.append(rel)
    assert not offenders


def test_only_config_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
        if "os.environ" in p.read_text() and p.name not in ("config.py", "crashpoints.py")
        and not str(p.relative_to(PACKAGE)).startswith("simulator/")
    ]
    assert not offenders
