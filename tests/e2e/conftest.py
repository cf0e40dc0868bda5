"""Fixtures the end-to-end modules share."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.demo import run_demo


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's output folder (``etl.demo.run_demo``: seed 7), built once per session.

    Tests may add to ``state/`` (``check --since-last``) but must not change the dataset.
    """
    out = tmp_path_factory.mktemp("demo") / "out"
    assert run_demo(out) == 0
    return out
