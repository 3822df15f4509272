"""Transactional outbox and the relay that publishes it.

``enqueue`` writes an event in the caller's transaction, so the event exists if and only if the
state change does. The relay claims unpublished rows with ``FOR UPDATE SKIP LOCKED`` (never by
tailing a position, which would skip a transaction that commits late), publishes them in id
order, waits for the broker's acknowledgement and marks them. One relay per schema publishes at
a time (advisory lock), so the events of one aggregate keep their order even with replicas.
Published rows are kept for a retention window so they can be replayed after a broker loss.

Every enqueued event gets its trace fields (``traceparent``, ``correlation_id``,
``causation_id``; see :mod:`suishin.kit.tracing`), and its ``traceparent`` also goes into the
record's headers, so the whole chain of a report shares one trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from suishin.contracts.events import Envelope
from suishin.kit import metrics, tracing

log = logging.getLogger(__name__)


async def enqueue(
    conn: asyncpg.Connection,
    event: Envelope[Any],
    *,
    topic: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Add one event to the outbox inside the caller's open transaction."""
    await enqueue_many(
        conn, [event], topic_for=(lambda _e: topic) if topic else None, headers=headers
    )


async def enqueue_many(
    conn: asyncpg.Connection,
    events: Sequence[Envelope[Any]],
    *,
    topic_for: Callable[[Envelope[Any]], str | None] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    if not events:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.enqueue must run inside the transaction of the state change")
    events = [tracing.stamp(e) for e in events]
    rows = [
        (
            e.event_id,
            (topic_for(e) if topic_for else None) or e.topic,
            e.key,
            e.to_bytes(),
            {
                "event_type": e.event_type,
                tracing.TRACEPARENT_HEADER: e.trace.traceparent,
                **(headers or {}),
            },
        )
        for e in events
    ]
    await conn.executemany(
        "insert into outbox (event_id, topic, key, body, headers) values ($1, $2, $3, $4, $5)",
        rows,
    )
    metrics.count_emitted(events)


Publish = Callable[[Sequence[tuple[str, bytes, bytes, dict[str, str]]]], Awaitable[None]]
"""Publishes (topic, key, body, headers) records and returns once the broker acknowledged all."""


class OutboxRelay:
    """Moves outbox rows of one schema to Kafka. Run :meth:`run` as a background task."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        publish: Publish,
        *,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_interval: float = 0.5,
        listen_poll_interval: float = 5.0,
        retention: timedelta = timedelta(days=7),
        listen_dsn: str | None = None,
        on_failure: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._listen_dsn = listen_dsn
        self._on_failure = on_failure
        self._schema = schema
        self._publish = publish
        self._topic_prefix = topic_prefix
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._listen_poll_interval = max(poll_interval, listen_poll_interval)
        self._retention = retention
        self._wakeup = asyncio.Event()
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"outbox:{schema}".encode()).digest()[:8], "big", signed=True
        )
        self.published_total = 0
        self.last_error: str | None = None
        self.listener_pid: int | None = None  # the backend that LISTENs (tests, diagnostics)

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows were published (0 when idle or not leader).

        Three round trips to PostgreSQL besides the publish: ``begin``, one statement that
        takes the leader's lock and claims the rows, and ``commit``; the rows are marked while
        the broker acknowledges them (same transaction: a failed publish rolls the mark back
        and the rows are published again, never lost)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # the lock in a materialized CTE: taken once, before any row is claimed
            rows = await conn.fetch(
                """with leader as materialized (select pg_try_advisory_xact_lock($2) as ok)
                   select o.id, o.topic, o.key, o.body, o.headers, o.created_at
                   from outbox o, leader
                   where leader.ok and o.published_at is null
                   order by o.id
                   limit $1
                   for update of o skip locked""",
                self._batch_size,
                self._lock_key,
            )
            if not rows:
                return 0
            records = [
                (
                    self._topic_prefix + r["topic"],
                    r["key"],
                    r["body"],
                    {k: str(v) for k, v in r["headers"].items()},
                )
                for r in rows
            ]
            with tracing.publishing(
                [
                    (topic, headers.get(tracing.TRACEPARENT_HEADER), r["created_at"])
                    for (topic, _, _, headers), r in zip(records, rows, strict=True)
                ]
            ):
                publishing = asyncio.ensure_future(self._publish(records))
                try:
                    await conn.execute(
                        "update outbox set published_at = now() where id = any($1::bigint[])",
                        [r["id"] for r in rows],
                    )
                except BaseException:
                    publishing.cancel()
                    with contextlib.suppress(BaseException):
                        await publishing
                    raise
                await publishing  # commit (below) only once the broker acknowledged all
        self.published_total += len(rows)
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is pending (used by tests and shutdown)."""
        total = 0
        while n := await self.publish_pending():
            total += n
        return total

    async def purge_published(self, now: datetime | None = None) -> int:
        """Delete published rows older than the retention window."""
        async with self._pool.acquire() as conn:
            cutoff_sql = "coalesce($1::timestamptz, now()) - $2::interval"
            status = await conn.execute(
                f"delete from outbox where published_at < {cutoff_sql}", now, self._retention
            )
        return int(status.split()[-1])

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Publish continuously: on NOTIFY from the outbox trigger (or :meth:`wake`), and every
        poll interval, which is only a fallback while LISTEN works (``listen_poll_interval``),
        so an idle relay costs the database a query every few seconds, not twice a second.

        A pass that claimed fewer rows than a batch has published everything committed before
        it began, so the relay waits rather than looking again (an empty pass is three round
        trips): a row committed during the pass woke it (NOTIFY, or :meth:`wake` after the
        writer's commit), and the wake-up is cleared before the pass, so it is not lost."""
        listener = await self._listen()
        backoff = self._poll_interval
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                # cleared before looking, so a NOTIFY that arrives while publishing is kept
                self._wakeup.clear()
                try:
                    n = await self.publish_pending()
                    self.last_error = None
                    backoff = self._poll_interval
                    if loop.time() - last_purge > 3600:
                        last_purge = loop.time()
                        await self.purge_published()
                    if n >= self._batch_size:
                        continue  # a full batch: more rows may be waiting
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database down: retry with backoff
                    self.last_error = repr(exc)
                    log.warning("outbox relay failed; retrying", extra={"error": repr(exc)})
                    backoff = min(backoff * 2, 10.0)
                    await asyncio.sleep(backoff)
                    if self._on_failure is not None:
                        # e.g. recreate topics on a broker that restarted empty
                        with contextlib.suppress(Exception):
                            await self._on_failure()
                    continue
                if listener is not None and listener.is_closed():  # e.g. PostgreSQL restarted
                    listener = await self._listen()
                listening = listener is not None and not listener.is_closed()
                interval = self._listen_poll_interval if listening else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):  # not wait_for: see kit.service.stop
                        await self._wakeup.wait()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        """A dedicated connection that LISTENs, so new rows are published without waiting."""
        if self._listen_dsn is None:
            return None
        try:
            conn: asyncpg.Connection = await asyncpg.connect(self._listen_dsn)
        except Exception as exc:
            log.warning("outbox relay cannot LISTEN; polling only", extra={"error": repr(exc)})
            return None

        def on_notify(_c: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload == self._schema:
                self._wakeup.set()

        await conn.add_listener("suishin_outbox", on_notify)
        # a lost LISTEN connection wakes the loop, which listens again (or polls quickly)
        conn.add_termination_listener(lambda _c: self._wakeup.set())
        self.listener_pid = conn.get_server_pid()
        return conn


async def replay(pool: asyncpg.Pool, since: datetime) -> int:
    """Mark events published since ``since`` as unpublished so the relay sends them again.

    Consumers are idempotent, so a replay after a broker loss only fills what is missing.
    """
    async with pool.acquire() as conn:
        status = await conn.execute(
            "update outbox set published_at = null where published_at >= $1", since
        )
    return int(status.split()[-1])


def records(rows: Iterable[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]
