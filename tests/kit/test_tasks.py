"""kit.tasks: a stop ends even when a task swallows its cancellation."""

import asyncio
import contextlib
import logging

import pytest

from suishin.kit.tasks import cancel_and_wait


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        # what Python 3.11's wait_for does when the cancellation meets a finished inner await
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        swallowed.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="suishin.kit.tasks"):
        async with asyncio.timeout(10):
            await cancel_and_wait([task], grace=0.05)
    assert swallowed.is_set()
    assert task.cancelled()
    assert any(getattr(r, "task", None) == "stubborn" for r in caplog.records)


async def test_tasks_that_end_or_failed_are_awaited_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails() -> None:
        raise RuntimeError("broken")

    failed = asyncio.create_task(fails())
    sleeping = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    assert failed.done()
    with caplog.at_level(logging.WARNING, logger="suishin.kit.tasks"):
        await cancel_and_wait([failed, sleeping], grace=5)
    assert sleeping.cancelled()
    assert not caplog.records
