"""Kafka-fed hub for GraphQL subscriptions.

Every gateway replica must push every event to the clients connected to it, so the hub joins no
consumer group: it assigns itself all partitions of the topics it needs and starts from the end
(live events only; a client reconnecting re-reads its inbox with ``myInbox``). No group also
means no join delay and nothing to clean up when a replica goes away.

When the broker loses its log (the memory-only embedded broker restarting), the hub's positions
point past the end of the new, empty log; tansu then answers with nothing rather than an error.
The hub notices a position beyond the high watermark and reads the new log from its beginning,
so the live events sent since the restart still reach their subscribers. Outboxes publish their
recent events again after such a loss, so the hub skips events it has already pushed (recent
event ids) and, after a loss, republished events older than ``REPLAY_MAX_AGE``.

Subscribers register a filter (tenant, recipient, indicator, ...) and get a bounded queue; a
subscriber that falls too far behind is ended with ``SUBSCRIPTION_LAGGING`` rather than slowing
the hub or silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, TopicPartition

from suishin.contracts import topics
from suishin.contracts.events import Envelope, EventRejected, parse_event
from suishin.gateway import errors
from suishin.gateway.settings import GatewaySettings
from suishin.kit import tracing
from suishin.kit.broker import ensure_topics, kafka_client_options
from suishin.kit.brokerwatch import rewind_out_of_range
from suishin.kit.fetchwait import FetchWait
from suishin.kit.metrics import LIVE_PUSHES
from suishin.kit.signing import record_is_signed
from suishin.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECENT_IDS = 10_000
REPLAY_MAX_AGE = timedelta(minutes=10)
RANGE_CHECK_SECONDS = 2.0

LIVE_TOPICS = (topics.NOTIFICATION_DELIVERED, topics.INDICATOR_STATUS_CHANGED)

EventFilter = Callable[[Envelope[Any]], bool]


class SubscriptionLagging(Exception):
    """The subscriber's queue overflowed; it must re-sync and subscribe again."""


_END = object()


@dataclass(eq=False)
class Subscriber:
    event_type: str
    accepts: EventFilter
    queue: asyncio.Queue[Any]
    lagging: bool = False

    def offer(self, event: Envelope[Any]) -> None:
        if self.lagging:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagging = True
            # Make room for the end marker so the reader wakes up and stops.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(_END)


@dataclass
class LiveHub:
    settings: GatewaySettings
    subscribers: set[Subscriber] = field(default_factory=set)
    received: int = 0
    delivered: int = 0
    rejected: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None
    _recent: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    _rewound_at: datetime | None = None
    fetch_wait: FetchWait = field(init=False)

    def __post_init__(self) -> None:
        # short fetch waits while events flow, long ones when quiet (kit.fetchwait): on the
        # embedded broker the wait is the live push's latency
        self.fetch_wait = FetchWait(
            lambda: self._consumer,
            quick_ms=self.settings.consumer_quick_fetch_wait_ms,
            idle_ms=self.settings.consumer_idle_fetch_wait_ms,
        )

    @property
    def topic_names(self) -> dict[str, str]:
        """Prefixed topic name → event type."""
        return {self.settings.topic(t): t for t in LIVE_TOPICS}

    async def start(self) -> None:
        names = list(self.topic_names)
        options = kafka_client_options(self.settings)
        await ensure_topics(self.settings.kafka_bootstrap, names, client_options=options)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            **options,
            client_id=f"suishin-gateway-{self.settings.instance_id}",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self.settings.consumer_idle_fetch_wait_ms,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = [
                TopicPartition(name, p)
                for name in names
                for p in sorted(await _partitions_for(consumer, name))
            ]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:  # resolve the end offsets now: later events are all seen
                await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            self._consumer = None
            raise
        self._task = asyncio.create_task(self._run(), name="gateway-live-hub")
        self.ready.set()
        log.info("live hub started", extra={"partitions": len(partitions)})

    async def stop(self) -> None:
        self.ready.clear()
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            self._consumer = None
        for subscriber in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(_END)

    async def _run(self) -> None:
        assert self._consumer is not None
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            if loop.time() - checked > RANGE_CHECK_SECONDS:
                checked = loop.time()
                with contextlib.suppress(Exception):
                    if await rewind_out_of_range(self._consumer):
                        self._rewound_at = datetime.now(UTC)
            self.fetch_wait.tick()
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live hub poll failed; retrying")
                await asyncio.sleep(1)
                continue
            if batches:
                self.fetch_wait.saw_records()
            for records in batches.values():
                for record in records:
                    if record_is_signed(self.settings.internal_key, record.value, record.headers):
                        self.dispatch(record.value)
                    else:  # not published by a service (forged): never pushed to anyone
                        self.received += 1
                        self.rejected += 1

    def dispatch(self, raw: bytes | None) -> int:
        """Offer one Kafka message to the subscribers that accept it; returns how many did."""
        self.received += 1
        if raw is None:
            self.rejected += 1
            return 0
        try:
            event = parse_event(raw)
        except EventRejected as rejected:
            self.rejected += 1
            log.debug("live event skipped", extra={"reason": rejected.reason})
            return 0
        if self._seen(event):
            return 0
        count = 0
        with tracing.received(
            event,
            f"{event.event_type} live push",
            **{"messaging.system": "kafka", "messaging.operation.type": "process"},
        ):
            for subscriber in list(self.subscribers):
                if subscriber.event_type != event.event_type:
                    continue
                try:
                    accepted = subscriber.accepts(event)
                except Exception:
                    log.exception("subscription filter failed")
                    accepted = False
                if accepted:
                    subscriber.offer(event)
                    count += 1
        self.delivered += count
        if count:
            LIVE_PUSHES.labels(event.event_type).inc(count)
        return count

    def _seen(self, event: Envelope[Any]) -> bool:
        """Whether ``event`` is a republished one the hub must not push (again)."""
        if event.event_id in self._recent:
            return True
        self._recent[event.event_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        return (
            self._rewound_at is not None and event.occurred_at < self._rewound_at - REPLAY_MAX_AGE
        )

    async def events(
        self, event_type: str, accepts: EventFilter, *, until: float | None = None
    ) -> AsyncIterator[Envelope[Any]]:
        """The events of ``event_type`` that ``accepts`` lets through, from now on.

        ``until`` is when the subscriber's token expires (Unix time): the subscription then ends
        with ``TOKEN_EXPIRED``, so a client must sign in again to keep receiving."""
        subscriber = Subscriber(
            event_type, accepts, asyncio.Queue(maxsize=self.settings.live_queue_size)
        )
        self.subscribers.add(subscriber)
        try:
            while True:
                try:
                    async with asyncio.timeout(None if until is None else until - time.time()):
                        item = await subscriber.queue.get()
                except TimeoutError:
                    raise token_expired() from None
                if item is _END:
                    if subscriber.lagging:
                        raise errors.gateway_error(
                            "SUBSCRIPTION_LAGGING",
                            "通知が多すぎて配信が追いつきません。再取得してから購読し直してください",
                            "Too many events for this subscriber; re-read and subscribe again",
                        )
                    return
                yield item
        finally:
            self.subscribers.discard(subscriber)


def token_expired() -> Exception:
    return errors.gateway_error(
        "TOKEN_EXPIRED",
        "トークンの有効期限が切れたため配信を終了しました。再度サインインして購読してください",
        "The token expired, so the subscription ended; sign in again and subscribe again",
    )


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"topic {topic} has no partitions")
