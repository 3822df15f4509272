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
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
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
    # one statement for the whole batch (the trigger's NOTIFY fires once), rows in order
    await conn.execute(
        """insert into outbox (event_id, topic, key, body, headers)
           select event_id, topic, key, body, headers::jsonb
           from unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[], $5::text[])
                with ordinality as t(event_id, topic, key, body, headers, ord)
           order by ord""",
        [e.event_id for e in events],
        [(topic_for(e) if topic_for else None) or e.topic for e in events],
        [e.key for e in events],
        [e.to_bytes() for e in events],
        [
            json.dumps(
                {
                    "event_type": e.event_type,
                    tracing.TRACEPARENT_HEADER: e.trace.traceparent,
                    **(headers or {}),
                },
                ensure_ascii=False,
            )
            for e in events
        ],
    )
    metrics.count_emitted(events)


Publish = Callable[[Sequence[tuple[str, bytes, bytes, dict[str, str]]]], Awaitable[None]]
"""Publishes (topic, key, body, headers) records and returns once the broker acknowledged all."""


@dataclass(frozen=True)
class Snapshot:
    """Which transactions a statement saw: PostgreSQL's ``pg_snapshot`` (``xmin:xmax:xip,...``)."""

    xmin: int
    xmax: int
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def saw(self, xid: int) -> bool:
        """Whether a transaction that committed (it notified) had committed for this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.in_progress)


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
        self._look = False  # a wake-up that must be followed by a pass (see wake)
        self._notified: set[int] = set()  # transactions that notified since their last pass
        self._seen: Snapshot | None = None  # what the last pass's claim saw
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"outbox:{schema}".encode()).digest()[:8], "big", signed=True
        )
        self.published_total = 0
        self.last_error: str | None = None
        self.listener_pid: int | None = None  # the backend that LISTENs (tests, diagnostics)
        self.notifications_received = 0  # NOTIFYs for this schema (tests, diagnostics)
        self._listener: asyncpg.Connection | None = None

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows were published (0 when idle or not leader).

        Three round trips to PostgreSQL besides the publish: ``begin``, one statement that
        takes the leader's lock, claims the rows and returns its snapshot (which transactions'
        rows it could see), and ``commit``; the rows are marked while the broker acknowledges
        them (same transaction: a failed publish rolls the mark back and the rows are published
        again, never lost)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # the lock in a materialized CTE: taken once, before any row is claimed; one row
            # with the snapshot and no claim when nothing is pending (or another relay leads)
            found = await conn.fetch(
                """with leader as materialized (
                       select pg_try_advisory_xact_lock($2) as ok,
                              pg_current_snapshot()::text as snapshot
                   ), claimed as (
                       select o.id, o.topic, o.key, o.body, o.headers, o.created_at
                       from outbox o, leader
                       where leader.ok and o.published_at is null
                       order by o.id
                       limit $1
                       for update of o skip locked
                   )
                   select leader.snapshot, claimed.*
                   from leader left join claimed on true
                   order by claimed.id""",
                self._batch_size,
                self._lock_key,
            )
            self._seen = Snapshot.parse(found[0]["snapshot"])
            rows = [r for r in found if r["id"] is not None]
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
        """A writer committed rows: look now. While the relay LISTENs this only starts a pass
        sooner (the writer's commit usually reaches it before the NOTIFY does), and the NOTIFY,
        which names the transaction, decides whether another pass is needed; while it cannot
        LISTEN, the next pass is never skipped."""
        if not self.listening:
            self._look = True
        self._wakeup.set()

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is open (NOTIFYs reach the relay)."""
        return self._listener is not None and not self._listener.is_closed()

    async def run(self) -> None:
        """Publish continuously: on NOTIFY from the outbox trigger (or :meth:`wake`), and every
        poll interval, which is only a fallback while LISTEN works (``listen_poll_interval``),
        so an idle relay costs the database a query every few seconds, not twice a second.

        A pass that claimed fewer rows than a batch has published everything committed before
        it began, so the relay waits rather than looking again (an empty pass is three round
        trips): a row committed during the pass woke it (NOTIFY, or :meth:`wake` after the
        writer's commit), and the wake-up is cleared before the pass, so it is not lost. A
        NOTIFY names its transaction, and one that a pass's claim already saw (the writer's
        :meth:`wake` started the pass before its commit's NOTIFY arrived) wakes nothing: no
        empty pass after each commit."""
        self._listener = await self._listen()
        backoff = self._poll_interval
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                # cleared before looking, so a NOTIFY that arrives while publishing is kept
                self._wakeup.clear()
                self._look = False
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
                self._forget_seen()
                if self._listener is not None and self._listener.is_closed():  # PG restarted
                    self._listener = await self._listen()
                interval = self._listen_poll_interval if self.listening else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval):  # not wait_for: see kit.service.stop
                        await self._wakeup.wait()
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()

    def look(self) -> None:
        """Look for rows now, whatever the last pass saw: rows made pending again (replay, which
        updates them and so sends no NOTIFY) or a lost LISTEN connection."""
        self._look = True
        self._wakeup.set()

    def _forget_seen(self) -> None:
        """Drop the NOTIFYs of transactions the last pass saw; if they were all the wake-up
        had, it is spent."""
        if self._seen is not None:
            self._notified = {xid for xid in self._notified if not self._seen.saw(xid)}
        if self._wakeup.is_set() and not self._look and not self._notified:
            self._wakeup.clear()

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
            schema, _, xid = payload.partition(" ")  # "<schema> <xid>" (migration 003)
            if schema != self._schema:
                return
            self.notifications_received += 1
            if not xid.isdigit():  # a trigger that does not name its transaction
                self._look = True
            elif self._seen is not None and self._seen.saw(int(xid)):
                return  # a pass claimed after it committed
            else:
                self._notified.add(int(xid))
            self._wakeup.set()

        await conn.add_listener("suishin_outbox", on_notify)
        # a lost LISTEN connection wakes the loop, which listens again (or polls quickly)
        conn.add_termination_listener(lambda _c: self.look())
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
