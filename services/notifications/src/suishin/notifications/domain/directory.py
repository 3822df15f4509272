"""The directory of a tenant: departments, bodies, posts, people and their assignments, webhooks
and the default routing rules (the model of ``datasets/directory/<tenant>.yaml``, read by
:mod:`suishin.notifications.directory`).

Staff rotate every April, so rules never name people for a role: they target posts, departments
and bodies, and an assignment says who holds what between ``valid_from`` and ``valid_to``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, Self
from uuid import UUID, uuid5

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from suishin.contracts.enums import Severity
from suishin.contracts.ids import SUISHIN_NAMESPACE
from suishin.notifications.domain.shaping import Cadence
from suishin.notifications.domain.triggers import EVENT_TYPES, KINDS

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
    def _references(self, info: ValidationInfo) -> Self:
        """Every reference resolves, nothing is defined twice, every rule kind exists. With a
        ``problems`` list in the validation context the problems are collected there (located
        by the file reader); otherwise they raise one ValueError."""
        problems = reference_problems(self)
        collected = info.context.get("problems") if isinstance(info.context, dict) else None
        if isinstance(collected, list):
            collected.extend(problems)
        elif problems:
            raise ValueError("; ".join(f"{format_loc(p.loc)}: {p.message_en}" for p in problems))
        return self


Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """A rule of the directory broken at ``loc`` (a path in the file's data)."""

    loc: Loc
    code: str
    message_ja: str
    message_en: str


def format_loc(loc: Loc) -> str:
    """``rules[2].targets[0].post``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def reference_problems(d: Directory) -> list[Problem]:
    """What is wrong between the parts of a directory, each at its place in the file."""
    problems: list[Problem] = []
    departments = {x.code for x in d.departments}
    bodies = {b.code for b in d.bodies}
    posts = {p.code for p in d.posts}
    people = {p.id for p in d.people}
    webhooks = {w.id for w in d.webhooks}
    labels = {
        "departments": ("課", "department", "code"),
        "bodies": ("会議体", "body", "code"),
        "posts": ("職", "post", "code"),
        "people": ("職員", "person", "id"),
        "webhooks": ("Webhook", "webhook", "id"),
        "rules": ("ルール", "rule", "name"),
    }
    for section, (ja, en, key) in labels.items():
        seen: set[str] = set()
        for i, item in enumerate(getattr(d, section)):
            value = getattr(item, key)
            if value in seen:
                problems.append(
                    Problem(
                        (section, i, key),
                        "duplicate",
                        f"{ja}「{value}」が重複しています",
                        f"duplicate {en}: {value}",
                    )
                )
            seen.add(value)

    def unknown(loc: Loc, what_ja: str, what_en: str, value: str) -> None:
        problems.append(
            Problem(
                loc,
                f"unknown_{what_en}",
                f"名簿にない{what_ja}です: 「{value}」",
                f"unknown {what_en} {value!r}",
            )
        )

    def check_target(loc: Loc, t: Target) -> None:
        if t.department and t.department != OWNER and t.department not in departments:
            unknown((*loc, "department"), "課", "department", t.department)
        if t.post and t.post not in posts:
            unknown((*loc, "post"), "職", "post", t.post)
        if t.body and t.body not in bodies:
            unknown((*loc, "body"), "会議体", "body", t.body)
        if t.person and t.person not in people:
            unknown((*loc, "person"), "職員", "person", t.person)

    for i, person in enumerate(d.people):
        for j, a in enumerate(person.assignments):
            target = Target(department=a.department, post=a.post, body=a.body)
            check_target(("people", i, "assignments", j), target)
        for j, sub in enumerate(person.subscriptions):
            if sub.department and sub.department not in departments:
                unknown(
                    ("people", i, "subscriptions", j, "department"),
                    "課",
                    "department",
                    sub.department,
                )
            bad = [e for e in sub.event_types if e not in EVENT_TYPES]
            if bad:
                problems.append(
                    Problem(
                        ("people", i, "subscriptions", j, "event_types"),
                        "unknown_event_type",
                        f"不明なイベント種別です: {', '.join(bad)}",
                        f"unknown event type {', '.join(map(repr, bad))}",
                    )
                )
    for i, rule in enumerate(d.rules):
        for j, t in enumerate(rule.targets):
            check_target(("rules", i, "targets", j), t)
        for j, w in enumerate(rule.webhooks):
            if w not in webhooks:
                unknown(("rules", i, "webhooks", j), "Webhook", "webhook", w)
        for j, code in enumerate(rule.departments):
            if code not in departments:
                unknown(("rules", i, "departments", j), "課", "department", code)
        for j, kind in enumerate(rule.kinds):
            if kind not in KINDS:
                problems.append(
                    Problem(
                        ("rules", i, "kinds", j),
                        "unknown_kind",
                        f"不明な通知種別です: 「{kind}」（このルールは決して適用されません。"
                        f"使える種別: {', '.join(KINDS)}）",
                        f"unknown kind {kind!r}: the rule would never fire "
                        f"(known: {', '.join(KINDS)})",
                    )
                )
        for j, event_type in enumerate(rule.event_types):
            if event_type not in EVENT_TYPES:
                problems.append(
                    Problem(
                        ("rules", i, "event_types", j),
                        "unknown_event_type",
                        f"不明なイベント種別です: 「{event_type}」",
                        f"unknown event type {event_type!r}: the rule would never fire",
                    )
                )
    for i, t in enumerate(d.escalation):
        check_target(("escalation", i), t)
    for i, t in enumerate(d.default_owner):
        if t.department == OWNER:
            problems.append(
                Problem(
                    ("default_owner", i, "department"),
                    "owner_as_default_owner",
                    "既定の所管に $owner は指定できません（事務局などの職を指定してください）",
                    "$owner cannot be the default owner (name a post such as 事務局)",
                )
            )
        check_target(("default_owner", i), t)
    return problems


def rule_id(tenant: str, name: str) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"notifications/rule/{tenant}/{name}")


def subscription_id(tenant: str, person: str, index: int) -> UUID:
    return uuid5(SUISHIN_NAMESPACE, f"notifications/subscription/{tenant}/{person}/{index}")


def targets_from_json(raw: Any) -> list[Target]:
    return [Target.model_validate(x) for x in (raw or [])]
