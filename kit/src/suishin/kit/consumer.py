"""Batch consumption that never stops on bad input.

A batch of Kafka records is parsed against the event catalogue; what fails validation goes to
the dead-letter topic with the reason in headers. The valid events go to the service's handler,
which applies them in one transaction together with the inbox claims (so duplicates change
nothing). The handler may reject single events (unknown indicator, another tenant's data, ...);
those are dead-lettered too. Transient failures (database or broker unavailable) are retried
with exponential backoff; a handler bug on one event is isolated by retrying the events one by
one, and only the event that still fails is dead-lettered. Offsets are committed by FastStream
after the batch returns.

No record can stop the consumer: bodies are parsed with bounds (size, nesting depth, numbers;
see :func:`suishin.contracts.events.parse_event`) before validation; a tombstone, a header
value that is not UTF-8 (``invalid_header``) or anything the parser did not foresee
(``unparseable``) is dead-lettered like the rest. FastStream's own parsing is given records
whose headers always decode and its JSON decoding is skipped (this module reads the raw
records), so nothing fails before this code sees the batch.

Each batch runs in one span that continues the trace of its events (kit.tracing), and what the
handler enqueues carries that trace and its cause. Batch time and records per topic are metrics
(kit.metrics); lag and progress are read at scrape time.

A service's consumers share one Kafka consumer and one consumer group (:class:`ConsumerGroup`):
a polled batch is split by topic, each topic's part goes to its :class:`BatchConsumer`, and a
part that fails is read again on its own. The group starts where the per-topic groups it
replaced had committed. Fetching is held while a batch is handled (:meth:`ConsumerGroup.hold`),
so the next batch brings everything that arrived meanwhile rather than a prefetched few.

Progress is tracked for readiness (:meth:`BatchConsumer.health`): a consumer with records
waiting (lag) that has been busy with one batch, or failing, for longer than ``stall_after``
seconds, or that has not started a batch since lag was first seen that long ago, is stalled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from suishin.contracts.events import Envelope, EventRejected, Payload, parse_event
from suishin.kit import tracing
from suishin.kit.deadletter import send_to_dead_letter
from suishin.kit.fetchwait import IDLE_MS, QUICK_MS, FetchWait
from suishin.kit.metrics import CONSUMER_BATCH_SECONDS, CONSUMER_RECORDS

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Rejection:
    """An event the handler refuses, with a stable reason code and a readable detail."""

    event: Envelope[Any]
    reason: str
    detail: str


Handler = Callable[[list[Envelope[P]]], Awaitable[Sequence[Rejection]]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
)


class BatchConsumer(Generic[P]):
    def __init__(
        self,
        *,
        name: str,
        broker: KafkaBroker,
        payload_type: type[P],
        handler: Handler[P],
        max_retries: int = 5,
        base_backoff: float = 0.2,
        stall_after: float = 30.0,
        authentic: Callable[[ConsumerRecord[Any, Any]], bool] | None = None,
        service: str = "",
        topic: str = "",
    ) -> None:
        self.name = name
        self.topic = topic  # lag counts this topic's partitions ("": every assigned one)
        self.service = service
        self._broker = broker
        self._payload_type = payload_type
        self._handler = handler
        self._max_retries = max_retries
        self._base_backoff = base_backoff
        self._authentic = authentic  # internal topics: is the record signed by a service?
        self.processed = 0
        self.dead_lettered = 0
        self.stall_after = stall_after
        self.subscriber: Any = None  # FastStream's subscriber (shared by the consumer group)
        self.last_progress = time.monotonic()  # a batch was applied (or nothing was waiting)
        self.busy_since: float | None = None  # a batch is being applied since
        self.failing_since: float | None = None  # batches fail (redelivered) since
        self._behind_since: float | None = None  # lag first seen without a batch started
        self._failures = 0
        # short fetch waits while records flow, long ones when the topic is quiet (fetchwait.py)
        self.fetch_wait = FetchWait(lambda: getattr(self.subscriber, "consumer", None))

    async def process(
        self, records: Sequence[ConsumerRecord[Any, Any]], *, pace: bool = True
    ) -> None:
        """Apply one batch of this consumer's topic. On failure the batch is read again: with
        ``pace``, after a growing pause here (:meth:`backoff`); without, the caller paces
        (:class:`ConsumerGroup` pauses the topic's partitions instead)."""
        self.busy_since = time.monotonic()
        self._behind_since = None
        if records:
            self.fetch_wait.saw_records()
        topic = records[0].topic if records else ""
        try:
            with CONSUMER_BATCH_SECONDS.labels(self.service, self.name, topic).time():
                await self._process(records)
        except Exception:
            self.failing_since = self.failing_since or time.monotonic()
            self._failures += 1
            # The batch is redelivered at once (nack): pace the attempts, so a failure that
            # persists is retried (and logged) a few times a minute, not in a tight loop.
            if pace:
                await asyncio.sleep(self.backoff())
            raise
        finally:
            self.busy_since = None
        self.failing_since = None
        self._failures = 0
        self.last_progress = time.monotonic()

    def backoff(self) -> float:
        """Seconds to wait before a failed batch is tried again (grows with the failures)."""
        return min(30.0, self._base_backoff * 2 ** min(self._failures, 8))

    async def _process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        valid: list[tuple[Envelope[P], ConsumerRecord[Any, Any]]] = []
        for record in records:
            if self._authentic is not None and not self._authentic(record):
                await self._dead_letter(
                    record, "unauthenticated_producer", "missing or invalid x-suishin-signature"
                )
                continue
            try:
                _check_headers(record)
                valid.append((parse_event(record.value, expect=self._payload_type), record))
            except EventRejected as rejected:
                await self._dead_letter(record, rejected.reason, rejected.detail)
            except Exception as exc:  # a parser bug must not stop the partition
                log.exception("unparseable record", extra={"consumer": self.name})
                await self._dead_letter(record, "unparseable", repr(exc))
        if valid:
            await self._apply(valid)
        self.processed += len(records)
        if records:
            CONSUMER_RECORDS.labels(self.service, self.name, records[0].topic).inc(len(records))

    async def lag(self) -> int | None:
        """Records waiting in the assigned partitions: end offsets minus committed offsets
        (the beginning when nothing was committed yet); None before the consumer started.

        The end of each partition is its high watermark as the consumer's last fetch response
        reported it (no request); only a partition not fetched yet is asked with ListOffsets,
        which on the embedded broker queues behind the consumer's long poll (kit.fetchwait).
        The committed offsets come from the group coordinator, on a connection of their own."""
        kafka = getattr(self.subscriber, "consumer", None)
        if kafka is None:
            return None
        partitions: list[TopicPartition] = sorted(
            tp for tp in kafka.assignment() if not self.topic or tp.topic == self.topic
        )
        if not partitions:
            return 0
        offsets = await asyncio.gather(*(kafka.committed(tp) for tp in partitions))
        committed = dict(zip(partitions, offsets, strict=True))
        ends: dict[TopicPartition, int] = {}
        for tp in partitions:
            highwater = kafka.highwater(tp)
            if highwater is not None:
                ends[tp] = highwater
        unknown = [tp for tp in partitions if tp not in ends]
        if unknown:
            ends.update(await kafka.end_offsets(unknown))
        # nothing committed yet: the group starts from the beginning (auto_offset_reset); an
        # empty partition needs no question
        never = [tp for tp, offset in committed.items() if offset is None and ends.get(tp, 0)]
        starts = await kafka.beginning_offsets(never) if never else {}
        return sum(
            max(0, ends.get(tp, 0) - (offset if offset is not None else starts.get(tp, 0)))
            for tp, offset in committed.items()
        )

    async def health(self) -> dict[str, Any]:
        """Lag and progress; ``stalled`` names why when records wait and nothing moves."""
        now = time.monotonic()
        lag: int | None
        try:
            async with asyncio.timeout(5.0):
                lag = await self.lag()
        except Exception:
            lag = None
        stalled: str | None = None
        if lag:
            if self.failing_since is not None and now - self.failing_since > self.stall_after:
                stalled = f"batches have been failing for {now - self.failing_since:.0f}s"
            elif self.busy_since is not None and now - self.busy_since > self.stall_after:
                stalled = f"one batch is being applied for {now - self.busy_since:.0f}s"
            elif self.busy_since is None:
                self._behind_since = self._behind_since or now
                if now - max(self._behind_since, self.last_progress) > self.stall_after:
                    stalled = f"no batch taken for {now - self.last_progress:.0f}s"
        else:
            self._behind_since = None
        return {
            "lag": lag,
            "seconds_since_progress": round(now - self.last_progress, 1),
            "stalled": stalled,
        }

    async def _apply(self, batch: list[tuple[Envelope[P], ConsumerRecord[Any, Any]]]) -> None:
        attempt = 0
        while True:
            events = [event for event, _ in batch]
            try:
                # a span per handler call, continuing the events' trace (kit.tracing)
                with tracing.handling(batch[0][1].topic, self.name, events):
                    rejections = await self._handler(events)
            except TRANSIENT_ERRORS as exc:
                attempt += 1
                if attempt > self._max_retries:
                    raise  # FastStream nacks: the batch is redelivered, nothing is lost
                delay = self._base_backoff * 2 ** (attempt - 1)
                log.warning(
                    "transient failure; retrying",
                    extra={"consumer": self.name, "attempt": attempt, "error": repr(exc)},
                )
                await asyncio.sleep(delay)
                continue
            except Exception as exc:
                if len(batch) == 1:
                    _, record = batch[0]
                    log.exception("handler failed", extra={"consumer": self.name})
                    await self._dead_letter(record, "handler_error", repr(exc))
                    return
                for one in batch:  # isolate the event that fails
                    await self._apply([one])
                return
            by_id = {event.event_id: record for event, record in batch}
            for rejection in rejections:
                await self._dead_letter(
                    by_id[rejection.event.event_id], rejection.reason, rejection.detail
                )
            return

    async def _dead_letter(
        self, record: ConsumerRecord[Any, Any], reason: str, detail: str
    ) -> None:
        self.dead_lettered += 1
        await send_to_dead_letter(
            self._broker,
            topic=record.topic,
            body=record.value if isinstance(record.value, bytes | None) else bytes(record.value),
            key=record.key,
            consumer=self.name,
            reason=reason,
            detail=detail,
            partition=record.partition,
            offset=record.offset,
            traceparent=_header(record, tracing.TRACEPARENT_HEADER),
        )


def _header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and isinstance(value, bytes) and value.isascii():
            return value.decode()
    return None


def _check_headers(record: ConsumerRecord[Any, Any]) -> None:
    for name, value in record.headers or ():
        if isinstance(value, bytes):
            try:
                value.decode()
            except UnicodeDecodeError as exc:
                raise EventRejected(
                    "invalid_header", f"header {name!r} is not UTF-8: {exc.reason}"
                ) from exc


def _decodable(record: ConsumerRecord[Any, Any]) -> ConsumerRecord[Any, Any]:
    headers = record.headers or ()
    if all(not isinstance(v, bytes) or v.isascii() for _, v in headers):
        return record
    safe = tuple((k, v.decode(errors="replace").encode()) for k, v in headers)
    return dataclasses.replace(record, headers=safe)


async def _parse_batch(
    raw: tuple[ConsumerRecord[Any, Any], ...] | ConsumerRecord[Any, Any],
    original: Callable[[Any], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream's batch parser, given copies whose headers always decode; the message keeps
    the records as received."""
    records = raw if isinstance(raw, tuple) else (raw,)
    message = await original(tuple(_decodable(r) for r in records))
    message.raw_message = raw
    return message


async def _raw_records(message: KafkaMessage) -> tuple[ConsumerRecord[Any, Any], ...]:
    """The handler's body: the batch's records as received (FastStream's unbounded JSON
    decoding is skipped; each consumer parses with bounds)."""
    raw = message.raw_message
    return raw if isinstance(raw, tuple) else (raw,)


POLL_MS = 1000
"""How long one poll of a consumer's buffer waits for records when there are none (it returns
as soon as records arrive; see :func:`_poll_without_sleep`)."""


Offsets = Callable[
    [dict[str, list[TopicPartition]]], Awaitable[dict[str, dict[TopicPartition, int]]]
]
"""Reads committed offsets: {group: partitions} to {group: {partition: offset}}, leaving out the
partitions a group has committed nothing for (:func:`committed_offsets`)."""


class ConsumerGroup:
    """The consumers of one service: one FastStream subscriber (one aiokafka consumer, one
    consumer group) subscribed to all their topics.

    A Kafka consumer costs a fetch a second and a heartbeat every few seconds in the service
    and as much at the broker, idle or not; one per service instead of one per topic
    (issue 16). A polled batch is split by topic and each topic's records go to that topic's
    :class:`BatchConsumer` (its payload type, signature check, dead letters, retries and
    health figures stay its own); the topics' parts are applied concurrently, each
    partition's records in order. A part that fails is read again from its earliest record
    after the consumer's backoff, with its partitions paused meanwhile (:meth:`process`); the
    other topics' records are committed and not handed over again.

    ``previous`` names, per topic, the group that consumed it before (one group per topic, as
    services did until issue 16): on assignment, a partition this group has committed nothing
    for starts at that group's committed offset (:class:`_CarryOver`), so an upgraded
    deployment does not read the whole history again."""

    def __init__(
        self,
        consumers: dict[str, BatchConsumer[Any]],
        *,
        group_id: str,
        previous: dict[str, str] | None = None,
        offsets: Offsets | None = None,
    ) -> None:
        self.consumers = consumers
        self.group_id = group_id
        self.previous = previous or {}
        self.offsets = offsets
        self.subscriber: Any = None
        self.fetch_wait = FetchWait(self.kafka)
        self._resumes: set[asyncio.TimerHandle] = set()
        self._held: set[TopicPartition] = set()
        self._held_on: Any = None  # the consumer ``_held`` was paused on

    def kafka(self) -> Any:
        """The live AIOKafkaConsumer (None before the subscriber started)."""
        return getattr(self.subscriber, "consumer", None)

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Hand each topic's records of one polled batch to its consumer, all at once; a
        topic's part that fails is read again (:meth:`_read_again`), the rest is committed
        when this returns. Raises only what no part caught (FastStream then nacks the whole
        batch: every partition is read again, and the inbox dedups what was applied)."""
        if not records:
            return
        work: list[tuple[BatchConsumer[Any], list[ConsumerRecord[Any, Any]]]] = []
        by_topic: dict[str, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:  # a partition's records keep their order
            by_topic.setdefault(record.topic, []).append(record)
        for topic, part in by_topic.items():
            consumer = self.consumers.get(topic)
            if consumer is None:  # only subscribed topics are fetched
                log.error("records of a topic without a consumer", extra={"topic": topic})
            else:
                work.append((consumer, part))
        results = await asyncio.gather(
            *(c.process(part, pace=False) for c, part in work), return_exceptions=True
        )
        failed: list[tuple[BatchConsumer[Any], list[ConsumerRecord[Any, Any]]]] = []
        for (consumer, part), result in zip(work, results, strict=True):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                log.error(
                    "batch failed; its records are read again",
                    exc_info=result,
                    extra={"consumer": consumer.name, "records": len(part)},
                )
                failed.append((consumer, part))
        for consumer, part in failed:
            self._read_again(part, consumer.backoff())

    def hold(self, kafka: Any) -> None:
        """Stop fetching while a polled batch is handled (called as the poll returns it).

        aiokafka fetches a partition again as soon as its buffered records are taken, so while
        a batch is handled the next fetch has already come back with the few records that
        arrived in the meantime, and what arrives later waits for the batch after that: on a
        busy topic a record waited one to two batch times before its batch began. Paused, the
        partitions are fetched when the batch is done (:meth:`release`) and the next batch
        brings everything that arrived while this one was handled: half a batch time on
        average (issue 16, sixth round). Partitions paused for another reason (a failed part's
        backoff, the carry-over of offsets) are left to their owner. Not for a full batch (the
        consumer is behind: see :func:`_poll_without_sleep`)."""
        paused = kafka.paused()
        self._held = {tp for tp in kafka.assignment() if tp not in paused}
        self._held_on = kafka
        if self._held:
            kafka.pause(*self._held)

    def release(self) -> None:
        """Fetch the partitions :meth:`hold` paused (still assigned to the same consumer)."""
        held, kafka = self._held, self._held_on
        self._held, self._held_on = set(), None
        if held and kafka is not None and kafka is self.kafka():
            assigned = kafka.assignment()
            kafka.resume(*(tp for tp in held if tp in assigned))

    def held_revoked(self) -> None:
        """The partitions were revoked (a rebalance): the hold has nothing left to resume."""
        self._held, self._held_on = set(), None

    def _read_again(self, records: Sequence[ConsumerRecord[Any, Any]], after: float) -> None:
        """Seek each partition of ``records`` back to its earliest record (the position the
        batch's commit records) and pause it for ``after`` seconds."""
        kafka = self.kafka()
        if kafka is None:  # not while a batch is handled; never commit past the records
            raise RuntimeError("the consumer stopped while its batch failed")
        earliest: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            earliest[tp] = min(record.offset, earliest.get(tp, record.offset))
        for tp, offset in earliest.items():
            kafka.seek(tp, offset)
        kafka.pause(*earliest)
        self._held.difference_update(earliest)  # resumed after the backoff, not with the batch

        def resume() -> None:
            self._resumes.discard(handle)
            if self.kafka() is kafka:  # a restarted consumer starts unpaused
                kafka.resume(*(tp for tp in earliest if tp in kafka.assignment()))

        handle = asyncio.get_running_loop().call_later(after, resume)
        self._resumes.add(handle)

    def close(self) -> None:
        for handle in self._resumes:
            handle.cancel()
        self._resumes.clear()

    async def carried_over(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        """Where to start the assigned partitions this group has committed nothing for: the
        offset their topic's previous group committed, where it did."""
        if self.offsets is None or not assigned:
            return {}
        asked: dict[str, list[TopicPartition]] = {self.group_id: sorted(assigned)}
        for tp in sorted(assigned):
            old = self.previous.get(tp.topic)
            if old is not None and old != self.group_id:
                asked.setdefault(old, []).append(tp)
        if len(asked) == 1:
            return {}
        found = await self.offsets(asked)
        mine = found.get(self.group_id, {})
        starts: dict[TopicPartition, int] = {}
        for tp in assigned:
            old = self.previous.get(tp.topic)
            if tp not in mine and old is not None and tp in found.get(old, {}):
                starts[tp] = found[old][tp]
        return starts


class _CarryOver(ConsumerRebalanceListener):
    """Starts newly assigned partitions at the previous groups' offsets
    (:meth:`ConsumerGroup.carried_over`). aiokafka calls it once the assignment is in place;
    the partitions are paused while the offsets are read, so nothing is fetched from where the
    group would otherwise start (the beginning) meanwhile."""

    def __init__(self, group: ConsumerGroup) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # what the group assigns next is fetched from its own start (and may be paused here
        # while the previous groups' offsets are read): the batch's hold must not resume it
        self.group.held_revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        kafka = self.group.kafka()
        if kafka is None or not assigned or not self.group.previous:
            return
        kafka.pause(*assigned)
        try:
            async with asyncio.timeout(15):
                starts = await self.group.carried_over(assigned)
            for tp, offset in starts.items():
                kafka.seek(tp, offset)
            if starts:
                # committed at once: a quiet partition must not look like its whole history
                # is waiting (lag, KEDA) until its first batch, nor be looked up again
                await kafka.commit(starts)
                log.info(
                    "partitions start at the previous groups' offsets",
                    extra={"group": self.group.group_id, "partitions": len(starts)},
                )
        except Exception as exc:  # the inbox dedups what is read again from the beginning
            log.warning(
                "previous groups' offsets not read; starting from the committed or earliest",
                extra={"group": self.group.group_id, "error": repr(exc)},
            )
        finally:
            kafka.resume(*(tp for tp in assigned if tp in kafka.assignment()))


def committed_offsets(bootstrap: str, client_options: dict[str, Any] | None = None) -> Offsets:
    """Read groups' committed offsets with an admin client of its own (opened per call: it is
    only asked when partitions are assigned)."""

    async def read(asked: dict[str, list[TopicPartition]]) -> dict[str, dict[TopicPartition, int]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_options or {}))
        await admin.start()
        try:
            found: dict[str, dict[TopicPartition, int]] = {}
            for group, partitions in asked.items():
                offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
                found[group] = {
                    TopicPartition(tp.topic, tp.partition): meta.offset
                    for tp, meta in offsets.items()
                    if meta is not None and meta.offset >= 0
                }
            return found
        finally:
            await admin.close()

    return read


def subscribe(
    broker: KafkaBroker,
    group: ConsumerGroup,
    *,
    max_records: int = 1000,
    batch_timeout_ms: int = POLL_MS,
    heartbeat_interval_ms: int = 3000,
    idle_fetch_wait_ms: int = IDLE_MS,
    quick_fetch_wait_ms: int = QUICK_MS,
) -> None:
    """Register ``group`` as one batch subscriber of all its topics in consumer group
    ``group.group_id``.

    FastStream polls the consumer's buffer for up to ``batch_timeout_ms`` and, when it found
    nothing, sleeps as long again, so a record arriving meanwhile waits. The subscriber's poll
    is replaced by one without that sleep (:func:`_poll_without_sleep`): aiokafka's
    ``getmany`` returns as soon as a fetch response brings records, so a long poll costs no
    latency and wakes the service only when records come (or once per ``batch_timeout_ms``).
    The fetch wait at the broker follows the traffic of all the topics (one
    :class:`~suishin.kit.fetchwait.FetchWait` per subscriber). ``max_records`` bounds a poll
    across the topics. ``heartbeat_interval_ms`` is the group heartbeat
    (ServiceSettings.consumer_heartbeat_ms), ``idle_fetch_wait_ms`` and
    ``quick_fetch_wait_ms`` the fetch waits when quiet and while records flow
    (consumer_idle_fetch_wait_ms, consumer_quick_fetch_wait_ms)."""

    async def handle(records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        try:
            await group.process(records)
        finally:
            group.release()  # the next fetch goes out while FastStream commits this batch

    subscriber = broker.subscriber(
        *group.consumers,
        group_id=group.group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        heartbeat_interval_ms=heartbeat_interval_ms,
        # aiokafka requires the session to outlast three heartbeats; its default (10 s) stays
        # the floor so a member is not dropped by one slow heartbeat
        session_timeout_ms=max(10_000, 3 * heartbeat_interval_ms + 1),
        rebalance_timeout_ms=1000,
        # A long poll on a quiet topic is pure latency on tansu (it answers at the deadline):
        # the wait starts long (idle) and is shortened while records flow (kit.fetchwait).
        fetch_max_wait_ms=idle_fetch_wait_ms,
        listener=_CarryOver(group),
        title=group.group_id,
        parser=_parse_batch,
        decoder=_raw_records,
    )
    subscriber(handle)
    if not _poll_without_sleep(subscriber, group):  # FastStream's sleeps when empty
        log.warning("FastStream's batch poll kept; its sleep after an empty poll is short")
        subscriber.batch_timeout_ms = min(batch_timeout_ms, 10)
    group.subscriber = subscriber
    group.fetch_wait = FetchWait(
        group.kafka, quick_ms=quick_fetch_wait_ms, idle_ms=idle_fetch_wait_ms
    )
    for topic, consumer in group.consumers.items():
        consumer.topic = topic
        consumer.subscriber = subscriber
        consumer.fetch_wait = group.fetch_wait


def _poll_without_sleep(subscriber: Any, group: ConsumerGroup | None = None) -> bool:
    """Give a FastStream batch subscriber a poll that does not sleep after an empty one.

    FastStream's ``BatchSubscriber.get_msg`` calls ``getmany(timeout_ms=batch_timeout_ms)``
    and, if that returned nothing, sleeps ``batch_timeout_ms``: dead time for a record that
    arrives during the sleep, and a short timeout to keep that small wakes every idle consumer
    many times a second. FastStream has no option for it, so the subscriber's ``get_msg`` is
    replaced on the instance (its consume loop calls ``self.get_msg(consumer)``) by the same
    ``getmany`` without the sleep. Returns False, leaving FastStream's poll, if a future
    FastStream no longer has the method."""
    if not callable(getattr(subscriber, "get_msg", None)):
        return False

    async def get_msg(kafka: Any) -> tuple[ConsumerRecord[Any, Any], ...]:
        if group is not None:
            group.release()  # when a batch did not reach the handler
        batches = await kafka.getmany(
            timeout_ms=subscriber.batch_timeout_ms, max_records=subscriber.max_records
        )
        records = tuple(chain.from_iterable(batches.values()))
        # Fewer than asked for: every partition's buffer is drained, the consumer has caught up
        # and holds fetching for latency. A full batch leaves records buffered, which pausing
        # would throw away (fetched again later); behind, prefetching is what keeps up.
        if records and group is not None and len(records) < subscriber.max_records:
            group.hold(kafka)
        return records

    subscriber.get_msg = get_msg
    return True
