"""How long a consumer's fetch waits at the broker: short while records flow, long when idle.

A fetch that finds nothing waits up to ``fetch_max_wait_ms`` at the broker. Real Kafka answers
as soon as a record arrives, but the embedded tansu broker answers an empty long poll only at
its deadline, so on a quiet topic the wait is latency: a record produced meanwhile is seen a
median of half the wait later. A short wait everywhere fixes the latency but makes every idle
consumer fetch many times a second (the broker and every service burn CPU with no traffic).

So each Kafka consumer (one per service, for all its topics: kit.consumer ``ConsumerGroup``)
fetches with a short wait (``quick_ms``) while it is receiving records on any of its topics, and
with a long one (``idle_ms``) once nothing came for ``quiet_after`` seconds. The first record
after a quiet spell waits for tansu's next look at the log (at 1/2, 3/4, 7/8, ... of the wait:
at most half of ``idle_ms``, about a sixth on average); the ones behind it are quick again.

Each fetch request costs tansu about log2(wait in ms) scans of every partition in the request,
so an idle consumer's cost at the broker is roughly that divided by the wait: 1 s costs about a
third of 250 ms. The idle wait could not be longer than 250 ms while readiness asked the broker
for end offsets (ListOffsets queues behind the long poll on the same connection); the lag is
now read from the high watermark of the last fetch response (kit.consumer
``BatchConsumer.lag``), and the committed offsets go to the group coordinator on a connection
of their own, so readiness does not wait for the poll. The service side of the wait is
FastStream's buffer poll, which no longer sleeps after an empty poll (kit.consumer.subscribe):
a record is handed over as soon as a fetch response brings it.

aiokafka reads the wait from its fetcher for every fetch request it builds; it has no public
setter, so :meth:`FetchWait.apply` sets the fetcher's attribute, and does nothing (the wait
given at construction stays) if a future aiokafka renames it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

QUICK_MS = 20
"""Fetch wait while records flow (tansu answers at this deadline when the topic is empty)."""
IDLE_MS = 1000
"""Fetch wait on a topic that has been quiet for ``QUIET_AFTER`` seconds (aiokafka's default is
500 ms); the latency of the first record after a quiet spell on tansu."""
QUIET_AFTER = 10.0
"""Seconds without a record after which a consumer is idle."""


class FetchWait:
    """The fetch wait of one Kafka consumer (an ``AIOKafkaConsumer`` or None before it
    started, as ``consumer()`` returns it)."""

    def __init__(
        self,
        consumer: Callable[[], Any],
        *,
        quick_ms: int = QUICK_MS,
        idle_ms: int = IDLE_MS,
        quiet_after: float = QUIET_AFTER,
    ) -> None:
        self._consumer = consumer
        self.quick_ms = quick_ms
        self.idle_ms = idle_ms
        self.quiet_after = quiet_after
        self.last_records = -float("inf")  # monotonic time records were last received
        self.current: int | None = None  # the wait last applied
        self._applied_to: int | None = None  # id() of the consumer it was applied to

    def saw_records(self) -> None:
        """Records arrived: fetch quickly from now on."""
        self.last_records = time.monotonic()
        if self.current != self.quick_ms or self._stale():
            self.apply(self.quick_ms)

    def tick(self) -> None:
        """Called periodically: switch to the long wait once the topic has been quiet."""
        quiet = time.monotonic() - self.last_records > self.quiet_after
        wanted = self.idle_ms if quiet else self.quick_ms
        if self.current != wanted or self._stale():
            self.apply(wanted)

    def apply(self, wait_ms: int) -> bool:
        consumer = self._consumer()
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
            return False
        fetcher._fetch_max_wait_ms = wait_ms
        self.current, self._applied_to = wait_ms, id(consumer)
        return True

    def _stale(self) -> bool:
        """The consumer was replaced (restarted) since the wait was applied."""
        return self._applied_to != id(self._consumer())


def current_wait_ms(consumer: Any) -> int | None:
    """The wait the consumer's next fetch request will carry (tests, diagnostics)."""
    fetcher = getattr(consumer, "_fetcher", None)
    wait = getattr(fetcher, "_fetch_max_wait_ms", None)
    return wait if isinstance(wait, int) else None


__all__ = ["IDLE_MS", "QUICK_MS", "QUIET_AFTER", "FetchWait", "current_wait_ms"]
