"""What a caller may set: routing rules, silences, subscriptions, preferences and
acknowledgements are checked here before anything is written (DomainError, ja/en)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from suishin.kit.errors import DomainError
from suishin.notifications.domain.directory import OWNER, Target
from suishin.notifications.domain.triggers import EVENT_TYPES, KINDS

MAX_SILENCE = timedelta(days=90)
MAX_COMMENT = 2000
LANGUAGES = ("ja", "en")

Codes = Mapping[str, Set[str]]
"""The tenant's directory codes by kind: department, post, body, person, webhook."""


def parse_id(value: str, field: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise DomainError("INVALID_ID", "IDの形式が不正です", "Malformed id", field=field) from exc


def check_kinds(kinds: Sequence[str], field: str) -> None:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise DomainError(
            "UNKNOWN_KIND",
            f"不明な通知種別です: {', '.join(unknown)}",
            f"Unknown notice kind(s): {', '.join(unknown)}",
            field=field,
        )


def check_event_types(event_types: Sequence[str], field: str) -> None:
    unknown = [e for e in event_types if e not in EVENT_TYPES]
    if unknown:
        raise DomainError(
            "UNKNOWN_EVENT_TYPE",
            f"不明なイベント種別です: {', '.join(unknown)}",
            f"Unknown event type(s): {', '.join(unknown)}",
            field=field,
        )


def acknowledgement_comment(comment: str | None) -> str | None:
    """The comment as stored (stripped; None when empty)."""
    if comment is not None and len(comment) > MAX_COMMENT:
        raise DomainError(
            "COMMENT_TOO_LONG",
            "コメントは2000文字以内にしてください",
            "The comment must be at most 2000 characters",
            field="comment",
        )
    return comment.strip() if comment else None


def check_preferences(changes: Mapping[str, Any]) -> None:
    if changes.get("muted_kinds") is not None:
        check_kinds(changes["muted_kinds"], "input.mutedKinds")
    language = changes.get("language")
    if language is not None and language not in LANGUAGES:
        raise DomainError(
            "UNKNOWN_LANGUAGE",
            "言語は ja または en を指定してください",
            "Language must be ja or en",
            field="input.language",
        )


def check_subscriber(person: str, department_code: str | None, codes: Codes) -> None:
    """A subscriber is in the directory, and a department they name is too."""
    if person not in codes["person"]:
        raise DomainError(
            "UNKNOWN_PERSON",
            "通知先の名簿に登録されていません（事務局に登録を依頼してください）",
            "You are not in the notification directory; ask the secretariat to add you",
        )
    if department_code and department_code not in codes["department"]:
        raise DomainError(
            "UNKNOWN_DEPARTMENT",
            f"部署「{department_code}」は名簿にありません",
            f"Department {department_code!r} is not in the directory",
            field="input.departmentCode",
        )


def _check_rule_header(name: str, event_types: Sequence[str], kinds: Sequence[str]) -> str:
    """The rule's name as stored; checks what needs no directory."""
    name = name.strip()
    if not name or len(name) > 200:
        raise DomainError(
            "INVALID_NAME",
            "名前は1〜200文字で指定してください",
            "The name must have 1 to 200 characters",
            field="input.name",
        )
    check_event_types(event_types, "input.eventTypes")
    check_kinds(kinds, "input.kinds")
    return name


def rule_values(
    *,
    name: str,
    event_types: list[str],
    kinds: list[str],
    plan_ids: Sequence[str],
    department_codes: list[str],
    min_severity: str,
    targets: Sequence[Mapping[str, str | None]],
    webhook_ids: list[str],
    escalate: bool,
    codes: Codes,
) -> dict[str, Any]:
    """A new routing rule checked against the tenant's directory: the values to store."""
    name = _check_rule_header(name, event_types, kinds)
    checked: list[dict[str, str]] = []
    for i, t in enumerate(targets):
        field = f"input.targets[{i}]"
        try:
            target = Target(
                post=t.get("post"),
                department=t.get("department"),
                body=t.get("body"),
                person=t.get("person"),
            )
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
        checked.append(target.model_dump(exclude_none=True))
    for hook in webhook_ids:
        if hook not in codes["webhook"]:
            raise DomainError(
                "UNKNOWN_WEBHOOK",
                f"Webhook「{hook}」は登録されていません",
                f"Webhook {hook!r} is not registered",
                field="input.webhookIds",
            )
    for code in department_codes:
        if code not in codes["department"]:
            raise DomainError(
                "UNKNOWN_DEPARTMENT",
                f"部署「{code}」は名簿にありません",
                f"Department {code!r} is not in the directory",
                field="input.departmentCodes",
            )
    if not checked and not webhook_ids:
        raise DomainError(
            "NO_TARGETS",
            "宛先（targets または webhookIds）を1つ以上指定してください",
            "Give at least one target or webhook",
            field="input.targets",
        )
    return {
        "name": name,
        "event_types": event_types,
        "kinds": kinds,
        "plan_ids": [parse_id(p, "input.planIds") for p in plan_ids],
        "department_codes": department_codes,
        "min_severity": min_severity,
        "targets": checked,
        "webhook_ids": webhook_ids,
        "escalate": escalate,
    }


def silence_values(
    *,
    reason: str,
    expires_at: datetime,
    starts_at: datetime | None,
    kinds: list[str],
    subject: str | None,
    department_code: str | None,
    recipient_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new silence: the values to store."""
    reason = reason.strip()
    if not reason:
        raise DomainError(
            "REASON_REQUIRED",
            "理由を入力してください",
            "A reason is required",
            field="input.reason",
        )
    if expires_at.tzinfo is None or (starts_at and starts_at.tzinfo is None):
        raise DomainError(
            "TIMEZONE_REQUIRED",
            "日時にはタイムゾーンを付けてください（例: 2025-04-01T09:00:00+09:00）",
            "Give times with a timezone (e.g. 2025-04-01T09:00:00+09:00)",
            field="input.expiresAt",
        )
    starts = starts_at or now
    if expires_at <= max(starts, now):
        raise DomainError(
            "EXPIRY_IN_PAST",
            "期限は開始日時および現在より後にしてください",
            "The expiry must be after the start and in the future",
            field="input.expiresAt",
        )
    if expires_at - starts > MAX_SILENCE:
        raise DomainError(
            "SILENCE_TOO_LONG",
            "サイレンスの期間は90日以内にしてください",
            "A silence may last at most 90 days",
            field="input.expiresAt",
        )
    check_kinds(kinds, "input.kinds")
    return {
        "reason": reason,
        "starts_at": starts,
        "expires_at": expires_at,
        "kinds": kinds,
        "subject": subject,
        "department_code": department_code,
        "recipient_id": recipient_id,
    }
