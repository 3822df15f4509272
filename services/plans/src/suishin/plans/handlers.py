"""Kafka consumers of the plans service: each an inbox handler around one command."""

from __future__ import annotations

from suishin.contracts.events import IndicatorStatusChanged
from suishin.kit.handlers import InboxHandler, relay_waker
from suishin.kit.service import ServiceRuntime
from suishin.plans import commands

INDICATOR_STATUS_CONSUMER = "plans:indicator.status_changed"


def indicator_status_handler(runtime: ServiceRuntime) -> InboxHandler[IndicatorStatusChanged]:
    """Idempotent: the inbox claim, the statuses, the grades and the ``measure.evaluated``
    events are written in one transaction (see :class:`suishin.kit.handlers.InboxHandler`);
    :func:`suishin.plans.commands.apply_indicator_statuses` is the command."""
    return InboxHandler(
        INDICATOR_STATUS_CONSUMER,
        lambda: runtime.pool,
        commands.apply_indicator_statuses,
        wake=relay_waker(runtime),
    )
