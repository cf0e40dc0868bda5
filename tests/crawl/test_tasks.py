"""The crawl's task groups surface a child's typed error as itself, not as an ExceptionGroup."""

from __future__ import annotations

import anyio
import pytest

from etl.crawl.tasks import task_group
from etl.errors import AuthError, RetryBudgetExhausted


async def _fail(exc: Exception, delay: float = 0.0) -> None:
    await anyio.sleep(delay)
    raise exc


async def _wait_forever() -> None:
    await anyio.sleep(3600)


@pytest.mark.anyio
@pytest.mark.parametrize("error", [AuthError("ws/model-evals", status=401),
                                   RetryBudgetExhausted("ws/model-evals", status=503)])
async def test_the_first_failure_is_raised_unwrapped_and_siblings_cancelled(error: Exception) -> None:
    with anyio.fail_after(5), pytest.raises(type(error)) as caught:
        async with task_group() as tg:
            tg.start_soon(_wait_forever)
            tg.start_soon(_fail, error, 0.01)
            tg.start_soon(_fail, ValueError("later"), 1.0)
    assert caught.value is error


@pytest.mark.anyio
async def test_a_group_without_failures_returns_normally() -> None:
    done: list[int] = []

    async def work(i: int) -> None:
        done.append(i)

    async with task_group() as tg:
        for i in range(3):
            tg.start_soon(work, i)
    assert sorted(done) == [0, 1, 2]
