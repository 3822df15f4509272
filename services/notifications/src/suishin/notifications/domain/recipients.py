"""The per-tenant snapshot of directory, rules, subscriptions and silences that routing decides
on, and the resolution of targets (posts, departments, bodies, people) to the people who hold
them on a given day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from suishin.contracts.enums import Severity
from suishin.notifications.domain.directory import OWNER, Target, targets_from_json
from suishin.notifications.domain.routing import (
    DepartmentIndex,
    RuleView,
    SilenceView,
    SubscriptionView,
)
from suishin.notifications.domain.shaping import Cadence, DigestSchedule, parse_hhmm
from suishin.notifications.domain.triggers import Signal


@dataclass(frozen=True)
class Person:
    tenant: str
    id: str
    name: str
    email: str | None
    language: str
    active: bool
    email_enabled: bool
    cadence: Cadence
    muted_kinds: tuple[str, ...]
    respect_quiet_hours: bool


@dataclass(frozen=True)
class WebhookTarget:
    tenant: str
    id: str
    url: str
    format: str
    secret: str
    enabled: bool

    @property
    def recipient_id(self) -> str:
        return f"webhook:{self.id}"


def person_of(row: Mapping[str, Any]) -> Person:
    return Person(
        tenant=row["tenant"],
        id=row["id"],
        name=row["name"],
        email=row["email"],
        language=row["language"],
        active=row["active"],
        email_enabled=row["email_enabled"],
        cadence=Cadence(row["cadence"]),
        muted_kinds=tuple(row["muted_kinds"]),
        respect_quiet_hours=row["respect_quiet_hours"],
    )


@dataclass(frozen=True)
class AssignmentView:
    person_id: str
    department_code: str | None
    post_code: str | None
    body_code: str | None
    valid_from: date | None
    valid_to: date | None

    def holds(self, target: Target, departments: Sequence[str] | None, on: date) -> bool:
        """Whether this assignment holds ``target`` on day ``on``."""
        if departments is not None and self.department_code not in departments:
            return False
        if target.post is not None and self.post_code != target.post:
            return False
        if target.body is not None and self.body_code != target.body:
            return False
        if self.valid_from is not None and self.valid_from > on:
            return False
        return self.valid_to is None or self.valid_to >= on


@dataclass
class TenantSnapshot:
    """What routing needs about one tenant, loaded once per batch of events: directory (people
    with their preferences, assignments), rules, subscriptions, silences and webhooks."""

    tenant: str
    known: bool
    departments: DepartmentIndex
    rules: list[RuleView]
    subscriptions: list[SubscriptionView]
    silences: list[SilenceView]
    escalation: list[Target]
    webhooks: dict[str, WebhookTarget]
    digest: DigestSchedule
    people: dict[str, Person] = field(default_factory=dict)
    assignments: list[AssignmentView] = field(default_factory=list)
    year_style: str = "wareki"
    default_owner: list[Target] = field(default_factory=lambda: [Target(post="事務局")])
    _holders: dict[tuple[Target, tuple[str, ...], date], list[Person]] = field(
        default_factory=dict, repr=False
    )

    def people_by_id(self, ids: Iterable[str]) -> list[Person]:
        """The known people among ``ids``, ordered by id."""
        found = {self.people[i] for i in ids if i in self.people}
        return sorted(found, key=lambda p: p.id)

    def reached(
        self, target: Target, owner_departments: Sequence[str], signal: Signal, on: date
    ) -> list[Person]:
        """Who a rule's target reaches for ``signal``: its holders; for ``$owner`` when the
        event names no owning department (a plan that names none), the tenant's default owner
        (the 事務局 unless the directory says otherwise)."""
        if target.department == OWNER and not signal.department_codes:
            found: dict[str, Person] = {}
            for owner in self.default_owner:
                for person in self.holders(owner, owner_departments, on):
                    found.setdefault(person.id, person)
            return list(found.values())
        return self.holders(target, owner_departments, on)

    def holders(self, target: Target, owner_departments: Sequence[str], on: date) -> list[Person]:
        """Active people who, on day ``on``, hold an assignment matching every field of
        ``target`` (memoised per target and day)."""
        key = (target, tuple(owner_departments) if target.department == OWNER else (), on)
        cached = self._holders.get(key)
        if cached is not None:
            return cached
        people: list[Person]
        if target.person:
            people = [p for p in self.people_by_id([target.person]) if p.active]
        else:
            departments: list[str] | None = None
            if target.department == OWNER:
                departments = list(owner_departments)
            elif target.department:
                departments = [target.department]
            if departments is not None and not departments:
                people = []
            else:
                ids = {a.person_id for a in self.assignments if a.holds(target, departments, on)}
                people = [p for p in self.people_by_id(ids) if p.active]
        self._holders[key] = people
        return people


def snapshot(
    tenant: str, rows: Mapping[str, list[Any]], default_digest: DigestSchedule
) -> TenantSnapshot:
    """The snapshot of one tenant from its rows by table (see
    :func:`suishin.notifications.storage.directory.snapshot_rows`); the tenant's digest times,
    else ``default_digest``."""
    found = rows.get("tenants") or []
    row = found[0] if found else None
    settings: dict[str, Any] = (row["settings"] if row else None) or {}
    digest = DigestSchedule(
        daily_at=parse_hhmm(settings["daily_time"])
        if settings.get("daily_time")
        else default_digest.daily_at,
        weekly_weekday=settings.get("weekly_weekday", default_digest.weekly_weekday),
        weekly_at=parse_hhmm(settings["weekly_time"])
        if settings.get("weekly_time")
        else default_digest.weekly_at,
    )
    return TenantSnapshot(
        tenant=tenant,
        known=row is not None,
        departments=DepartmentIndex(
            (d["code"], d["name"], d["aliases"]) for d in rows.get("departments", [])
        ),
        rules=[rule_view(r) for r in rows.get("rules", [])],
        subscriptions=[
            SubscriptionView(
                id=s["id"],
                person_id=s["person_id"],
                event_types=tuple(s["event_types"]),
                plan_id=s["plan_id"],
                department_code=s["department_code"],
                min_severity=Severity(s["min_severity"]),
            )
            for s in rows.get("subscriptions", [])
        ],
        silences=[
            SilenceView(
                id=s["id"],
                kinds=tuple(s["kinds"]),
                subject=s["subject"],
                department_code=s["department_code"],
                recipient_id=s["recipient_id"],
                starts_at=s["starts_at"],
                expires_at=s["expires_at"],
            )
            for s in rows.get("silences", [])
        ],
        escalation=targets_from_json(row["escalation"]) if row else [],
        webhooks={
            h["id"]: WebhookTarget(
                tenant=tenant,
                id=h["id"],
                url=h["url"],
                format=h["format"],
                secret=h["secret"],
                enabled=h["enabled"],
            )
            for h in rows.get("webhooks", [])
        },
        digest=digest,
        year_style=settings.get("year_style", "wareki"),
        default_owner=targets_from_json(settings["default_owner"])
        if settings.get("default_owner")
        else [Target(post="事務局")],
        people={r["id"]: person_of(r) for r in rows.get("people", [])},
        assignments=[
            AssignmentView(
                person_id=a["person_id"],
                department_code=a["department_code"],
                post_code=a["post_code"],
                body_code=a["body_code"],
                valid_from=a["valid_from"],
                valid_to=a["valid_to"],
            )
            for a in rows.get("assignments", [])
        ],
    )


def rule_view(r: Mapping[str, Any]) -> RuleView:
    return RuleView(
        id=r["id"],
        name=r["name"],
        event_types=tuple(r["event_types"]),
        kinds=tuple(r["kinds"]),
        plan_ids=tuple(r["plan_ids"]),
        department_codes=tuple(r["department_codes"]),
        min_severity=Severity(r["min_severity"]),
        targets=tuple(targets_from_json(r["targets"])),
        webhook_ids=tuple(r["webhook_ids"]),
        escalate=r["escalate"],
        enabled=r["enabled"],
    )
