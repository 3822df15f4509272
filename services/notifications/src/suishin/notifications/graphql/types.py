"""Object, input and payload types of the notifications subgraph (Strawberry, federation v2).

"My" fields act for the caller (the token's subject in the token's tenant). Rules, silences,
the routing log and other people's delivery logs are for the 事務局 (role admin).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from suishin.kit import paging
from suishin.kit.enums import Severity as NotificationSeverity
from suishin.kit.errors import UserError
from suishin.notifications import storage
from suishin.notifications.graphql import access, loaders


@strawberry.enum(description="When non-critical e-mails reach a person.")
class DigestCadence(Enum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


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
        rows = await storage.deliveries.attempts(access.service(info).pool, [UUID(str(self.id))])
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
        rows = await loaders.deliveries(info).load(UUID(str(self.id)))
        return [Delivery.of(r) for r in rows]

    @classmethod
    async def resolve_reference(
        cls, info: Info[Any, Any], id: strawberry.ID
    ) -> Notification | None:
        principal, tenant = access.me(info)
        row = await storage.inbox.notification(
            access.service(info).pool, tenant, access.parse_id(id, "id")
        )
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
        description="no_rule, no_recipients, escalated_unreached, unknown_tenant, deduplicated, "
        "silenced, muted, alert_resolved, no_open_alert or already_settled."
    )
    rule_id: strawberry.ID | None = strawberry.field(description="The rule concerned.")
    detail: str = strawberry.field(description="Explanation.")
    created_at: datetime = strawberry.field(description="When.")


def preferences_of(row: dict[str, Any]) -> NotificationPreferences:
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


def subscription_of(r: dict[str, Any]) -> NotificationSubscription:
    return NotificationSubscription(
        id=strawberry.ID(str(r["id"])),
        event_types=list(r["event_types"]),
        plan_id=strawberry.ID(str(r["plan_id"])) if r["plan_id"] else None,
        department_code=r["department_code"],
        min_severity=NotificationSeverity(r["min_severity"]),
        source=r["source"],
    )


# --- payloads and inputs ---------------------------------------------------------------


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
