"""The one shape of a service's Kafka handler: claim → command → release rejected → wake.

A batch is applied in one transaction. The inbox claims of its events come first (events seen
before, and the same event twice in a batch, are not given to the command again); the command
applies the fresh events and says which it refuses and whether anything changed; the claims of
refused events are released, so that a redelivery is judged again rather than silently dropped
(refused events go to the topic's dead-letter topic, see :mod:`suishin.kit.consumer`). After the
commit the handler wakes what publishes the changes (the outbox relay, or a dispatcher).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import asyncpg

from suishin.contracts.events import Envelope, Payload
from suishin.kit.consumer import Rejection
from suishin.kit.inbox import claim_many, release

if TYPE_CHECKING:
    from suishin.kit.service import ServiceRuntime

__all__ = ["Command", "InboxHandler", "Outcome", "relay_waker"]

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did with a batch: the events it refuses, whether it changed anything
    (then the handler wakes the publisher), and how many events it applied."""

    rejections: Sequence[Rejection] = ()
    changed: bool = False
    applied: int = 0


Command = Callable[[asyncpg.Connection, list[Envelope[P]]], Awaitable[Outcome]]


class InboxHandler(Generic[P]):
    """A consumer's handler (see :data:`suishin.kit.consumer.Handler`) around ``command``.

    ``pool`` gives the service's pool (it exists once the runtime has started); ``wake`` is
    called after a commit that changed something; ``committed`` (optional) sees every committed
    outcome, e.g. for a counter."""

    def __init__(
        self,
        consumer: str,
        pool: Callable[[], asyncpg.Pool],
        command: Command[P],
        *,
        wake: Callable[[], None] | None = None,
        committed: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.pool = pool
        self.command = command
        self.wake = wake
        self.committed = committed

    async def __call__(self, events: list[Envelope[P]]) -> Sequence[Rejection]:
        async with self.pool().acquire() as conn, conn.transaction():
            claimed = await claim_many(conn, self.consumer, [e.event_id for e in events])
            fresh: list[Envelope[P]] = []
            for event in events:
                if event.event_id in claimed:
                    claimed.discard(event.event_id)  # the same event twice in one batch
                    fresh.append(event)
            outcome = await self.command(conn, fresh) if fresh else Outcome()
            refused = [r.event.event_id for r in outcome.rejections]
            if refused:
                await release(conn, self.consumer, refused)
        if outcome.changed and self.wake is not None:
            self.wake()
        if self.committed is not None:
            self.committed(outcome)
        return outcome.rejections


def relay_waker(runtime: ServiceRuntime) -> Callable[[], None]:
    """Wake ``runtime``'s outbox relay (when it runs one)."""

    def wake() -> None:
        if runtime.relay is not None:
            runtime.relay.wake()

    return wake
