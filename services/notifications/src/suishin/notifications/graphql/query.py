"""Query root of the notifications subgraph: the caller's inbox and settings; 事務局 tools."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from suishin.kit import paging
from suishin.notifications import storage
from suishin.notifications.graphql.access import admin, me, parse_id, service
from suishin.notifications.graphql.types import (
    Delivery,
    InboxPageInfo,
    Notification,
    NotificationConnection,
    NotificationPreferences,
    NotificationSubscription,
    RoutingOutcome,
    RoutingRule,
    Silence,
    preferences_of,
    subscription_of,
)

MAX_PAGE = 100


CURSOR = paging.CursorCodec("", parts=2)  # inbox entries by (created_at, id), newest first


def _position(after: str | None) -> tuple[datetime, UUID] | None:
    if not after:
        return None
    created, ident = CURSOR.decode(after)
    try:
        return datetime.fromisoformat(created), UUID(ident)
    except ValueError as exc:
        raise paging.InvalidCursor from exc


@strawberry.type(description="Notifications: the caller's inbox and settings; 事務局 tools.")
class Query:
    @strawberry.field(description="The caller's inbox, newest first (Relay-style pagination).")
    async def my_inbox(
        self,
        info: Info[Any, Any],
        first: int = 20,
        after: str | None = None,
        unread_only: bool = False,
    ) -> NotificationConnection:
        principal, tenant = me(info)
        first = max(1, min(first, MAX_PAGE))
        position = _position(after)
        rows, has_next, total = await storage.inbox.inbox_page(
            service(info).pool,
            tenant,
            principal.subject,
            first=first,
            after=position,
            unread_only=unread_only,
        )
        return paging.page(
            NotificationConnection,
            rows,
            first=first,
            after=position is not None,
            cursor=lambda r: CURSOR.encode(r["created_at"].isoformat(), str(r["id"])),
            node=Notification.of,
            total_count=total,
            has_next_page=has_next,
            page_info=InboxPageInfo,
        )

    @strawberry.field(description="How many of the caller's notifications are unread.")
    async def unread_count(self, info: Info[Any, Any]) -> int:
        principal, tenant = me(info)
        return await storage.inbox.unread_count(service(info).pool, tenant, principal.subject)

    @strawberry.field(description="One of the caller's notifications (any, for 事務局).")
    async def notification(self, info: Info[Any, Any], id: strawberry.ID) -> Notification | None:
        principal, tenant = me(info)
        row = await storage.inbox.notification(service(info).pool, tenant, parse_id(id, "id"))
        if row is None or not (row["recipient_id"] == principal.subject or principal.is_admin):
            return None
        return Notification.of(row)

    @strawberry.field(description="The caller's subscriptions.")
    async def my_subscriptions(self, info: Info[Any, Any]) -> list[NotificationSubscription]:
        principal, tenant = me(info)
        rows = await storage.subscriptions.of_person(service(info).pool, tenant, principal.subject)
        return [subscription_of(r) for r in rows]

    @strawberry.field(description="The caller's channel and cadence preferences.")
    async def my_preferences(self, info: Info[Any, Any]) -> NotificationPreferences:
        principal, tenant = me(info)
        return preferences_of(
            await storage.subscriptions.preferences(service(info).pool, tenant, principal.subject)
        )

    @strawberry.field(description="Routing rules of the tenant (事務局).")
    async def routing_rules(self, info: Info[Any, Any]) -> list[RoutingRule]:
        _, tenant = admin(info)
        return [
            RoutingRule.of(r) for r in await storage.rules.routing_rules(service(info).pool, tenant)
        ]

    @strawberry.field(description="Silences of the tenant (事務局); expired ones on request.")
    async def silences(self, info: Info[Any, Any], include_expired: bool = False) -> list[Silence]:
        _, tenant = admin(info)
        svc = service(info)
        now = svc.clock.now()
        rows = await storage.rules.silences(svc.pool, tenant, now, include_expired)
        return [Silence.of(r, now) for r in rows]

    @strawberry.field(
        description="Every delivery and attempt of a notification (its recipient or 事務局)."
    )
    async def delivery_log(
        self, info: Info[Any, Any], notification_id: strawberry.ID
    ) -> list[Delivery]:
        principal, tenant = me(info)
        svc = service(info)
        row = await storage.inbox.notification(
            svc.pool, tenant, parse_id(notification_id, "notificationId")
        )
        if row is None or not (row["recipient_id"] == principal.subject or principal.is_admin):
            return []
        return [
            Delivery.of(r)
            for r in await storage.deliveries.for_notifications(svc.pool, [row["id"]])
        ]

    @strawberry.field(
        description="Events that ended without notification (no rule, nobody, silenced, ...), "
        "newest first (事務局)."
    )
    async def routing_outcomes(
        self, info: Info[Any, Any], first: int = 50, outcome: str | None = None
    ) -> list[RoutingOutcome]:
        _, tenant = admin(info)
        rows = await storage.alerts.routing_outcomes(
            service(info).pool, tenant, max(1, min(first, 500)), outcome
        )
        return [
            RoutingOutcome(
                source_event_id=strawberry.ID(str(r["source_event_id"]))
                if r["source_event_id"]
                else None,
                event_type=r["event_type"],
                outcome=r["outcome"],
                rule_id=strawberry.ID(str(r["rule_id"])) if r["rule_id"] else None,
                detail=r["detail"],
                created_at=r["created_at"],
            )
            for r in rows
        ]
