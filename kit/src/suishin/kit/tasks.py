"""Stopping background tasks so that a stop always ends.

A task can swallow its own cancellation: Python 3.11's ``asyncio.wait_for`` returns the inner
result instead of raising when the cancellation arrives just as the inner awaitable finishes
(fixed in 3.12), and libraries that suppress ``CancelledError`` around an inner task (aiokafka's
fetcher close, for one) do the same. Such a task goes on with its loop, and a stop that awaits it
hangs. This code uses ``asyncio.timeout`` instead of ``wait_for``; :func:`cancel_and_wait` also
cancels again a task that is still running after a grace period, so a swallowed cancellation in
a dependency cannot hang a service's shutdown either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
"""How long a cancelled task may take to end before it is cancelled again."""


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], grace: float = GRACE_SECONDS) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again every ``grace`` seconds a
    task that has not. Their exceptions are retrieved (and dropped): they are stopping."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for task in pending:
        task.cancel()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            log.warning(
                "a background task kept running after its cancellation; cancelling it again",
                extra={"task": task.get_name()},
            )
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.exception()
