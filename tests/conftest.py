"""Suite-wide fixtures: the anyio backend, the ``--soak`` flag, the ``e2e`` tier and the simulator.

Tiers: everything under ``tests/e2e/`` (whole exports and the command line against the
simulator) is marked ``e2e`` here, by path; ``pytest -m "not e2e"`` is the fast tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from etl.simulator import SimHandle, SimOptions, serve_in_thread


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="also run long soaks and crash matrices")


E2E = Path(__file__).resolve().parent / "e2e"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects on the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def anyio_backend() -> str:
    # aiohttp runs only on asyncio.
    return "asyncio"


# -- the simulated Roboflow API ----------------------------------------------------------------


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    """A simulator with default options, served from its own thread and event loop."""
    with serve_in_thread(SimOptions()) as handle:
        yield handle


@pytest.fixture
def make_sim() -> Iterator[Callable[..., SimHandle]]:
    """``make_sim(**overrides)`` starts a simulator with those SimOptions; all stop at teardown."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> SimHandle:
            return stack.enter_context(serve_in_thread(replace(SimOptions(), **overrides)))

        yield start
