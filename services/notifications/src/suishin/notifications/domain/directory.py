"""The directory of a tenant: departments, bodies, posts, people and their assignments, webhooks
and the default routing rules (the model of ``datasets/directory/<tenant>.yaml``, read by
:mod:`suishin.notifications.directory`).

Staff rotate every April, so rules never name people for a role: they target posts, departments
and bodies, and an assignment says who holds what between ``valid_from`` and ``valid_to``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from suishin.contracts.enums import Severity
from suishin.contracts.ids import SUISHIN_NAMESPACE
from suishin.notifications.domain.shaping import Cadence
from suishin.notifications.domain.triggers import KINDS

OWNER = "$owner"
"""In a target, ``department: $owner`` means the departments that own the event's subject."""

Code = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """Who a rule reaches. The fields given must hold on one assignment: ``{department: $owner,
    post: 課長}`` is the 課長 of each owning department; ``{post: CIO}`` whoever is CIO."""

    post: Code | None = None
    department: Code | None = None
    body: Code | None = None
    person: Code | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Self:
        if not (self.post or self.department or self.body or self.person):
            raise ValueError("a target needs post, department, body or person")
        if self.person and (self.post or self.department or self.body):
            raise ValueError("a person target cannot be combined with post/department/body")
        return self

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in (
                ("person", self.person),
                ("department", self.department),
                ("post", self.post),
                ("body", self.body),
            )
            if v
        ]
        return ",".join(parts)


class Department(_Model):
    code: Code
    name: str
    bu: str | None = Field(default=None, description="The 部 the 課 belongs to.")
    aliases: list[str] = Field(
        default_factory=list, description="Other spellings events may use for this department."
    )


class Body(_Model):
    code: Code
    name: str


class Post(_Model):
    code: Code
    name: str


class Assignment(_Model):
    department: Code | None = None
    post: Code | None = None
    body: Code | None = None
    title: str | None = Field(default=None, description="As printed, e.g. 本部員, 課長.")
    valid_from: date | None = None
    valid_to: date | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not (self.department or self.post or self.body):
            raise ValueError("an assignment needs department, post or body")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class PreferencesSpec(_Model):
    email: bool = True
    cadence: Cadence = Cadence.IMMEDIATE
    muted_kinds: list[str] = Field(default_factory=list)
    respect_quiet_hours: bool = True


class SubscriptionSpec(_Model):
    event_types: list[str] = Field(default_factory=list)
    plan_id: UUID | None = None
    department: Code | None = None
    min_severity: Severity = Severity.INFO


class Person(_Model):
    id: Code = Field(description="Equals the bearer token's subject, e.g. cio@itabashi.")
    name: str
    email: str | None = None
    language: Literal["ja", "en"] = "ja"
    active: bool = True
    assignments: list[Assignment] = Field(default_factory=list)
    preferences: PreferencesSpec = Field(default_factory=PreferencesSpec)
    subscriptions: list[SubscriptionSpec] = Field(default_factory=list)


class Webhook(_Model):
    id: Code
    url: str
    format: Literal["generic", "slack", "teams"] = "generic"
    secret: str | None = Field(default=None, description="Inline secret (development only).")
    secret_env: str | None = Field(default=None, description="Environment variable with it.")
    enabled: bool = True


class Rule(_Model):
    name: str = Field(min_length=1, max_length=200)
    event_types: list[str] = Field(default_factory=list, description="Empty: any event type.")
    kinds: list[str] = Field(default_factory=list, description="Empty: any kind.")
    plan_ids: list[UUID] = Field(default_factory=list)
    departments: list[Code] = Field(default_factory=list)
    min_severity: Severity = Severity.INFO
    targets: list[Target] = Field(default_factory=list)
    webhooks: list[Code] = Field(default_factory=list)
    escalate: bool = Field(default=False, description="Escalate while unacknowledged.")
    enabled: bool = True


class DigestSettings(_Model):
    weekly_weekday: int | None = Field(default=None, ge=0, le=6)
    weekly_time: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")
    daily_time: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{2}$")


class Directory(_Model):
    tenant: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,62}$")]
    name: str
    digest: DigestSettings = Field(default_factory=DigestSettings)
    year_style: Literal["wareki", "fiscal"] = Field(
        default="wareki",
        description="How notices print fiscal years: 令和3年度 (wareki) or FY2021 (fiscal).",
    )
    default_owner: list[Target] = Field(
        default_factory=lambda: [Target(post="事務局")],
        description="Who `department: $owner` reaches when an event names no owning "
        "department (a plan that names none): the plan's default owner, the 事務局.",
    )
    escalation: list[Target] = Field(
        default_factory=lambda: [Target(post="事務局"), Target(post="CIO")],
        description="Who an unacknowledged alert goes to next, level by level.",
    )
    departments: list[Department] = Field(default_factory=list)
    bodies: list[Body] = Field(default_factory=list)
    posts: list[Post] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems: list[str] = []
        departments = {d.code for d in self.departments}
        bodies = {b.code for b in self.bodies}
        posts = {p.code for p in self.posts}
        people = [p.id for p in self.people]
        webhooks = {w.id for w in self.webhooks}
        for kind, codes in (
            ("department", [d.code for d in self.departments]),
            ("body", [b.code for b in self.bodies]),
            ("post", [p.code for p in self.posts]),
            ("person", people),
            ("webhook", [w.id for w in self.webhooks]),
            ("rule", [r.name for r in self.rules]),
        ):
            duplicates = sorted({c for c in codes if codes.count(c) > 1})
            if duplicates:
                problems.append(f"duplicate {kind}: {', '.join(duplicates)}")

        def check_target(where: str, t: Target) -> None:
            if t.department and t.department != OWNER and t.department not in departments:
                problems.append(f"{where}: unknown department {t.department!r}")
            if t.post and t.post not in posts:
                problems.append(f"{where}: unknown post {t.post!r}")
            if t.body and t.body not in bodies:
                problems.append(f"{where}: unknown body {t.body!r}")
            if t.person and t.person not in people:
                problems.append(f"{where}: unknown person {t.person!r}")

        for person in self.people:
            for i, a in enumerate(person.assignments):
                where = f"people[{person.id}].assignments[{i}]"
                check_target(where, Target(department=a.department, post=a.post, body=a.body))
            for i, s in enumerate(person.subscriptions):
                if s.department and s.department not in departments:
                    problems.append(
                        f"people[{person.id}].subscriptions[{i}]: unknown department "
                        f"{s.department!r}"
                    )
        for rule in self.rules:
            for i, t in enumerate(rule.targets):
                check_target(f"rules[{rule.name}].targets[{i}]", t)
            for w in rule.webhooks:
                if w not in webhooks:
                    problems.append(f"rules[{rule.name}]: unknown webhook {w!r}")
            for d in rule.departments:
                if d not in departments:
                    problems.append(f"rules[{rule.name}]: unknown department {d!r}")
        for i, t in enumerate(self.escalation):
            check_target(f"escalation[{i}]", t)
        for i, t in enumerate(self.default_owner):
            if t.department == OWNER:
                problems.append(f"default_owner[{i}]: $owner cannot be the default owner")
            check_target(f"default_owner[{i}]", t)
        for rule in self.rules:
            unknown_kinds = [k for k in rule.kinds if k not in KINDS]
            if unknown_kinds:
                problems.append(
                    f"rules[{rule.name}]: unknown kind {', '.join(map(repr, unknown_kinds))} "
                    f"(known: {', '.join(KINDS)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def rule_id(tenant: str, name: str) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"notifications/rule/{tenant}/{name}")


def subscription_id(tenant: str, person: str, index: int) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"notifications/subscription/{tenant}/{person}/{index}")


def targets_from_json(raw: Any) -> list[Target]:
    return [Target.model_validate(x) for x in (raw or [])]
