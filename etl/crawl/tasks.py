"""A task group whose failure surfaces as the error itself, not as an ExceptionGroup.

The crawl's callers act on the type of what went wrong (an :class:`~etl.errors.AuthError`
ends the run with its own exit code, a spent retry budget stops it, a contract error names
its field); anyio wraps a child's exception in an ExceptionGroup, which would hide that type.
The first failure cancels the siblings and is re-raised unwrapped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup


@asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        raise _first(group) from None


def _first(group: BaseExceptionGroup) -> BaseException:
    # Cancellations are the siblings the failure stopped, not the failure.
    leaves = [e for e in _leaves(group) if not isinstance(e, anyio.get_cancelled_exc_class())]
    return (leaves or list(_leaves(group)))[0]


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found
