"""GraphQL subgraph of the notifications service (Strawberry, federation v2).

"My" fields act for the caller (the token's subject in the token's tenant). Rules, silences,
the routing log and other people's delivery logs are for the 事務局 (role admin).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from pydantic import ValidationError
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from suishin.contracts import topics
from suishin.contracts.enums import Role
from suishin.kit import paging
from suishin.kit.auth import Principal
from suishin.kit.enums import Severity as NotificationSeverity
from suishin.kit.errors import DomainError, Forbidden, UserError
from suishin.kit.graphql import context_of, require_tenant
from suishin.notifications import storage
from suishin.notifications.directory import OWNER, Target
from suishin.notifications.service import NotificationsService, service_of
from suishin.notifications.triggers import KINDS

EVENT_TYPES = (
    topics.INDICATOR_STATUS_CHANGED,
    topics.MEASURE_STATUS_CHANGED,
    topics.MEASURE_EVALUATED,
)
MAX_PAGE = 100
MAX_SILENCE = timedelta(days=90)


@strawberry.enum(description="When non-critical e-mails reach a person.")
class DigestCadence(Enum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


def _service(info: Info[Any, Any]) -> NotificationsService:
    return service_of(context_of(info).runtime)


def _me(info: Info[Any, Any]) -> tuple[Principal, str]:
    principal = require_tenant(info)
    assert principal.tenant is not None
    return principal, principal.tenant


def _admin(info: Info[Any, Any]) -> tuple[Principal, str]:
    principal, tenant = _me(info)
    if not principal.has(Role.ADMIN):
        raise Forbidden(
            "事務局（管理者）の権限が必要です", "This needs the secretariat (admin) role"
        )
    return principal, tenant


def _uuid(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise DomainError("INVALID_ID", "IDの形式が不正です", "Malformed id", field=field) from exc


# --- types ---------------------------------------------------------------------------------


@strawberry.type(description="One logged attempt to deliver a notice on a channel.")
class DeliveryAttempt:
    attempt: int = strawberry.field(description="1 for the first attempt, then 2, 3, ...")
    started_at: datetime = strawberry.field(description="When the attempt began.")
    finished_at: datetime = strawberry.field(description="When it ended.")
    outcome: str = strawberry.field(description="delivered, retry or failed.")
    error: str | None = strawberry.field(description="Why it failed, if it did.")
    detail: str | None = strawberry.field(description="Server reply on success.")


@strawberry.type(description="A notice's delivery on one channel (inbox, email or webhook).")
class Delivery:
    id: strawberry.ID = strawberry.field(description="Delivery id.")
    channel: str = strawberry.field(description="inbox, email or webhook.")
    status: str = strawberry.field(
        description="pending, sending, delivered, failed, digest (waiting for the digest) or "
        "digested (carried by a digest e-mail)."
    )
    address: str | None = strawberry.field(description="E-mail address or webhook URL.")
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next.")
    digest_due_at: datetime | None = strawberry.field(description="Digest slot, if waiting.")
    last_error: str | None = strawberry.field(description="Error of the last failed attempt.")
    created_at: datetime = strawberry.field(description="When the delivery was scheduled.")
    finished_at: datetime | None = strawberry.field(description="When it ended.")
    carried_by: strawberry.ID | None = strawberry.field(
        description="The group or digest e-mail delivery that carried this notice."
    )

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self, info: Info[Any, Any]) -> list[DeliveryAttempt]:
        rows = await storage.attempts_for(_service(info).pool, [UUID(str(self.id))])
        return [
            DeliveryAttempt(
                attempt=r["attempt"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                outcome=r["outcome"],
                error=r["error"],
                detail=r["detail"],
            )
            for r in rows
        ]

    @staticmethod
    def of(r: dict[str, Any]) -> Delivery:
        return Delivery(
            id=strawberry.ID(str(r["id"])),
            channel=r["channel"],
            status=r["status"],
            address=r["address"],
            attempts=r["attempts"],
            next_attempt_at=r["next_attempt_at"],
            digest_due_at=r["digest_due_at"],
            last_error=r["last_error"],
            created_at=r["created_at"],
            finished_at=r["finished_at"],
            carried_by=strawberry.ID(str(r["group_id"])) if r.get("group_id") else None,
        )


def _deliveries_loader(info: Info[Any, Any]) -> DataLoader[UUID, list[Delivery]]:
    loaders = context_of(info).loaders
    if "deliveries" not in loaders:
        pool = _service(info).pool

        async def load(ids: list[UUID]) -> list[list[Delivery]]:
            rows = await storage.deliveries_for(pool, ids)
            by: dict[UUID, list[Delivery]] = {i: [] for i in ids}
            for r in rows:
                by.setdefault(r["for_notification"], []).append(Delivery.of(r))
            return [by[i] for i in ids]

        loaders["deliveries"] = DataLoader(load_fn=load)
    loader: DataLoader[UUID, list[Delivery]] = loaders["deliveries"]
    return loader


@strawberry.federation.type(keys=["id"], description="A notice to one person (or webhook).")
class Notification:
    id: strawberry.ID = strawberry.field(description="Notification id.")
    kind: str = strawberry.field(
        description="indicator_off_track, report_overdue, indicator_recovered, "
        "indicator_at_risk, indicator_status_changed, measure_status_changed, "
        "measure_failing, measure_evaluated or escalation."
    )
    severity: NotificationSeverity = strawberry.field(description="info, warning or critical.")
    title: str = strawberry.field(description="One line, in the recipient's language.")
    body: str = strawberry.field(description="The notice text.")
    link: str | None = strawberry.field(
        description="Entity the notice is about, e.g. Indicator:<id> or Measure:<id>."
    )
    period: str | None = strawberry.field(description="Reporting period, e.g. FY2024.")
    recipient_id: str = strawberry.field(description="Person id (token subject).")
    created_at: datetime = strawberry.field(description="When it was created.")
    read_at: datetime | None = strawberry.field(description="When it was read; null = unread.")
    acknowledged_at: datetime | None = strawberry.field(description="When it was acknowledged.")
    acknowledgement_comment: str | None = strawberry.field(
        description="The comment given with the acknowledgement."
    )
    alert_id: strawberry.ID | None = strawberry.field(
        description="The alert episode (dedup, escalation, recovery) this notice belongs to."
    )
    requires_acknowledgement: bool = strawberry.field(
        description="True for alerts that escalate until acknowledged."
    )

    @strawberry.field(description="True when read_at is set.")
    def read(self) -> bool:
        return self.read_at is not None

    @strawberry.field(description="Its deliveries on every channel, with the attempt log.")
    async def deliveries(self, info: Info[Any, Any]) -> list[Delivery]:
        return await _deliveries_loader(info).load(UUID(str(self.id)))

    @classmethod
    async def resolve_reference(
        cls, info: Info[Any, Any], id: strawberry.ID
    ) -> Notification | None:
        principal, tenant = _me(info)
        row = await storage.notification(_service(info).pool, tenant, _uuid(id, "id"))
        if row is None or not (row["recipient_id"] == principal.subject or principal.is_admin):
            return None
        return Notification.of(row)

    @staticmethod
    def of(r: dict[str, Any]) -> Notification:
        return Notification(
            id=strawberry.ID(str(r["id"])),
            kind=r["kind"],
            severity=NotificationSeverity(r["severity"]),
            title=r["title"],
            body=r["body"],
            link=r["link"],
            period=r["period"],
            recipient_id=r["recipient_id"],
            created_at=r["created_at"],
            read_at=r["read_at"],
            acknowledged_at=r["acknowledged_at"],
            acknowledgement_comment=r["ack_comment"],
            alert_id=strawberry.ID(str(r["alert_id"])) if r["alert_id"] else None,
            requires_acknowledgement=r["alert_id"] is not None,
        )


@strawberry.type(description="Paging state of an inbox page.")
class InboxPageInfo(paging.PageInfo):
    pass


@strawberry.type(description="A page of the caller's inbox, newest first (Relay-style).")
class NotificationConnection(paging.Connection[Notification]):
    page_info: InboxPageInfo = strawberry.field(description="Paging state.")


CURSOR = paging.CursorCodec("", parts=2)  # inbox entries by (created_at, id), newest first


def _position(after: str | None) -> tuple[datetime, UUID] | None:
    if not after:
        return None
    created, ident = CURSOR.decode(after)
    try:
        return datetime.fromisoformat(created), UUID(ident)
    except ValueError as exc:
        raise paging.InvalidCursor from exc


@strawberry.type(description="A person's own delivery preferences.")
class NotificationPreferences:
    email_enabled: bool = strawberry.field(description="Receive e-mail besides the inbox.")
    cadence: DigestCadence = strawberry.field(
        description="Non-critical e-mails at once, or in a daily or weekly digest."
    )
    muted_kinds: list[str] = strawberry.field(
        description="Kinds not wanted at all (critical alerts still arrive)."
    )
    respect_quiet_hours: bool = strawberry.field(
        description="Hold non-critical e-mails during quiet hours, weekends and holidays (JST)."
    )
    language: str = strawberry.field(description="ja or en.")
    in_directory: bool = strawberry.field(description="The person is in the tenant directory.")


@strawberry.type(description="A person's subscription to events by type, plan, department.")
class NotificationSubscription:
    id: strawberry.ID = strawberry.field(description="Subscription id.")
    event_types: list[str] = strawberry.field(description="Event types; empty = all.")
    plan_id: strawberry.ID | None = strawberry.field(description="Only this plan, if set.")
    department_code: str | None = strawberry.field(description="Only this department, if set.")
    min_severity: NotificationSeverity = strawberry.field(description="Lowest severity wanted.")
    source: str = strawberry.field(description="directory (imported) or user.")


@strawberry.type(description="Whom a rule reaches; the fields given hold on one assignment.")
class RoutingTarget:
    post: str | None = strawberry.field(description="A post, e.g. CIO, 事務局, 課長.")
    department: str | None = strawberry.field(
        description="A department code, or $owner for the departments owning the subject."
    )
    body: str | None = strawberry.field(description="A body, e.g. DX推進本部.")
    person: str | None = strawberry.field(description="A person id.")


@strawberry.type(description="A routing rule of the tenant (事務局).")
class RoutingRule:
    id: strawberry.ID = strawberry.field(description="Rule id.")
    name: str = strawberry.field(description="Name, unique enough to recognise.")
    event_types: list[str] = strawberry.field(description="Event types; empty = all.")
    kinds: list[str] = strawberry.field(description="Notice kinds; empty = all.")
    plan_ids: list[strawberry.ID] = strawberry.field(description="Plans; empty = all.")
    department_codes: list[str] = strawberry.field(description="Departments; empty = all.")
    min_severity: NotificationSeverity = strawberry.field(description="Lowest severity matched.")
    targets: list[RoutingTarget] = strawberry.field(description="Who receives.")
    webhook_ids: list[str] = strawberry.field(description="Webhooks that receive.")
    escalate: bool = strawberry.field(description="Alerts escalate while unacknowledged.")
    enabled: bool = strawberry.field(description="Disabled rules match nothing.")
    source: str = strawberry.field(description="directory (imported) or user.")
    created_by: str | None = strawberry.field(description="Who created it.")
    created_at: datetime = strawberry.field(description="When.")

    @staticmethod
    def of(r: dict[str, Any]) -> RoutingRule:
        return RoutingRule(
            id=strawberry.ID(str(r["id"])),
            name=r["name"],
            event_types=list(r["event_types"]),
            kinds=list(r["kinds"]),
            plan_ids=[strawberry.ID(str(p)) for p in r["plan_ids"]],
            department_codes=list(r["department_codes"]),
            min_severity=NotificationSeverity(r["min_severity"]),
            targets=[
                RoutingTarget(
                    post=t.get("post"),
                    department=t.get("department"),
                    body=t.get("body"),
                    person=t.get("person"),
                )
                for t in r["targets"]
            ],
            webhook_ids=list(r["webhook_ids"]),
            escalate=r["escalate"],
            enabled=r["enabled"],
            source=r["source"],
            created_by=r["created_by"],
            created_at=r["created_at"],
        )


@strawberry.type(
    description="A silence: matching non-critical notices are not sent until it expires."
)
class Silence:
    id: strawberry.ID = strawberry.field(description="Silence id.")
    kinds: list[str] = strawberry.field(description="Kinds silenced; empty = all.")
    subject: str | None = strawberry.field(description="Only this entity, e.g. Indicator:<id>.")
    department_code: str | None = strawberry.field(description="Only this department.")
    recipient_id: str | None = strawberry.field(description="Only this person.")
    reason: str = strawberry.field(description="Why.")
    created_by: str = strawberry.field(description="Who created it.")
    starts_at: datetime = strawberry.field(description="From.")
    expires_at: datetime = strawberry.field(description="Until (exclusive).")
    active: bool = strawberry.field(description="In force now.")

    @staticmethod
    def of(r: dict[str, Any], now: datetime) -> Silence:
        return Silence(
            id=strawberry.ID(str(r["id"])),
            kinds=list(r["kinds"]),
            subject=r["subject"],
            department_code=r["department_code"],
            recipient_id=r["recipient_id"],
            reason=r["reason"],
            created_by=r["created_by"],
            starts_at=r["starts_at"],
            expires_at=r["expires_at"],
            active=r["starts_at"] <= now < r["expires_at"],
        )


@strawberry.type(description="An event that ended without (some) notification, and why.")
class RoutingOutcome:
    source_event_id: strawberry.ID | None = strawberry.field(description="The event.")
    event_type: str = strawberry.field(description="Its type.")
    outcome: str = strawberry.field(
        description="no_rule, no_recipients, unknown_tenant, deduplicated, silenced, muted, "
        "alert_resolved or no_open_alert."
    )
    rule_id: strawberry.ID | None = strawberry.field(description="The rule concerned.")
    detail: str = strawberry.field(description="Explanation.")
    created_at: datetime = strawberry.field(description="When.")


def _preferences(row: dict[str, Any]) -> NotificationPreferences:
    email_enabled = row.get("email_enabled")
    quiet = row.get("respect_quiet_hours")
    return NotificationPreferences(
        email_enabled=True if email_enabled is None else bool(email_enabled),
        cadence=DigestCadence(row.get("cadence") or "immediate"),
        muted_kinds=list(row.get("muted_kinds") or []),
        respect_quiet_hours=True if quiet is None else bool(quiet),
        language=row.get("language") or row.get("person_language") or "ja",
        in_directory=bool(row.get("known")),
    )


def _subscription(r: dict[str, Any]) -> NotificationSubscription:
    return NotificationSubscription(
        id=strawberry.ID(str(r["id"])),
        event_types=list(r["event_types"]),
        plan_id=strawberry.ID(str(r["plan_id"])) if r["plan_id"] else None,
        department_code=r["department_code"],
        min_severity=NotificationSeverity(r["min_severity"]),
        source=r["source"],
    )


# --- queries -------------------------------------------------------------------------------


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
        principal, tenant = _me(info)
        first = max(1, min(first, MAX_PAGE))
        position = _position(after)
        rows, has_next, total = await storage.inbox_page(
            _service(info).pool,
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
        principal, tenant = _me(info)
        return await storage.unread_count(_service(info).pool, tenant, principal.subject)

    @strawberry.field(description="One of the caller's notifications (any, for 事務局).")
    async def notification(self, info: Info[Any, Any], id: strawberry.ID) -> Notification | None:
        principal, tenant = _me(info)
        row = await storage.notification(_service(info).pool, tenant, _uuid(id, "id"))
        if row is None or not (row["recipient_id"] == principal.subject or principal.is_admin):
            return None
        return Notification.of(row)

    @strawberry.field(description="The caller's subscriptions.")
    async def my_subscriptions(self, info: Info[Any, Any]) -> list[NotificationSubscription]:
        principal, tenant = _me(info)
        rows = await storage.subscriptions(_service(info).pool, tenant, principal.subject)
        return [_subscription(r) for r in rows]

    @strawberry.field(description="The caller's channel and cadence preferences.")
    async def my_preferences(self, info: Info[Any, Any]) -> NotificationPreferences:
        principal, tenant = _me(info)
        return _preferences(
            await storage.preferences(_service(info).pool, tenant, principal.subject)
        )

    @strawberry.field(description="Routing rules of the tenant (事務局).")
    async def routing_rules(self, info: Info[Any, Any]) -> list[RoutingRule]:
        _, tenant = _admin(info)
        return [RoutingRule.of(r) for r in await storage.rules(_service(info).pool, tenant)]

    @strawberry.field(description="Silences of the tenant (事務局); expired ones on request.")
    async def silences(self, info: Info[Any, Any], include_expired: bool = False) -> list[Silence]:
        _, tenant = _admin(info)
        service = _service(info)
        now = service.clock.now()
        rows = await storage.silences(service.pool, tenant, now, include_expired)
        return [Silence.of(r, now) for r in rows]

    @strawberry.field(
        description="Every delivery and attempt of a notification (its recipient or 事務局)."
    )
    async def delivery_log(
        self, info: Info[Any, Any], notification_id: strawberry.ID
    ) -> list[Delivery]:
        principal, tenant = _me(info)
        service = _service(info)
        row = await storage.notification(
            service.pool, tenant, _uuid(notification_id, "notificationId")
        )
        if row is None or not (row["recipient_id"] == principal.subject or principal.is_admin):
            return []
        return [Delivery.of(r) for r in await storage.deliveries_for(service.pool, [row["id"]])]

    @strawberry.field(
        description="Events that ended without notification (no rule, nobody, silenced, ...), "
        "newest first (事務局)."
    )
    async def routing_outcomes(
        self, info: Info[Any, Any], first: int = 50, outcome: str | None = None
    ) -> list[RoutingOutcome]:
        _, tenant = _admin(info)
        rows = await storage.routing_outcomes(
            _service(info).pool, tenant, max(1, min(first, 500)), outcome
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


# --- mutations -----------------------------------------------------------------------------


@strawberry.type(description="Result of acknowledge.")
class AcknowledgePayload:
    notification: Notification | None = strawberry.field(description="The notice, updated.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.type(description="Result of markRead / markAllRead.")
class MarkReadPayload:
    notifications: list[Notification] = strawberry.field(description="Notices now read.")
    unread_count: int = strawberry.field(description="Unread notices left.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.type(description="Result of updateMyPreferences.")
class PreferencesPayload:
    preferences: NotificationPreferences | None = strawberry.field(description="Now in force.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.type(description="Result of subscribe / unsubscribe.")
class SubscriptionPayload:
    subscription: NotificationSubscription | None = strawberry.field(description="It.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.type(description="Result of createRoutingRule / setRoutingRuleEnabled.")
class RoutingRulePayload:
    rule: RoutingRule | None = strawberry.field(description="The rule.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.type(description="Result of createSilence / expireSilence.")
class SilencePayload:
    silence: Silence | None = strawberry.field(description="The silence.")
    errors: list[UserError] = strawberry.field(description="Why it was refused, if it was.")


@strawberry.input(description="Changes to the caller's preferences; omitted fields stay.")
class PreferencesInput:
    email_enabled: bool | None = strawberry.field(default=None, description="E-mail on/off.")
    cadence: DigestCadence | None = strawberry.field(default=None, description="Cadence.")
    muted_kinds: list[str] | None = strawberry.field(default=None, description="Muted kinds.")
    respect_quiet_hours: bool | None = strawberry.field(default=None, description="Quiet hours.")
    language: str | None = strawberry.field(default=None, description="ja or en.")


@strawberry.input(description="A new subscription of the caller.")
class SubscriptionInput:
    event_types: list[str] = strawberry.field(default_factory=list, description="Empty = all.")
    plan_id: strawberry.ID | None = strawberry.field(default=None, description="Only this plan.")
    department_code: str | None = strawberry.field(default=None, description="Only this dept.")
    min_severity: NotificationSeverity = strawberry.field(
        default=NotificationSeverity.INFO, description="Lowest severity wanted."
    )


@strawberry.input(description="Whom a rule reaches.")
class RoutingTargetInput:
    post: str | None = strawberry.field(default=None, description="Post code.")
    department: str | None = strawberry.field(default=None, description="Dept code or $owner.")
    body: str | None = strawberry.field(default=None, description="Body code.")
    person: str | None = strawberry.field(default=None, description="Person id.")


@strawberry.input(description="A new routing rule.")
class RoutingRuleInput:
    name: str = strawberry.field(description="Name.")
    event_types: list[str] = strawberry.field(default_factory=list, description="Empty = all.")
    kinds: list[str] = strawberry.field(default_factory=list, description="Empty = all.")
    plan_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="Plans.")
    department_codes: list[str] = strawberry.field(default_factory=list, description="Depts.")
    min_severity: NotificationSeverity = strawberry.field(
        default=NotificationSeverity.INFO, description="Lowest severity matched."
    )
    targets: list[RoutingTargetInput] = strawberry.field(default_factory=list, description="Who.")
    webhook_ids: list[str] = strawberry.field(default_factory=list, description="Webhooks.")
    escalate: bool = strawberry.field(default=False, description="Escalate if unacknowledged.")


@strawberry.input(description="A new silence.")
class SilenceInput:
    reason: str = strawberry.field(description="Why (required).")
    expires_at: datetime = strawberry.field(description="Until; at most 90 days ahead.")
    starts_at: datetime | None = strawberry.field(default=None, description="From; default now.")
    kinds: list[str] = strawberry.field(default_factory=list, description="Empty = all kinds.")
    subject: str | None = strawberry.field(default=None, description="e.g. Indicator:<id>.")
    department_code: str | None = strawberry.field(default=None, description="Department.")
    recipient_id: str | None = strawberry.field(default=None, description="Person.")


def _errors(error: DomainError) -> list[UserError]:
    return [UserError.of(error)]


def _check_kinds(kinds: list[str], field: str) -> None:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise DomainError(
            "UNKNOWN_KIND",
            f"不明な通知種別です: {', '.join(unknown)}",
            f"Unknown notice kind(s): {', '.join(unknown)}",
            field=field,
        )


def _check_event_types(event_types: list[str], field: str) -> None:
    unknown = [e for e in event_types if e not in EVENT_TYPES]
    if unknown:
        raise DomainError(
            "UNKNOWN_EVENT_TYPE",
            f"不明なイベント種別です: {', '.join(unknown)}",
            f"Unknown event type(s): {', '.join(unknown)}",
            field=field,
        )


@strawberry.type(description="Notifications: acknowledge, read, preferences; 事務局 tools.")
class Mutation:
    @strawberry.mutation(
        description="Acknowledge one of the caller's notices with a comment; stops escalation."
    )
    async def acknowledge(
        self, info: Info[Any, Any], notification_id: strawberry.ID, comment: str | None = None
    ) -> AcknowledgePayload:
        try:
            principal, tenant = _me(info)
            if comment is not None and len(comment) > 2000:
                raise DomainError(
                    "COMMENT_TOO_LONG",
                    "コメントは2000文字以内にしてください",
                    "The comment must be at most 2000 characters",
                    field="comment",
                )
            service = _service(info)
            row = await storage.acknowledge(
                service.pool,
                tenant,
                principal.subject,
                _uuid(notification_id, "notificationId"),
                comment.strip() if comment else None,
                service.clock.now(),
            )
        except DomainError as exc:
            return AcknowledgePayload(notification=None, errors=_errors(exc))
        return AcknowledgePayload(notification=Notification.of(row), errors=[])

    @strawberry.mutation(description="Mark some of the caller's notices read.")
    async def mark_read(
        self, info: Info[Any, Any], notification_ids: list[strawberry.ID]
    ) -> MarkReadPayload:
        try:
            principal, tenant = _me(info)
            ids = [_uuid(i, "notificationIds") for i in notification_ids]
            service = _service(info)
            rows = await storage.mark_read(
                service.pool, tenant, principal.subject, ids, service.clock.now()
            )
            unread = await storage.unread_count(service.pool, tenant, principal.subject)
        except DomainError as exc:
            return MarkReadPayload(notifications=[], unread_count=0, errors=_errors(exc))
        return MarkReadPayload(
            notifications=[Notification.of(r) for r in rows], unread_count=unread, errors=[]
        )

    @strawberry.mutation(description="Mark all of the caller's notices read.")
    async def mark_all_read(self, info: Info[Any, Any]) -> MarkReadPayload:
        try:
            principal, tenant = _me(info)
            service = _service(info)
            rows = await storage.mark_read(
                service.pool, tenant, principal.subject, None, service.clock.now()
            )
        except DomainError as exc:
            return MarkReadPayload(notifications=[], unread_count=0, errors=_errors(exc))
        return MarkReadPayload(
            notifications=[Notification.of(r) for r in rows], unread_count=0, errors=[]
        )

    @strawberry.mutation(description="Change the caller's channel and cadence preferences.")
    async def update_my_preferences(
        self, info: Info[Any, Any], input: PreferencesInput
    ) -> PreferencesPayload:
        try:
            principal, tenant = _me(info)
            if input.muted_kinds is not None:
                _check_kinds(input.muted_kinds, "input.mutedKinds")
            if input.language is not None and input.language not in ("ja", "en"):
                raise DomainError(
                    "UNKNOWN_LANGUAGE",
                    "言語は ja または en を指定してください",
                    "Language must be ja or en",
                    field="input.language",
                )
            service = _service(info)
            row = await storage.update_preferences(
                service.pool,
                tenant,
                principal.subject,
                {
                    "email_enabled": input.email_enabled,
                    "cadence": input.cadence.value if input.cadence else None,
                    "muted_kinds": input.muted_kinds,
                    "respect_quiet_hours": input.respect_quiet_hours,
                    "language": input.language,
                },
                service.clock.now(),
            )
        except DomainError as exc:
            return PreferencesPayload(preferences=None, errors=_errors(exc))
        return PreferencesPayload(preferences=_preferences(row), errors=[])

    @strawberry.mutation(description="Subscribe the caller to events by type, plan, department.")
    async def subscribe(
        self, info: Info[Any, Any], input: SubscriptionInput
    ) -> SubscriptionPayload:
        try:
            principal, tenant = _me(info)
            _check_event_types(input.event_types, "input.eventTypes")
            service = _service(info)
            codes = await storage.directory_codes(service.pool, tenant)
            if principal.subject not in codes["person"]:
                raise DomainError(
                    "UNKNOWN_PERSON",
                    "通知先の名簿に登録されていません（事務局に登録を依頼してください）",
                    "You are not in the notification directory; ask the secretariat to add you",
                )
            if input.department_code and input.department_code not in codes["department"]:
                raise DomainError(
                    "UNKNOWN_DEPARTMENT",
                    f"部署「{input.department_code}」は名簿にありません",
                    f"Department {input.department_code!r} is not in the directory",
                    field="input.departmentCode",
                )
            row = await storage.create_subscription(
                service.pool,
                tenant,
                principal.subject,
                {
                    "event_types": input.event_types,
                    "plan_id": _uuid(input.plan_id, "input.planId") if input.plan_id else None,
                    "department_code": input.department_code,
                    "min_severity": input.min_severity.value,
                },
                service.clock.now(),
            )
        except DomainError as exc:
            return SubscriptionPayload(subscription=None, errors=_errors(exc))
        return SubscriptionPayload(subscription=_subscription(row), errors=[])

    @strawberry.mutation(description="Remove one of the caller's subscriptions.")
    async def unsubscribe(self, info: Info[Any, Any], id: strawberry.ID) -> SubscriptionPayload:
        try:
            principal, tenant = _me(info)
            if not await storage.delete_subscription(
                _service(info).pool, tenant, principal.subject, _uuid(id, "id")
            ):
                raise DomainError(
                    "NOT_FOUND", "購読が見つかりません", "Subscription not found", field="id"
                )
        except DomainError as exc:
            return SubscriptionPayload(subscription=None, errors=_errors(exc))
        return SubscriptionPayload(subscription=None, errors=[])

    @strawberry.mutation(description="Create a routing rule (事務局).")
    async def create_routing_rule(
        self, info: Info[Any, Any], input: RoutingRuleInput
    ) -> RoutingRulePayload:
        try:
            principal, tenant = _admin(info)
            service = _service(info)
            values = await _validate_rule(service, tenant, input)
            row = await storage.create_rule(
                service.pool, tenant, values, principal.subject, service.clock.now()
            )
        except DomainError as exc:
            return RoutingRulePayload(rule=None, errors=_errors(exc))
        return RoutingRulePayload(rule=RoutingRule.of(row), errors=[])

    @strawberry.mutation(description="Enable or disable a routing rule (事務局).")
    async def set_routing_rule_enabled(
        self, info: Info[Any, Any], id: strawberry.ID, enabled: bool
    ) -> RoutingRulePayload:
        try:
            _, tenant = _admin(info)
            row = await storage.set_rule_enabled(
                _service(info).pool, tenant, _uuid(id, "id"), enabled
            )
        except DomainError as exc:
            return RoutingRulePayload(rule=None, errors=_errors(exc))
        return RoutingRulePayload(rule=RoutingRule.of(row), errors=[])

    @strawberry.mutation(
        description="Silence non-critical notices until a time (事務局); critical ones still go."
    )
    async def create_silence(self, info: Info[Any, Any], input: SilenceInput) -> SilencePayload:
        try:
            principal, tenant = _admin(info)
            service = _service(info)
            now = service.clock.now()
            values = _validate_silence(input, now)
            row = await storage.create_silence(service.pool, tenant, values, principal.subject, now)
        except DomainError as exc:
            return SilencePayload(silence=None, errors=_errors(exc))
        return SilencePayload(silence=Silence.of(row, now), errors=[])

    @strawberry.mutation(description="End a silence now (事務局).")
    async def expire_silence(self, info: Info[Any, Any], id: strawberry.ID) -> SilencePayload:
        try:
            _, tenant = _admin(info)
            service = _service(info)
            now = service.clock.now()
            row = await storage.expire_silence(service.pool, tenant, _uuid(id, "id"), now)
        except DomainError as exc:
            return SilencePayload(silence=None, errors=_errors(exc))
        return SilencePayload(silence=Silence.of(row, now), errors=[])


async def _validate_rule(
    service: NotificationsService, tenant: str, input: RoutingRuleInput
) -> dict[str, Any]:
    name = input.name.strip()
    if not name or len(name) > 200:
        raise DomainError(
            "INVALID_NAME",
            "名前は1〜200文字で指定してください",
            "The name must have 1 to 200 characters",
            field="input.name",
        )
    _check_event_types(input.event_types, "input.eventTypes")
    _check_kinds(input.kinds, "input.kinds")
    codes = await storage.directory_codes(service.pool, tenant)
    targets: list[dict[str, str]] = []
    for i, t in enumerate(input.targets):
        field = f"input.targets[{i}]"
        try:
            target = Target(post=t.post, department=t.department, body=t.body, person=t.person)
        except ValidationError as exc:
            raise DomainError(
                "INVALID_TARGET",
                "宛先には post・department・body・person のいずれかが必要です（person は単独）",
                f"Invalid target: {exc.errors()[0]['msg']}",
                field=field,
            ) from exc
        for kind, value in (
            ("department", target.department),
            ("post", target.post),
            ("body", target.body),
            ("person", target.person),
        ):
            if value and not (kind == "department" and value == OWNER) and value not in codes[kind]:
                raise DomainError(
                    "UNKNOWN_TARGET",
                    f"{kind}「{value}」は名簿にありません",
                    f"{kind} {value!r} is not in the directory",
                    field=f"{field}.{kind}",
                )
        targets.append(target.model_dump(exclude_none=True))
    for hook in input.webhook_ids:
        if hook not in codes["webhook"]:
            raise DomainError(
                "UNKNOWN_WEBHOOK",
                f"Webhook「{hook}」は登録されていません",
                f"Webhook {hook!r} is not registered",
                field="input.webhookIds",
            )
    for code in input.department_codes:
        if code not in codes["department"]:
            raise DomainError(
                "UNKNOWN_DEPARTMENT",
                f"部署「{code}」は名簿にありません",
                f"Department {code!r} is not in the directory",
                field="input.departmentCodes",
            )
    if not targets and not input.webhook_ids:
        raise DomainError(
            "NO_TARGETS",
            "宛先（targets または webhookIds）を1つ以上指定してください",
            "Give at least one target or webhook",
            field="input.targets",
        )
    return {
        "name": name,
        "event_types": input.event_types,
        "kinds": input.kinds,
        "plan_ids": [_uuid(p, "input.planIds") for p in input.plan_ids],
        "department_codes": input.department_codes,
        "min_severity": input.min_severity.value,
        "targets": targets,
        "webhook_ids": input.webhook_ids,
        "escalate": input.escalate,
    }


def _validate_silence(input: SilenceInput, now: datetime) -> dict[str, Any]:
    reason = input.reason.strip()
    if not reason:
        raise DomainError(
            "REASON_REQUIRED",
            "理由を入力してください",
            "A reason is required",
            field="input.reason",
        )
    if input.expires_at.tzinfo is None or (input.starts_at and input.starts_at.tzinfo is None):
        raise DomainError(
            "TIMEZONE_REQUIRED",
            "日時にはタイムゾーンを付けてください（例: 2025-04-01T09:00:00+09:00）",
            "Give times with a timezone (e.g. 2025-04-01T09:00:00+09:00)",
            field="input.expiresAt",
        )
    starts = input.starts_at or now
    if input.expires_at <= max(starts, now):
        raise DomainError(
            "EXPIRY_IN_PAST",
            "期限は開始日時および現在より後にしてください",
            "The expiry must be after the start and in the future",
            field="input.expiresAt",
        )
    if input.expires_at - starts > MAX_SILENCE:
        raise DomainError(
            "SILENCE_TOO_LONG",
            "サイレンスの期間は90日以内にしてください",
            "A silence may last at most 90 days",
            field="input.expiresAt",
        )
    _check_kinds(input.kinds, "input.kinds")
    return {
        "reason": reason,
        "starts_at": starts,
        "expires_at": input.expires_at,
        "kinds": input.kinds,
        "subject": input.subject,
        "department_code": input.department_code,
        "recipient_id": input.recipient_id,
    }


schema = strawberry.federation.Schema(
    query=Query, mutation=Mutation, types=[Notification], federation_version="2.7"
)
