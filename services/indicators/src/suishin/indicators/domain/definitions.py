"""Rules of defining indicators and revising targets (pure, no I/O).

A definition is applied as a whole (see :func:`suishin.indicators.commands.apply_definitions`):
the indicator row, its links to measures/goals and its current targets. A target whose value
changed is not overwritten: the old row is closed and a new revision carries the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from suishin.contracts import ids
from suishin.contracts.enums import Aggregation, Comparator, Polarity
from suishin.indicators.domain.model import Cadence, Granularity, TargetSpec
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, Forbidden

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")


@dataclass(frozen=True)
class PastTarget:
    """An earlier value of a target, replaced on ``replaced_at`` for ``reason``."""

    value: Decimal | None
    comparator: Comparator | None
    text: str | None
    replaced_at: datetime | None
    reason: str | None
    revised_by: str | None = None


@dataclass(frozen=True)
class TargetInput:
    fiscal_year: int
    value: Decimal | None = None
    comparator: Comparator | None = None
    text: str | None = None
    from_fiscal_year: int | None = None
    printed: str | None = None
    history: tuple[PastTarget, ...] = ()
    """Older values, oldest first (plan-file target revisions), stored on first definition."""

    @property
    def slot(self) -> tuple[int, int | None]:
        return self.fiscal_year, self.from_fiscal_year

    def spec(self) -> TargetSpec:
        return TargetSpec(
            fiscal_year=self.fiscal_year,
            value=self.value,
            comparator=self.comparator,
            text=self.text,
            from_fiscal_year=self.from_fiscal_year,
            printed=self.printed,
        )


@dataclass(frozen=True)
class LinkInput:
    node_id: UUID
    plan_id: UUID | None = None
    node_path: str | None = None


@dataclass(frozen=True)
class IndicatorDefinition:
    tenant: str
    key: str
    title: str
    period_start_fy: int
    period_end_fy: int
    unit: str | None = None
    polarity: Polarity = Polarity.HIGHER_IS_BETTER
    aggregation: Aggregation = Aggregation.PER_YEAR
    granularity: Granularity = Granularity.FISCAL_YEAR
    cadence: Cadence = Cadence.YEARLY
    description: str | None = None
    unit_aliases: tuple[str, ...] = ()
    report_lag_days: int | None = None
    qualitative: bool = False
    milestone: bool = False
    tolerance: Decimal | None = None
    at_risk_margin: Decimal | None = None
    baseline_value: Decimal | None = None
    baseline_text: str | None = None
    baseline_period: str | None = None
    baseline_source: str | None = None
    plan_id: UUID | None = None
    plan_key: str | None = None
    owner_departments: tuple[str, ...] = ()
    links: tuple[LinkInput, ...] = ()
    targets: tuple[TargetInput, ...] = ()
    origin: str = "graphql"
    source: str | None = None
    notes: tuple[dict[str, Any], ...] = ()
    parent_key: str | None = None
    sub_series_key: str | None = None
    evaluated_from_fy: int | None = None
    plan_file_entry: dict[str, Any] | None = None
    """The indicator as its plan file wrote it (export writes it back)."""
    plan_position: int | None = None
    revision_reasons: dict[tuple[int, int | None], str] = field(default_factory=dict)
    """Reason to record when the target of a slot changes (else the caller's default)."""

    @property
    def id(self) -> UUID:
        return ids.indicator_id(self.tenant, self.key)


def check_definition(d: IndicatorDefinition) -> list[DomainError]:
    """Rules a definition must follow; every problem, not only the first."""
    problems: list[DomainError] = []
    if not d.title.strip():
        problems.append(DomainError("EMPTY_TITLE", "名称が空です", "title is empty", "title"))
    if d.period_start_fy > d.period_end_fy:
        problems.append(
            DomainError(
                "INVALID_PERIOD",
                f"計画期間の開始（{d.period_start_fy}）が終了（{d.period_end_fy}）より後です",
                f"period starts ({d.period_start_fy}) after it ends ({d.period_end_fy})",
                "periodStart",
            )
        )
    slots: set[tuple[int, int | None]] = set()
    for i, t in enumerate(d.targets):
        where = f"targets[{i}]"
        if t.slot in slots:
            problems.append(
                DomainError(
                    "DUPLICATE_TARGET",
                    f"{t.fiscal_year}年度の目標が重複しています",
                    f"duplicate target for fiscal year {t.fiscal_year}",
                    where,
                )
            )
        slots.add(t.slot)
        problems.extend(check_target(d.period_start_fy, d.period_end_fy, t, where))
    return problems


def check_target(start: int, end: int, t: TargetInput, where: str = "target") -> list[DomainError]:
    problems: list[DomainError] = []
    if not start <= t.fiscal_year <= end:
        problems.append(
            DomainError(
                "TARGET_OUTSIDE_PLAN",
                f"目標年度 {t.fiscal_year} が計画期間（{start}〜{end}年度）の外です",
                f"target year {t.fiscal_year} is outside the plan period ({start}-{end})",
                f"{where}.fiscalYear",
            )
        )
    if t.from_fiscal_year is not None and not start <= t.from_fiscal_year <= t.fiscal_year:
        problems.append(
            DomainError(
                "INVALID_TARGET_SPAN",
                f"複数年度目標の開始年度 {t.from_fiscal_year} が不正です",
                f"multi-year target starts in an invalid year {t.from_fiscal_year}",
                f"{where}.fromFiscalYear",
            )
        )
    if t.value is None and not (t.text and t.text.strip()):
        problems.append(
            DomainError(
                "EMPTY_TARGET",
                "目標に値も文言もありません",
                "a target needs a value or a text",
                f"{where}.value",
            )
        )
    if t.value is not None and not t.value.is_finite():
        problems.append(
            DomainError(
                "INVALID_TARGET_VALUE",
                "目標値が数値ではありません",
                "the target value is not a number",
                f"{where}.value",
            )
        )
    if t.comparator is not None and t.value is None:
        problems.append(
            DomainError(
                "COMPARATOR_WITHOUT_VALUE",
                "比較（以上・以下など）には目標値が必要です",
                "a comparator needs a value",
                f"{where}.comparator",
            )
        )
    return problems


def link_ancestor_ids(d: IndicatorDefinition) -> list[UUID]:
    """Ids of the plan nodes above each linked node (same plan), derived like the plans
    service derives them, so a measure lists the indicators of its items."""
    if d.plan_key is None:
        return []
    ancestors: dict[UUID, None] = {}
    for link in d.links:
        if link.node_path is None or (d.plan_id is not None and link.plan_id != d.plan_id):
            continue
        parts = link.node_path.split("/")
        for depth in range(1, len(parts)):
            path = "/".join(parts[:depth])
            ancestors.setdefault(ids.node_id(d.tenant, d.plan_key, path), None)
    direct = {link.node_id for link in d.links}
    return [a for a in ancestors if a not in direct]


class Problems(DomainError):
    """Several problems at once (each is reported); the first gives the code."""

    def __init__(self, errors: list[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message_ja, first.message_en, first.field)
        self.errors = errors


def require_admin(principal: Principal, message_ja: str, message_en: str) -> None:
    """Definitions and targets are the 事務局's (an admin of the caller's tenant)."""
    if principal.tenant is None or not principal.is_admin:
        raise Forbidden(message_ja, message_en)


def check_key(key: str) -> list[DomainError]:
    if KEY_PATTERN.fullmatch(key):
        return []
    return [
        DomainError(
            "INVALID_KEY",
            "キーは英小文字・数字・. _ - で、英小文字か数字で始めてください",
            "the key must match ^[a-z0-9][a-z0-9._-]*$",
            "key",
        )
    ]


def check_ratios_and_lag(
    tolerance: Decimal | None, at_risk_margin: Decimal | None, report_lag_days: int | None
) -> list[DomainError]:
    problems: list[DomainError] = []
    for name, number in (("tolerance", tolerance), ("atRiskMargin", at_risk_margin)):
        if number is not None and not (number.is_finite() and Decimal(0) <= number <= Decimal(1)):
            problems.append(
                DomainError(
                    "INVALID_RATIO", f"{name} は0〜1で指定してください", f"{name} must be 0-1", name
                )
            )
    if report_lag_days is not None and not 0 <= report_lag_days <= 366:
        problems.append(
            DomainError(
                "INVALID_LAG",
                "報告期限の日数は0〜366です",
                "reportLagDays must be 0-366",
                "reportLagDays",
            )
        )
    return problems


def check_revision(
    start: int, end: int, current: TargetSpec | None, target: TargetInput
) -> list[DomainError]:
    """A revision of one target: a valid target that differs from the current value."""
    problems = check_target(start, end, target)
    if current is not None and current.same_value(target.spec()):
        problems.append(
            DomainError(
                "TARGET_UNCHANGED",
                "目標値が現在の値と同じです",
                "the target already has this value",
                "value",
            )
        )
    return problems
