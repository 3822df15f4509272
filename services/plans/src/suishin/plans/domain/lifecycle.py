"""The lifecycle of a measure (施策/取組): which status changes are allowed, and by whom.

- 新規 / 継続 / 変更 / 拡充 are *active*: a measure moves freely among them (a 継続 measure can
  be 拡充 next year, a 変更 one returns to 継続) and from any of them to an end status.
- 完了 / 廃止 / 統合 are *terminal*: the measure has ended. Only the 事務局 (Role.ADMIN) may
  reopen it, as 継続 / 変更 / 拡充 and with a reason (never as 新規: a measure that existed is
  not new, e.g. 完了 → 新規 is refused for everyone); an ended measure never moves straight to
  another end status (reopen first, so the history says why).
- A change to the current status is refused (nothing would be recorded).
- Every change needs a reason; the plan-file import records its own reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from suishin.contracts.enums import MeasureStatus, Role
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, Forbidden

ACTIVE: frozenset[MeasureStatus] = frozenset(
    {
        MeasureStatus.NEW,
        MeasureStatus.CONTINUED,
        MeasureStatus.CHANGED,
        MeasureStatus.EXPANDED,
    }
)
TERMINAL: frozenset[MeasureStatus] = frozenset(
    {MeasureStatus.COMPLETED, MeasureStatus.ABOLISHED, MeasureStatus.MERGED}
)
REOPEN_TARGETS: frozenset[MeasureStatus] = ACTIVE - {MeasureStatus.NEW}


def allowed_targets(current: MeasureStatus | None, *, reopen: bool = False) -> set[MeasureStatus]:
    """Statuses reachable from ``current``; ``reopen`` adds the admin's reopening moves."""
    if current is None:
        return set(MeasureStatus)
    if current in ACTIVE:
        return set(MeasureStatus) - {current}
    return set(REOPEN_TARGETS) if reopen else set()


def check_transition(
    current: MeasureStatus | None,
    to: MeasureStatus,
    *,
    actor: Principal | None,
) -> None:
    """Raise a :class:`DomainError` unless ``actor`` may move a measure from ``current`` to
    ``to`` (``actor`` None is the plan-file import, which may set any status)."""
    if current == to:
        raise DomainError(
            "STATUS_UNCHANGED",
            f"ステータスは既に「{to.value}」です",
            f"The status is already {to.value}",
            field="to",
        )
    if actor is None:
        return
    if current in TERMINAL:
        if to not in REOPEN_TARGETS:
            raise DomainError(
                "INVALID_TRANSITION",
                f"終了したステータス「{current.value}」から「{to.value}」へは変更できません"
                "（事務局が継続・変更・拡充として再開できます）",
                f"An ended measure ({current.value}) cannot move to {to.value}; "
                "an administrator can only reopen it as 継続, 変更 or 拡充",
                field="to",
            )
        if not actor.has(Role.ADMIN):
            raise DomainError(
                "REOPEN_FORBIDDEN",
                f"「{current.value}」の施策を再開できるのは事務局のみです",
                f"Only an administrator (事務局) can reopen a {current.value} measure",
                field="to",
            )
    if to not in allowed_targets(current, reopen=actor.has(Role.ADMIN)):
        raise DomainError(
            "INVALID_TRANSITION",
            f"「{current.value if current else '未設定'}」から「{to.value}」へは変更できません",
            f"Cannot move from {current.value if current else 'none'} to {to.value}",
            field="to",
        )


def check_may_edit(actor: Principal, owner_departments: Iterable[str]) -> None:
    """事務局 and 本部 edit any measure of their ward; a 所管課 only measures it owns."""
    if actor.has(Role.ADMIN, Role.EXECUTIVE):
        return
    if actor.has(Role.REPORTER) and actor.departments.intersection(owner_departments):
        return
    raise Forbidden(
        "この施策を変更する権限がありません（所管課・事務局・本部のみ）",
        "You may not change this measure (owning department, 事務局 or 本部 only)",
    )


def check_may_override(actor: Principal) -> None:
    if not actor.has(Role.ADMIN, Role.EXECUTIVE):
        raise Forbidden(
            "評価を上書きできるのは事務局または本部のみです",
            "Only the 事務局 (admin) or the 本部 (executive) can override a grade",
        )


def check_may_manage_plans(actor: Principal) -> None:
    if not actor.has(Role.ADMIN):
        raise Forbidden(
            "計画の公開・改訂は事務局のみが行えます",
            "Only the 事務局 (admin) can publish or supersede a plan",
        )
