"""Batch consumption that never stops on bad input.

A batch of Kafka records is parsed against the event catalogue; what fails validation goes to
the dead-letter topic with the reason in headers. The valid events go to the service's handler,
which applies them in one transaction together with the inbox claims (so duplicates change
nothing). The handler may reject single events (unknown indicator, another tenant's data, ...);
those are dead-lettered too. Transient failures (database or broker unavailable) are retried
with exponential backoff; a handler bug on one event is isolated by retrying the events one by
one, and only the event that still fails is dead-lettered. Offsets are committed by FastStream
after the batch returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from suishin.contracts.events import Envelope, EventRejected, Payload, parse_event
from suishin.kit.deadletter import send_to_dead_letter

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
        authentic: Callable[[ConsumerRecord[Any, Any]], bool] | None = None,
    ) -> None:
        self.name = name
        self._broker = broker
        self._payload_type = payload_type
        self._handler = handler
        self._max_retries = max_retries
        self._base_backoff = base_backoff
        self._authentic = authentic  # internal topics: is the record signed by a service?
        self.processed = 0
        self.dead_lettered = 0

    async def process(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        valid: list[tuple[Envelope[P], ConsumerRecord[Any, Any]]] = []
        for record in records:
            if self._authentic is not None and not self._authentic(record):
                await self._dead_letter(
                    record, "unauthenticated_producer", "missing or invalid x-suishin-signature"
                )
                continue
            try:
                valid.append((parse_event(record.value, expect=self._payload_type), record))
            except EventRejected as rejected:
                await self._dead_letter(record, rejected.reason, rejected.detail)
        if valid:
            await self._apply(valid)
        self.processed += len(records)

    async def _apply(self, batch: list[tuple[Envelope[P], ConsumerRecord[Any, Any]]]) -> None:
        attempt = 0
        while True:
            try:
                rejections = await self._handler([event for event, _ in batch])
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
            body=record.value if isinstance(record.value, bytes) else bytes(record.value or b""),
            key=record.key,
            consumer=self.name,
            reason=reason,
            detail=detail,
            partition=record.partition,
            offset=record.offset,
        )


def subscribe(
    broker: KafkaBroker,
    consumer: BatchConsumer[Any],
    *,
    topic: str,
    group_id: str,
    max_records: int = 1000,
    batch_timeout_ms: int = 50,
) -> None:
    """Register ``consumer`` as a batch subscriber of ``topic`` in consumer group ``group_id``."""

    async def handle(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        await consumer.process(records)

    broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        heartbeat_interval_ms=500,
        rebalance_timeout_ms=1000,
        # A long poll on a quiet topic is pure latency on tansu (it answers at the deadline).
        fetch_max_wait_ms=100,
        title=f"{consumer.name}:{topic}",
    )(handle)
