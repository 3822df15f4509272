"""Notices a broker that lost its log (the memory-only embedded broker after a restart) and puts
the service back on it: topics recreated, consumers rewound, the outbox published again.

How a lost log is recognised. The embedded broker keeps nothing on restart and reports the
same cluster id every time, so the platform marks each broker life itself: the first record of
the single-partition topic ``_suishin.broker-epoch`` names the *epoch* (a random id and the time
it began). Whoever finds the topic empty writes one; if two write at once, the record at the
lowest offset wins, so every process agrees. Each service keeps the epoch it last published to
in its schema (``broker_epoch``); a different epoch on the broker, while running or at start,
means everything the old broker held is gone.

What the service does then (:meth:`BrokerWatch.check`):

1. recreates the platform's topics with their partition counts;
2. rewinds every consumer to the beginning of the new log (its committed offsets are gone and
   its in-memory positions point past the new end; tansu answers a fetch past the end with
   nothing rather than ``OFFSET_OUT_OF_RANGE``, so without this a consumer waits until the new
   log grows past its old position and then skips everything before it);
3. marks its outbox rows published since the old epoch began (with a margin) as unpublished, so
   the relay publishes them again. Consumers are idempotent (inbox), so over-replay only fills
   the gaps.

Between checks, any consumer position beyond the partition's high watermark (the same symptom,
seen from the fetch responses) is rewound at once (:func:`rewind_out_of_range`).

What cannot come back: records that *other* producers (external systems) had published to the
lost broker and no consumer had applied yet. Producers that need a durable acknowledgement use
the indicators service's ``POST /ingest/indicator-reports`` (acknowledged after the commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from suishin.kit.broker import ensure_topics
from suishin.kit.outbox import replay

log = logging.getLogger(__name__)

EPOCH_TOPIC = "_suishin.broker-epoch"
REPLAY_MARGIN = timedelta(minutes=5)
"""Outbox rows published this long before the old epoch began are published again too (clock
differences between processes, and relays that published before the epoch was marked)."""


@dataclass(frozen=True)
class Epoch:
    epoch: str
    started_at: datetime

    @classmethod
    def new(cls) -> Epoch:
        return cls(uuid.uuid4().hex, datetime.now(UTC))

    def to_bytes(self) -> bytes:
        return json.dumps({"epoch": self.epoch, "started_at": self.started_at.isoformat()}).encode()

    @classmethod
    def parse(cls, raw: bytes) -> Epoch:
        data = json.loads(raw)
        return cls(str(data["epoch"]), datetime.fromisoformat(data["started_at"]))


async def rewind_out_of_range(
    consumer: AIOKafkaConsumer, *, to_end: bool = False
) -> list[TopicPartition]:
    """Move every assigned partition whose position lies beyond its high watermark (a log that
    restarted empty) to the beginning of the new log, or to its end with ``to_end``."""
    stale: list[TopicPartition] = []
    for tp in list(consumer.assignment()):
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            async with asyncio.timeout(1.0):
                position = await consumer.position(tp)
        except Exception:  # rebalancing or broker away: next time
            continue
        if position > highwater:
            stale.append(tp)
    if stale:
        if to_end:
            await consumer.seek_to_end(*stale)
        else:
            await consumer.seek_to_beginning(*stale)
        log.warning(
            "consumer position beyond the end of a restarted log; rewound",
            extra={"partitions": [f"{tp.topic}[{tp.partition}]" for tp in stale]},
        )
    return stale


async def rewind(consumer: AIOKafkaConsumer) -> None:
    """Read the whole (new) log again: every assigned partition from its beginning."""
    assigned = list(consumer.assignment())
    if assigned:
        await consumer.seek_to_beginning(*assigned)


class EpochReader:
    """Reads (and founds, when missing) the broker epoch. Long-lived clients: they reconnect by
    themselves when the broker comes back."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        client_id: str = "suishin-epoch",
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_options = client_options or {}  # authentication (kafka_client_options)
        self.topic = topic
        self.client_id = client_id
        self._tp = TopicPartition(topic, 0)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._topic_checked = False

    async def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if not self._topic_checked:
            await ensure_topics(
                self.bootstrap, [self.topic], partitions=1, client_options=self.client_options
            )
            self._topic_checked = True
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=100,
                **self.client_options,
            )
            await consumer.start()
            consumer.assign([self._tp])
            # fetched only while read() runs: an assigned partition is fetched again and again
            # in the background (every fetch_max_wait_ms on an idle broker)
            consumer.pause(self._tp)
            self._consumer = consumer
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                enable_idempotence=False,
                acks="all",
                **self.client_options,
            )
            await producer.start()
            self._producer = producer
        return self._consumer, self._producer

    async def read(self, timeout: float = 5.0) -> Epoch:
        consumer, producer = await self._clients()
        wrote = False
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            consumer.resume(self._tp)
            try:
                await consumer.seek_to_beginning(self._tp)
                batch = await consumer.getmany(self._tp, timeout_ms=1000, max_records=1)
            finally:
                consumer.pause(self._tp)
            records = batch.get(self._tp, [])
            if records and records[0].value is not None:
                return Epoch.parse(records[0].value)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the broker epoch could not be read")
            if not wrote:
                # An empty topic: this broker is new. Found its epoch (the lowest offset wins).
                self._topic_checked = False
                await self._clients()
                await producer.send_and_wait(self.topic, Epoch.new().to_bytes(), partition=0)
                wrote = True

    async def close(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()
        self._consumer = self._producer = None


class BrokerWatch:
    """Run :meth:`run` as a background task of a service (see ``ServiceRuntime``)."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        reader: EpochReader,
        consumers: Callable[[], Iterable[AIOKafkaConsumer]],
        ensure: Callable[[], Awaitable[None]],
        on_replay: Callable[[], None] = lambda: None,
        interval: float = 2.0,
        name: str = "",
    ) -> None:
        self._pool = pool
        self._reader = reader
        self._consumers = consumers
        self._ensure = ensure
        self._on_replay = on_replay
        self._interval = interval
        self._name = name
        self.known: Epoch | None = None
        self.losses = 0
        self.replayed = 0
        self.last_error: str | None = None

    async def _stored(self) -> Epoch | None:
        row = await self._pool.fetchrow("select epoch, started_at from broker_epoch")
        return Epoch(row["epoch"], row["started_at"]) if row else None

    async def _store(self, epoch: Epoch) -> None:
        await self._pool.execute(
            """insert into broker_epoch (epoch, started_at) values ($1, $2)
               on conflict (singleton) do update
               set epoch = excluded.epoch, started_at = excluded.started_at, seen_at = now()""",
            epoch.epoch,
            epoch.started_at,
        )

    async def check(self) -> bool:
        """Compare the broker's epoch with the one this service knows; recover when it changed.
        Returns whether a lost log was recovered."""
        current = await self._reader.read()
        if self.known is None:
            self.known = await self._stored()
            if self.known is None:  # first start of this service with a broker epoch
                await self._store(current)
                self.known = current
                return False
        if self.known.epoch == current.epoch:
            for consumer in self._consumers():
                await rewind_out_of_range(consumer)
            return False
        previous = self.known
        log.warning(
            "the broker lost its log (new epoch); recreating topics, rewinding consumers and "
            "publishing the outbox again",
            extra={
                "service": self._name,
                "old_epoch": previous.epoch,
                "old_epoch_started_at": previous.started_at.isoformat(),
                "new_epoch": current.epoch,
            },
        )
        await self._ensure()
        for consumer in self._consumers():
            await rewind(consumer)
        count = await replay(self._pool, previous.started_at - REPLAY_MARGIN)
        self._on_replay()
        await self._store(current)
        self.known = current
        self.losses += 1
        self.replayed += count
        log.warning(
            "broker loss recovered",
            extra={"service": self._name, "republishing": count, "epoch": current.epoch},
        )
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.check()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: look again later
                if self.last_error != repr(exc):
                    log.warning("broker watch failed; retrying", extra={"error": repr(exc)})
                self.last_error = repr(exc)
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        await self._reader.close()


__all__ = [
    "EPOCH_TOPIC",
    "BrokerWatch",
    "Epoch",
    "EpochReader",
    "rewind",
    "rewind_out_of_range",
]
