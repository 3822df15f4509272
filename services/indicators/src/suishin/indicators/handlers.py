"""Kafka consumer of ``indicator.reported``: external systems' actuals, one batch at a time.

A batch is applied in one transaction: inbox claims (duplicates and redeliveries change
nothing), then :func:`suishin.indicators.commands.ingest`. Reports the service refuses (unknown
indicator, another tenant's indicator, wrong unit, non-numeric value, period outside the plan,
reused idempotency key) are returned as rejections and go to ``indicator.reported.dlq`` with
the reason in the ``x-dlq-reason`` header; their inbox claims are released, so a redelivery is
judged again rather than silently dropped.

A large batch is applied as a few parts at once (:class:`PartedHandler`), each in a transaction
of its own on its own connection: the parts share no indicator, event id or idempotency key, so
they never wait for each other's locks, and while PostgreSQL runs one part's statements the
service does the Python work of another. The handler returns (and the consumer commits the
batch's offsets) only once every part has committed; when a part fails the batch is delivered
again, and the parts that had committed find their events claimed in the inbox (nothing is
applied twice, nothing is lost).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from asyncpg import Connection

from suishin.contracts.events import Envelope, IndicatorReported
from suishin.indicators.commands import ingest
from suishin.indicators.domain.reports import Report
from suishin.indicators.memory import HeapTrim
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.kit.consumer import Handler, Rejection
from suishin.kit.handlers import InboxHandler, Outcome

CONSUMER = "indicators:indicator.reported"


def reported_handler(runtime: IndicatorsRuntime) -> Handler[IndicatorReported]:
    async def apply(conn: Connection, events: list[Envelope[IndicatorReported]]) -> Outcome:
        by_id = {e.event_id: e for e in events}
        result = await ingest(conn, [Report.from_event(e) for e in events], now=runtime.clock.now())
        rejections = [
            Rejection(
                by_id[report.event_id],
                rejected.code,
                f"{rejected.message_en} / {rejected.message_ja}",
            )
            for report, rejected in result.rejected
            if report.event_id is not None
        ]
        return Outcome(rejections, changed=bool(result.changes), applied=len(result.accepted))

    def count(outcome: Outcome) -> None:
        runtime.ingested += outcome.applied

    inbox = InboxHandler(
        CONSUMER, lambda: runtime.pool, apply, wake=runtime.wake_relay, committed=count
    )
    settings = runtime.indicator_settings
    return PartedHandler(
        inbox,
        parts=settings.consumer_parts,
        min_part=settings.consumer_min_part_size,
        heap_trim=runtime.heap_trim,
    )


class PartedHandler:
    """Applies a batch as up to ``parts`` independent parts concurrently, each through
    ``handler`` (its own transaction), when every part gets at least ``min_part`` events;
    ``heap_trim`` sees every batch applied."""

    def __init__(
        self,
        handler: Handler[IndicatorReported],
        *,
        parts: int,
        min_part: int,
        heap_trim: HeapTrim | None = None,
    ) -> None:
        self.handler = handler
        self.parts = parts
        self.min_part = min_part
        self.heap_trim = heap_trim

    async def __call__(self, events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        rejections = await self._apply(events)
        if self.heap_trim is not None:
            self.heap_trim.saw(len(events))
        return rejections

    async def _apply(self, events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        parts = min(self.parts, len(events) // max(1, self.min_part))
        groups = split(events, parts) if parts > 1 else [events]
        if len(groups) == 1:
            return await self.handler(events)
        # Every part runs to its end (commit or rollback) before the batch is answered.
        results = await asyncio.gather(*(self.handler(g) for g in groups), return_exceptions=True)
        rejections: list[Rejection] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            rejections.extend(result)
        return rejections


def split(
    events: list[Envelope[IndicatorReported]], parts: int
) -> list[list[Envelope[IndicatorReported]]]:
    """``events`` in at most ``parts`` groups (batch order kept inside each) such that the
    reports of one indicator, one event id and one idempotency key are in one group; the
    indicators are dealt largest first to the smallest group. One group when an event id or
    an idempotency key spans two indicators (only a faulty producer does that)."""
    by_indicator: dict[tuple[str, str], list[Envelope[IndicatorReported]]] = {}
    for event in events:
        key = (event.tenant, event.payload.indicator_key)
        group = by_indicator.get(key)
        if group is None:
            by_indicator[key] = [event]
        else:
            group.append(event)
    if len(by_indicator) < 2:
        return [events]
    sizes = [0] * parts
    part_of: dict[tuple[str, str], int] = {}
    for key, group in sorted(by_indicator.items(), key=lambda kv: -len(kv[1])):
        smallest = sizes.index(min(sizes))
        part_of[key] = smallest
        sizes[smallest] += len(group)
    owner: dict[Any, int] = {}
    groups: list[list[Envelope[IndicatorReported]]] = [[] for _ in range(parts)]
    for event in events:
        part = part_of[(event.tenant, event.payload.indicator_key)]
        for claim in (event.event_id, (event.tenant, event.payload.idempotency_key)):
            if owner.setdefault(claim, part) != part:
                return [events]
        groups[part].append(event)
    return [g for g in groups if g]
