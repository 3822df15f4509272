"""Defining indicators and revising targets (shared by GraphQL and the plan-file import).

A definition is applied as a whole: the indicator row, its links to measures/goals and its
current targets. A target whose value changed is not overwritten: the old row is closed
(``superseded_at``) and a new revision carries the reason, so old targets are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts import ids
from suishin.contracts.enums import Aggregation, Comparator, Polarity
from suishin.indicators import storage
from suishin.indicators.domain.model import Cadence, Granularity, TargetSpec
from suishin.indicators.reevaluation import StatusChange, reevaluate
from suishin.kit.errors import DomainError


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


@dataclass
class DefinitionReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    target_revisions: int = 0
    changes: list[StatusChange] = field(default_factory=list)


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


async def apply_definitions(
    conn: asyncpg.Connection,
    definitions: Sequence[IndicatorDefinition],
    *,
    now: datetime,
    reason: str,
    revised_by: str | None,
) -> DefinitionReport:
    """Create or update indicators in the caller's transaction; re-evaluate what changed."""
    report = DefinitionReport()
    if not definitions:
        return report
    # Parents before their sub-series (foreign key), every indicator locked in id order.
    ordered = sorted(definitions, key=lambda d: (d.parent_key is not None, d.key))
    await storage.indicators.lock(conn, [d.id for d in ordered])
    current = await storage.targets.current_targets(conn, [d.id for d in ordered])
    touched: set[UUID] = set()
    for d in ordered:
        parent_id = ids.indicator_id(d.tenant, d.parent_key) if d.parent_key else None
        written = await storage.indicators.upsert(
            conn,
            (
                d.id,
                d.tenant,
                d.key,
                parent_id,
                d.sub_series_key,
                d.title,
                d.description,
                d.unit,
                list(d.unit_aliases),
                d.polarity.value,
                d.aggregation.value,
                d.granularity.value,
                d.cadence.value,
                d.report_lag_days,
                d.qualitative,
                d.milestone,
                d.tolerance,
                d.at_risk_margin,
                d.baseline_value,
                d.baseline_text,
                d.baseline_period,
                d.baseline_source,
                d.plan_id,
                d.plan_key,
                d.period_start_fy,
                d.period_end_fy,
                list(d.owner_departments),
                d.origin,
                d.source,
                list(d.notes),
                now,
                d.evaluated_from_fy,
                d.plan_file_entry,
                d.plan_position,
            ),
        )
        links_changed = await _apply_links(conn, d)
        revisions = await _apply_targets(
            conn, d, current.get(d.id, []), now=now, reason=reason, revised_by=revised_by
        )
        report.target_revisions += revisions
        if written:
            report.created.append(d.key)
            touched.add(d.id)
        elif written is not None or links_changed or revisions:
            report.updated.append(d.key)
            touched.add(d.id)
        else:
            report.unchanged.append(d.key)
    if touched:
        records = await storage.indicators.load_indicators(conn, touched)
        report.changes = await reevaluate(conn, records, now)
    return report


async def _apply_links(conn: asyncpg.Connection, d: IndicatorDefinition) -> bool:
    changed = await storage.links.replace_links(
        conn, d.id, d.tenant, [(link.node_id, link.plan_id, link.node_path) for link in d.links]
    )
    await storage.links.replace_ancestors(conn, d.id, d.tenant, link_ancestor_ids(d))
    return changed


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


async def _apply_targets(
    conn: asyncpg.Connection,
    d: IndicatorDefinition,
    existing: list[TargetSpec],
    *,
    now: datetime,
    reason: str,
    revised_by: str | None,
) -> int:
    """Bring the current targets in line with ``d.targets``; return how many rows changed."""
    by_slot = {(t.fiscal_year, t.from_fiscal_year): t for t in existing}
    wanted = {t.slot: t for t in d.targets}
    changes = 0
    for slot, target in wanted.items():
        before = by_slot.get(slot)
        if before is None:
            await _insert_history(conn, d.id, target, now=now, revised_by=revised_by)
            changes += 1
        elif not before.same_value(target.spec()) or before.printed != target.printed:
            if before.same_value(target.spec()):
                # Only the printed wording changed: not a revision of the target itself.
                await storage.targets.set_printed(conn, d.id, slot, target.printed)
            else:
                await revise_target(
                    conn,
                    d.id,
                    target,
                    reason=d.revision_reasons.get(slot, reason),
                    revised_by=revised_by,
                    now=now,
                )
            changes += 1
    for slot in by_slot.keys() - wanted.keys():
        await storage.targets.close(conn, d.id, slot, now)
        changes += 1
    return changes


async def _insert_history(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    target: TargetInput,
    *,
    now: datetime,
    revised_by: str | None,
) -> None:
    """A slot's first rows: its past values (closed) and the current one."""
    revision = 0
    valid_from: datetime | None = None
    reason: str | None = None
    for past in target.history:
        revision += 1
        closed = past.replaced_at or now
        await storage.targets.insert(
            conn,
            indicator_id,
            target.slot,
            value=past.value,
            comparator=past.comparator,
            text=past.text,
            printed=None,
            revision=revision,
            reason=reason,
            revised_by=revised_by,
            valid_from=valid_from or min(closed, now),
            superseded_at=closed,
        )
        valid_from, reason = closed, past.reason
    await storage.targets.insert(
        conn,
        indicator_id,
        target.slot,
        value=target.value,
        comparator=target.comparator,
        text=target.text,
        printed=target.printed,
        revision=revision + 1,
        reason=reason,
        revised_by=revised_by,
        valid_from=valid_from or now,
    )


async def revise_target(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    target: TargetInput,
    *,
    reason: str,
    revised_by: str | None,
    now: datetime,
) -> int:
    """Close the current target of the slot and add the new value as the next revision."""
    await storage.targets.close(conn, indicator_id, target.slot, now)
    revision = await storage.targets.last_revision(conn, indicator_id, target.slot) + 1
    await storage.targets.insert(
        conn,
        indicator_id,
        target.slot,
        value=target.value,
        comparator=target.comparator,
        text=target.text,
        printed=target.printed,
        revision=revision,
        reason=reason,
        revised_by=revised_by,
        valid_from=now,
    )
    return revision
