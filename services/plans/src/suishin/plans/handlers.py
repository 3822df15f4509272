"""Kafka consumers of the plans service."""

from __future__ import annotations

from collections.abc import Sequence

from suishin.contracts.events import Envelope, IndicatorStatusChanged
from suishin.kit.consumer import Handler, Rejection
from suishin.kit.inbox import claim_many
from suishin.kit.service import ServiceRuntime
from suishin.plans.evaluation import record_indicator_statuses, regrade

INDICATOR_STATUS_CONSUMER = "plans:indicator.status_changed"


def indicator_status_handler(runtime: ServiceRuntime) -> Handler[IndicatorStatusChanged]:
    """Keep the latest indicator status per (measure, indicator, year) and regrade.

    Idempotent: the inbox claim, the statuses, the grades and the ``measure.evaluated`` events
    are written in one transaction. Stale events (older than what is stored for the same
    indicator, measure and year) change nothing. An event naming a measure of another ward is
    dead-lettered.
    """

    async def handle(
        events: list[Envelope[IndicatorStatusChanged]],
    ) -> Sequence[Rejection]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            node_ids = list({m for e in events for m in e.payload.measure_ids})
            owners = {
                r["id"]: r["tenant"]
                for r in await conn.fetch(
                    "select id, tenant from nodes where id = any($1::uuid[])", node_ids
                )
            }

            def foreign(e: Envelope[IndicatorStatusChanged]) -> list[str]:
                ids = e.payload.measure_ids
                return [str(m) for m in ids if owners.get(m, e.tenant) != e.tenant]

            rejections = [
                Rejection(
                    e,
                    "tenant_mismatch",
                    f"measure(s) {', '.join(foreign(e))} belong to another tenant than {e.tenant}",
                )
                for e in events
                if foreign(e)
            ]
            refused = {r.event.event_id for r in rejections}
            accepted = [e for e in events if e.event_id not in refused]
            fresh = await claim_many(
                conn, INDICATOR_STATUS_CONSUMER, [e.event_id for e in accepted]
            )
            new = [e for e in accepted if e.event_id in fresh]
            outcome = await record_indicator_statuses(conn, new)
            await regrade(conn, outcome.affected)
        return rejections

    return handle
