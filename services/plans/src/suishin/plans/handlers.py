"""Kafka consumers of the plans service."""

from __future__ import annotations

from suishin.contracts.events import Envelope, IndicatorStatusChanged
from suishin.kit.consumer import Rejection
from suishin.kit.handlers import InboxHandler, Outcome, relay_waker
from suishin.kit.service import ServiceRuntime
from suishin.plans.evaluation import record_indicator_statuses, regrade
from suishin.plans.storage import Conn

INDICATOR_STATUS_CONSUMER = "plans:indicator.status_changed"


async def apply_indicator_statuses(
    conn: Conn, events: list[Envelope[IndicatorStatusChanged]]
) -> Outcome:
    """Keep the latest indicator status per (measure, indicator, year) and regrade.

    Stale events (older than what is stored for the same indicator, measure and year) change
    nothing. An event naming a measure of another ward is refused (dead-lettered)."""
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
    outcome = await record_indicator_statuses(conn, accepted)
    await regrade(conn, outcome.affected)
    return Outcome(rejections, changed=bool(outcome.affected), applied=len(accepted))


def indicator_status_handler(runtime: ServiceRuntime) -> InboxHandler[IndicatorStatusChanged]:
    """Idempotent: the inbox claim, the statuses, the grades and the ``measure.evaluated``
    events are written in one transaction (see :class:`suishin.kit.handlers.InboxHandler`)."""
    return InboxHandler(
        INDICATOR_STATUS_CONSUMER,
        lambda: runtime.pool,
        apply_indicator_statuses,
        wake=relay_waker(runtime),
    )
