"""Kafka consumer of ``indicator.reported``: external systems' actuals, one batch at a time.

A batch is applied in one transaction: inbox claims (duplicates and redeliveries change
nothing), then :func:`suishin.indicators.commands.ingest`. Reports the service refuses (unknown
indicator, another tenant's indicator, wrong unit, non-numeric value, period outside the plan,
reused idempotency key) are returned as rejections and go to ``indicator.reported.dlq`` with
the reason in the ``x-dlq-reason`` header; their inbox claims are released, so a redelivery is
judged again rather than silently dropped.
"""

from __future__ import annotations

from asyncpg import Connection

from suishin.contracts.events import Envelope, IndicatorReported
from suishin.indicators.commands import ingest
from suishin.indicators.domain.reports import Report
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.kit.consumer import Rejection
from suishin.kit.handlers import InboxHandler, Outcome

CONSUMER = "indicators:indicator.reported"


def reported_handler(runtime: IndicatorsRuntime) -> InboxHandler[IndicatorReported]:
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

    return InboxHandler(
        CONSUMER, lambda: runtime.pool, apply, wake=runtime.wake_relay, committed=count
    )
