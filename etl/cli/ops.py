"""``doctor``, ``init`` and ``completion``: setting up and checking a machine before the first night."""

from __future__ import annotations

from etl.cli.common import Commands


def register(sub: Commands) -> None:
    pass
