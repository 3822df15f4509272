"""Mutation root of the notifications subgraph: each mutation parses its input, runs ONE
command in a transaction and maps a DomainError to the payload's typed errors (ja/en)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from suishin.kit.db import transaction
from suishin.kit.errors import DomainError, UserError
from suishin.notifications import commands
from suishin.notifications.graphql.access import admin, me, parse_id, service
from suishin.notifications.graphql.types import (
    AcknowledgePayload,
    MarkReadPayload,
    Notification,
    PreferencesInput,
    PreferencesPayload,
    RoutingRule,
    RoutingRuleInput,
    RoutingRulePayload,
    Silence,
    SilenceInput,
    SilencePayload,
    SubscriptionInput,
    SubscriptionPayload,
    preferences_of,
    subscription_of,
)


def _errors(error: DomainError) -> list[UserError]:
    return [UserError.of(error)]


@strawberry.type(description="Notifications: acknowledge, read, preferences; 事務局 tools.")
class Mutation:
    @strawberry.mutation(
        description="Acknowledge one of the caller's notices with a comment; stops escalation."
    )
    async def acknowledge(
        self, info: Info[Any, Any], notification_id: strawberry.ID, comment: str | None = None
    ) -> AcknowledgePayload:
        try:
            principal, tenant = me(info)
            svc = service(info)
            async with transaction(svc.pool) as conn:
                row = await commands.acknowledge(
                    conn, tenant, principal.subject, notification_id, comment, svc.clock.now()
                )
        except DomainError as exc:
            return AcknowledgePayload(notification=None, errors=_errors(exc))
        return AcknowledgePayload(notification=Notification.of(row), errors=[])

    @strawberry.mutation(description="Mark some of the caller's notices read.")
    async def mark_read(
        self, info: Info[Any, Any], notification_ids: list[strawberry.ID]
    ) -> MarkReadPayload:
        try:
            principal, tenant = me(info)
            ids = [parse_id(i, "notificationIds") for i in notification_ids]
            svc = service(info)
            async with transaction(svc.pool) as conn:
                rows, unread = await commands.mark_read(
                    conn, tenant, principal.subject, ids, svc.clock.now()
                )
        except DomainError as exc:
            return MarkReadPayload(notifications=[], unread_count=0, errors=_errors(exc))
        return MarkReadPayload(
            notifications=[Notification.of(r) for r in rows], unread_count=unread, errors=[]
        )

    @strawberry.mutation(description="Mark all of the caller's notices read.")
    async def mark_all_read(self, info: Info[Any, Any]) -> MarkReadPayload:
        try:
            principal, tenant = me(info)
            svc = service(info)
            async with transaction(svc.pool) as conn:
                rows, unread = await commands.mark_read(
                    conn, tenant, principal.subject, None, svc.clock.now()
                )
        except DomainError as exc:
            return MarkReadPayload(notifications=[], unread_count=0, errors=_errors(exc))
        return MarkReadPayload(
            notifications=[Notification.of(r) for r in rows], unread_count=unread, errors=[]
        )

    @strawberry.mutation(description="Change the caller's channel and cadence preferences.")
    async def update_my_preferences(
        self, info: Info[Any, Any], input: PreferencesInput
    ) -> PreferencesPayload:
        try:
            principal, tenant = me(info)
            svc = service(info)
            async with transaction(svc.pool) as conn:
                row = await commands.update_preferences(
                    conn,
                    tenant,
                    principal.subject,
                    {
                        "email_enabled": input.email_enabled,
                        "cadence": input.cadence.value if input.cadence else None,
                        "muted_kinds": input.muted_kinds,
                        "respect_quiet_hours": input.respect_quiet_hours,
                        "language": input.language,
                    },
                    svc.clock.now(),
                )
        except DomainError as exc:
            return PreferencesPayload(preferences=None, errors=_errors(exc))
        return PreferencesPayload(preferences=preferences_of(row), errors=[])

    @strawberry.mutation(description="Subscribe the caller to events by type, plan, department.")
    async def subscribe(
        self, info: Info[Any, Any], input: SubscriptionInput
    ) -> SubscriptionPayload:
        try:
            principal, tenant = me(info)
            svc = service(info)
            async with transaction(svc.pool) as conn:
                row = await commands.subscribe(
                    conn,
                    tenant,
                    principal.subject,
                    event_types=input.event_types,
                    plan_id=input.plan_id,
                    department_code=input.department_code,
                    min_severity=input.min_severity.value,
                    now=svc.clock.now(),
                )
        except DomainError as exc:
            return SubscriptionPayload(subscription=None, errors=_errors(exc))
        return SubscriptionPayload(subscription=subscription_of(row), errors=[])

    @strawberry.mutation(description="Remove one of the caller's subscriptions.")
    async def unsubscribe(self, info: Info[Any, Any], id: strawberry.ID) -> SubscriptionPayload:
        try:
            principal, tenant = me(info)
            ident = parse_id(id, "id")
            async with transaction(service(info).pool) as conn:
                await commands.unsubscribe(conn, tenant, principal.subject, ident)
        except DomainError as exc:
            return SubscriptionPayload(subscription=None, errors=_errors(exc))
        return SubscriptionPayload(subscription=None, errors=[])

    @strawberry.mutation(description="Create a routing rule (事務局).")
    async def create_routing_rule(
        self, info: Info[Any, Any], input: RoutingRuleInput
    ) -> RoutingRulePayload:
        try:
            principal, tenant = admin(info)
            svc = service(info)
            rule = {
                "name": input.name,
                "event_types": input.event_types,
                "kinds": input.kinds,
                "plan_ids": list(input.plan_ids),
                "department_codes": input.department_codes,
                "min_severity": input.min_severity.value,
                "targets": [
                    {"post": t.post, "department": t.department, "body": t.body, "person": t.person}
                    for t in input.targets
                ],
                "webhook_ids": input.webhook_ids,
                "escalate": input.escalate,
            }
            async with transaction(svc.pool) as conn:
                row = await commands.create_routing_rule(
                    conn, tenant, principal.subject, rule, svc.clock.now()
                )
        except DomainError as exc:
            return RoutingRulePayload(rule=None, errors=_errors(exc))
        return RoutingRulePayload(rule=RoutingRule.of(row), errors=[])

    @strawberry.mutation(description="Enable or disable a routing rule (事務局).")
    async def set_routing_rule_enabled(
        self, info: Info[Any, Any], id: strawberry.ID, enabled: bool
    ) -> RoutingRulePayload:
        try:
            _, tenant = admin(info)
            ident = parse_id(id, "id")
            async with transaction(service(info).pool) as conn:
                row = await commands.set_routing_rule_enabled(conn, tenant, ident, enabled)
        except DomainError as exc:
            return RoutingRulePayload(rule=None, errors=_errors(exc))
        return RoutingRulePayload(rule=RoutingRule.of(row), errors=[])

    @strawberry.mutation(
        description="Silence non-critical notices until a time (事務局); critical ones still go."
    )
    async def create_silence(self, info: Info[Any, Any], input: SilenceInput) -> SilencePayload:
        try:
            principal, tenant = admin(info)
            svc = service(info)
            now = svc.clock.now()
            silence = {
                "reason": input.reason,
                "expires_at": input.expires_at,
                "starts_at": input.starts_at,
                "kinds": input.kinds,
                "subject": input.subject,
                "department_code": input.department_code,
                "recipient_id": input.recipient_id,
            }
            async with transaction(svc.pool) as conn:
                row = await commands.create_silence(conn, tenant, principal.subject, silence, now)
        except DomainError as exc:
            return SilencePayload(silence=None, errors=_errors(exc))
        return SilencePayload(silence=Silence.of(row, now), errors=[])

    @strawberry.mutation(description="End a silence now (事務局).")
    async def expire_silence(self, info: Info[Any, Any], id: strawberry.ID) -> SilencePayload:
        try:
            _, tenant = admin(info)
            ident = parse_id(id, "id")
            svc = service(info)
            now = svc.clock.now()
            async with transaction(svc.pool) as conn:
                row = await commands.expire_silence(conn, tenant, ident, now)
        except DomainError as exc:
            return SilencePayload(silence=None, errors=_errors(exc))
        return SilencePayload(silence=Silence.of(row, now), errors=[])
