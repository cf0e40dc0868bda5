"""A published dataset to build report pages from (see tests/support/report_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.report_data import make_dataset


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published output folder (read it only: it is shared by the session's tests)."""
    return make_dataset(tmp_path_factory.mktemp("report-data") / "out")
