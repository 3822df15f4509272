"""Subscriptions: live inbox and indicator status changes, fed by the Kafka hub."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from suishin.contracts.enums import IndicatorStatus as IndicatorStatusValue
from suishin.contracts.enums import Severity as SeverityValue
from suishin.contracts.events import Envelope, IndicatorStatusChanged, NotificationDelivered
from suishin.contracts.topics import INDICATOR_STATUS_CHANGED, NOTIFICATION_DELIVERED
from suishin.gateway import errors, generated
from suishin.gateway.auth import require_member, require_signed_in
from suishin.gateway.context import context_of
from suishin.gateway.remote import load_entity, local

COMPARATORS = {"gte": "AT_LEAST", "lte": "AT_MOST", "eq": "EQUAL", "approx": "ABOUT"}


@strawberry.type(description="A notification that just arrived in your inbox.")
class NotificationEvent:
    id: strawberry.ID = strawberry.field(description="Id of the notification (to acknowledge it).")
    event_id: uuid.UUID = strawberry.field(description="Id of the delivery event.")
    kind: str = strawberry.field(description="What happened, e.g. `indicator_off_track`.")
    severity: generated.NotificationSeverity = strawberry.field(description="How urgent it is.")
    title: str = strawberry.field(description="Short title (Japanese).")
    body: str | None = strawberry.field(description="Longer text (Japanese).")
    link: str | None = strawberry.field(
        description="Entity the notice is about, e.g. `Indicator:<id>`."
    )
    source_event_id: uuid.UUID | None = strawberry.field(
        description="The event that caused the notification."
    )
    occurred_at: dt.datetime = strawberry.field(description="When it was delivered.")

    @strawberry.field(
        description="The notification as `myInbox` shows it (read state, acknowledgement, "
        "deliveries), fetched from the notifications service when selected."
    )
    async def notification(self, info: Info[Any, Any]) -> generated.Notification | None:
        return await load_entity(info, "notifications", "Notification", str(self.id))

    @classmethod
    def of(cls, event: Envelope[NotificationDelivered]) -> NotificationEvent:
        p = event.payload
        return cls(
            id=strawberry.ID(str(p.notification_id)),
            event_id=event.event_id,
            kind=p.kind,
            severity=generated.NotificationSeverity[SeverityValue(p.severity).name],
            title=p.title,
            body=p.body,
            link=p.link,
            source_event_id=p.source_event_id,
            occurred_at=event.occurred_at,
        )


@strawberry.type(description="An indicator's evaluated status for a period changed.")
class IndicatorStatusEvent:
    event_id: uuid.UUID = strawberry.field(description="Id of the event.")
    indicator_id: strawberry.ID = strawberry.field(description="Id of the indicator.")
    indicator_key: str = strawberry.field(description="Key of the indicator in its plan file.")
    title: str = strawberry.field(description="Indicator title.")
    period: str = strawberry.field(description="FY2024, 2024-08 or 2024-08-01.")
    fiscal_year: int = strawberry.field(description="Fiscal year (April–March) of the period.")
    from_status: generated.IndicatorStatus | None = strawberry.field(
        description="Status before (null for the first evaluation)."
    )
    to_status: generated.IndicatorStatus = strawberry.field(description="Status now.")
    figures: generated.EvaluationFigures = strawberry.field(
        description="Numbers the evaluation used."
    )
    rule: str = strawberry.field(description="Evaluation rule applied.")
    reason: str = strawberry.field(description="Why (Japanese).")
    measure_ids: list[strawberry.ID] = strawberry.field(description="Measures it belongs to.")
    department_codes: list[str] = strawberry.field(description="Departments owning it.")
    plan_ids: list[strawberry.ID] = strawberry.field(description="Plans it belongs to.")
    occurred_at: dt.datetime = strawberry.field(description="When the status changed.")

    @strawberry.field(
        description="The indicator itself (targets, series, ...), fetched from the indicators "
        "service when selected."
    )
    async def indicator(self, info: Info[Any, Any]) -> generated.Indicator | None:
        return await load_entity(info, "indicators", "Indicator", str(self.indicator_id))

    @classmethod
    def of(cls, event: Envelope[IndicatorStatusChanged]) -> IndicatorStatusEvent:
        p = event.payload
        f = p.figures
        return cls(
            event_id=event.event_id,
            indicator_id=strawberry.ID(str(p.indicator_id)),
            indicator_key=p.indicator_key,
            title=p.title,
            period=p.period,
            fiscal_year=p.fiscal_year,
            from_status=_status(p.from_status),
            to_status=generated.IndicatorStatus[IndicatorStatusValue(p.to_status).name],
            figures=local(
                generated.EvaluationFigures,
                actual=_text(f.actual),
                target=_text(f.target),
                expectedToDate=_text(f.expected_to_date),
                comparator=COMPARATORS.get(f.comparator or ""),
                unit=f.unit,
                targetText=f.target_text,
            ),
            rule=p.rule,
            reason=p.reason,
            measure_ids=[strawberry.ID(str(m)) for m in p.measure_ids],
            department_codes=list(p.department_codes),
            plan_ids=[strawberry.ID(str(m)) for m in p.plan_ids],
            occurred_at=event.occurred_at,
        )


def _text(value: decimal.Decimal | None) -> str | None:
    return None if value is None else str(value)


def _status(value: Any) -> generated.IndicatorStatus | None:
    return None if value is None else generated.IndicatorStatus[IndicatorStatusValue(value).name]


def _hub(info: Info[Any, Any]) -> Any:
    hub = context_of(info).hub
    if hub is None:
        raise errors.gateway_error(
            "SUBSCRIPTIONS_DISABLED",
            "このゲートウェイではライブ配信が無効です",
            "Live subscriptions are disabled on this gateway",
        )
    return hub


@strawberry.type(description="Live events pushed over graphql-transport-ws.")
class Subscription:
    @strawberry.subscription(
        description="Notifications delivered to your in-app inbox, as they arrive."
    )
    async def notification_received(
        self, info: Info[Any, Any]
    ) -> AsyncGenerator[NotificationEvent, None]:
        principal = require_signed_in(info)
        hub = _hub(info)

        def mine(event: Envelope[Any]) -> bool:
            p = event.payload
            return (
                event.tenant == principal.tenant
                and p.channel == "inbox"
                and p.status == "delivered"
                and p.recipient_id == principal.subject
            )

        async for event in hub.events(NOTIFICATION_DELIVERED, mine, until=principal.expires_at):
            yield NotificationEvent.of(event)

    @strawberry.subscription(
        description=(
            "Status changes of your municipality's indicators (dashboards); optionally only "
            "those of one indicator, measure or plan."
        )
    )
    async def indicator_status_changed(
        self,
        info: Info[Any, Any],
        indicator_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this indicator.")
        ] = None,
        measure_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this measure's."),
        ] = None,
        plan_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only indicators of this plan.")
        ] = None,
    ) -> AsyncGenerator[IndicatorStatusEvent, None]:
        principal = require_member(info)
        hub = _hub(info)
        wanted_indicator = _as_uuid(indicator_id)
        wanted_measure = _as_uuid(measure_id)
        wanted_plan = _as_uuid(plan_id)

        def wanted(event: Envelope[Any]) -> bool:
            p = event.payload
            return (
                event.tenant == principal.tenant
                and (wanted_indicator is None or p.indicator_id == wanted_indicator)
                and (wanted_measure is None or wanted_measure in p.measure_ids)
                and (wanted_plan is None or wanted_plan in p.plan_ids)
            )

        async for event in hub.events(INDICATOR_STATUS_CHANGED, wanted, until=principal.expires_at):
            yield IndicatorStatusEvent.of(event)


def _as_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))
