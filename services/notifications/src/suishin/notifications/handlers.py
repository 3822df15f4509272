"""Kafka handlers of the notifications service, one shape (kit's InboxHandler): claim the
batch's events, turn them into signals and apply them with ONE command
(:func:`suishin.notifications.commands.apply_signals`), then wake the dispatcher and the outbox
relay.

A batch costs a bounded number of statements whatever its size: one inbox claim for all its
events, the routing versions of the tenants involved (their snapshots are cached between
batches; one query per table for the tenants whose version changed), the open alerts of its
subjects, and one write per table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncpg import Connection

from suishin.contracts import topics
from suishin.contracts.events import (
    Envelope,
    IndicatorStatusChanged,
    MeasureEvaluated,
    MeasureStatusChanged,
    Payload,
    PlanMilestoneDue,
    ProgressReportEvent,
)
from suishin.kit.handlers import InboxHandler, Outcome
from suishin.notifications import commands
from suishin.notifications.domain import triggers
from suishin.notifications.domain.triggers import Signal
from suishin.notifications.runtime import NotificationsRuntime


def event_handler(
    runtime: NotificationsRuntime,
    consumer: str,
    to_signal: Callable[[Envelope[Any]], Signal | list[Signal]],
) -> InboxHandler[Any]:
    """Applies a batch of one topic's events (an event may give several signals, e.g. a
    recovery and a notice); duplicates (same event id) change nothing."""

    def signals(events: list[Envelope[Any]]) -> list[Signal]:
        out: list[Signal] = []
        for e in events:
            made = to_signal(e)
            out.extend(made if isinstance(made, list) else [made])
        return out

    async def apply(conn: Connection, events: list[Envelope[Any]]) -> Outcome:
        outcomes = await commands.apply_signals(
            conn,
            runtime.router,
            signals(events),
            runtime.clock.now(),
            runtime.digest_schedule,
            runtime.snapshots,
        )
        created = sum(len(o.notifications) for o in outcomes)
        return Outcome(changed=created > 0, applied=len(events))

    def wake() -> None:
        # the batch's notification.delivered events are in the outbox: the relay publishes them
        # now rather than on the NOTIFY that follows the commit (the live push waits on it)
        runtime.dispatcher.deliveries_committed()
        if runtime.relay is not None:
            runtime.relay.wake()

    return InboxHandler(consumer, lambda: runtime.pool, apply, wake=wake)


def consumers(
    runtime: NotificationsRuntime,
) -> list[tuple[str, type[Payload], InboxHandler[Any]]]:
    """(topic, payload type, handler) of every event the service consumes."""
    return [
        (
            topics.INDICATOR_STATUS_CHANGED,
            IndicatorStatusChanged,
            event_handler(
                runtime, "notifications:indicator.status_changed", triggers.from_indicator
            ),
        ),
        (
            topics.MEASURE_STATUS_CHANGED,
            MeasureStatusChanged,
            event_handler(
                runtime, "notifications:measure.status_changed", triggers.from_measure_status
            ),
        ),
        (
            topics.MEASURE_EVALUATED,
            MeasureEvaluated,
            event_handler(
                runtime, "notifications:measure.evaluated", triggers.from_measure_evaluation
            ),
        ),
        (
            # one ordered topic, several event types: parsed against their common base and
            # dispatched by type in triggers.from_progress_report
            topics.PROGRESS_REPORT_WORKFLOW,
            ProgressReportEvent,
            event_handler(
                runtime, "notifications:progress_report.workflow", triggers.from_progress_report
            ),
        ),
        (
            topics.PLAN_MILESTONE_DUE,
            PlanMilestoneDue,
            event_handler(runtime, "notifications:plan.milestone_due", triggers.from_milestone),
        ),
    ]
