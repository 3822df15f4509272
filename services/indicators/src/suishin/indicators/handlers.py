"""Kafka consumer of ``indicator.reported``: external systems' actuals, one batch at a time.

A batch is applied in one transaction: inbox claims (duplicates and redeliveries change
nothing), then :func:`suishin.indicators.ingest.ingest`. Reports the service refuses (unknown
indicator, another tenant's indicator, wrong unit, non-numeric value, period outside the plan,
reused idempotency key) are returned as rejections and go to ``indicator.reported.dlq`` with
the reason in the ``x-dlq-reason`` header; their inbox claims are released, so a redelivery is
judged again rather than silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from suishin.contracts.events import Envelope, IndicatorReported
from suishin.indicators.ingest import Report, ingest
from suishin.kit.consumer import Handler, Rejection
from suishin.kit.inbox import claim_many

if TYPE_CHECKING:
    from suishin.indicators.app import IndicatorsRuntime

CONSUMER = "indicators:indicator.reported"


def reported_handler(runtime: IndicatorsRuntime) -> Handler[IndicatorReported]:
    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        by_id = {e.event_id: e for e in events}
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(conn, CONSUMER, by_id)
            reports = [Report.from_event(e) for e in events if e.event_id in fresh]
            result = await ingest(conn, reports, now=runtime.clock.now())
            refused = [r.event_id for r, _ in result.rejected if r.event_id is not None]
            if refused:
                await conn.execute(
                    "delete from inbox where consumer = $1 and event_id = any($2::uuid[])",
                    CONSUMER,
                    refused,
                )
        if result.changes and runtime.relay is not None:
            runtime.relay.wake()
        runtime.ingested += len(result.accepted)
        return [
            Rejection(
                by_id[report.event_id],
                rejected.code,
                f"{rejected.message_en} / {rejected.message_ja}",
            )
            for report, rejected in result.rejected
            if report.event_id is not None
        ]

    return handle
