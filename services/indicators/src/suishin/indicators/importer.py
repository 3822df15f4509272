"""Indicator definitions from a plan file (``suishin import`` step of the indicators service).

The import is atomic (one transaction) and idempotent: importing the same file again changes
nothing; a target whose value differs from the stored one becomes a new target revision (reason
"plan file re-import", or the file's own revision reason when it lists that change). It emits
nothing unless a status changes. The file's historical ``actuals`` are not imported here: they
are reported as ``indicator.reported`` events, like any external system would.

Each sub-series becomes an indicator of its own, keyed ``<indicator key>/<sub-series key>``.
An indicator's period is the plan period, widened to the fiscal years of the historical actuals
the file lists for it (so they can be reported); statuses are evaluated from the plan period on,
earlier actuals only serve as references (the previous level, the running total).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from suishin.contracts.calendar import fiscal_year_of_period
from suishin.contracts.planfile import Baseline, PlanFile, Target, TargetRevision, TargetValue
from suishin.contracts.planfile import Indicator as PlanIndicator
from suishin.indicators.commands import (
    DefinitionReport,
    find_target_conflicts,
    import_definitions,
)
from suishin.indicators.domain.definitions import (
    IndicatorDefinition,
    LinkInput,
    PastTarget,
    TargetInput,
)
from suishin.indicators.domain.evaluation import NO_TARGET_TEXT
from suishin.indicators.domain.model import Cadence, Granularity, sub_series_key
from suishin.indicators.domain.reimport import TargetConflict

REIMPORT_REASON = "plan file re-import"
IMPORTER = "plan-file-import"

Progress = Callable[[int, int], None]
"""Called with (done, total) as indicators are prepared and written."""


@dataclass
class ImportReport:
    tenant: str
    plan_key: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    target_revisions: int = 0
    """Existing targets the import changed (value, wording, or closed)."""
    targets_created: int = 0
    status_changes: int = 0
    not_in_file: list[str] = field(default_factory=list)
    """Indicators of this plan stored before but absent from the file (kept, not deleted)."""
    conflicts: list[TargetConflict] = field(default_factory=list)
    """Targets revised in the system that the file overwrote (only with ``overwrite``)."""

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)

    def summary(self) -> str:
        overwritten = (
            f", {len(self.conflicts)} system revision(s) overwritten" if self.conflicts else ""
        )
        return (
            f"indicators: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged; targets: {self.targets_created} created, "
            f"{self.target_revisions} updated; {self.status_changes} status change(s)"
            f"{overwritten}"
        )


def definitions_from_plan_file(plan_file: PlanFile) -> list[IndicatorDefinition]:
    """Every indicator (and sub-series) of the file as a definition."""
    out: list[IndicatorDefinition] = []
    for position, indicator in enumerate(plan_file.indicators):
        parent = _definition(plan_file, indicator, None)
        out.append(
            replace(
                parent,
                plan_file_entry=indicator.model_dump(mode="json", exclude_defaults=True),
                plan_position=position,
            )
        )
        for sub in indicator.sub_series:
            out.append(_definition(plan_file, indicator, sub.key))
    return out


def _definition(pf: PlanFile, ind: PlanIndicator, sub_key: str | None) -> IndicatorDefinition:
    tenant = pf.tenant.slug
    sub = next((s for s in ind.sub_series if s.key == sub_key), None) if sub_key else None
    targets = [t for t in ind.targets if t.sub_series == sub_key]
    revisions = [r for r in ind.target_revisions if r.sub_series == sub_key]
    actual_years = [fiscal_year_of_period(a.period) for a in ind.actuals if a.sub_series == sub_key]
    start = min([pf.plan.period.start, *actual_years])
    end = max([pf.plan.period.end, *actual_years])
    baseline = sub.baseline if sub is not None and sub.baseline is not None else ind.baseline
    target_inputs, reasons = _targets(targets, revisions)
    notes: list[dict[str, Any]] = [n.model_dump(mode="json") for n in ind.notes]
    if sub is not None:
        notes += [n.model_dump(mode="json") for n in sub.notes]
    return IndicatorDefinition(
        tenant=tenant,
        key=sub_series_key(ind.key, sub_key) if sub_key else ind.key,
        title=f"{ind.title}（{sub.title}）" if sub is not None else ind.title,
        period_start_fy=start,
        period_end_fy=end,
        unit=(sub.unit if sub is not None and sub.unit else ind.unit),
        polarity=ind.polarity,
        aggregation=ind.aggregation,
        granularity=Granularity(ind.granularity.value),
        cadence=Cadence(ind.cadence.value),
        description=ind.description,
        qualitative=ind.qualitative,
        milestone=ind.milestone,
        tolerance=_dec(ind.tolerance),
        baseline_value=_dec(baseline.value) if baseline else None,
        baseline_text=baseline.text if baseline else None,
        baseline_period=_baseline_period(baseline),
        baseline_source=baseline.source if baseline else None,
        plan_id=pf.plan_id(),
        plan_key=pf.plan.key,
        owner_departments=tuple(pf.indicator_owners(ind)),
        links=tuple(
            LinkInput(node_id=pf.node_id(path), plan_id=pf.plan_id(), node_path=path)
            for path in ind.nodes
        ),
        targets=tuple(target_inputs),
        origin="plan_file",
        source=ind.source,
        notes=tuple(notes),
        parent_key=ind.key if sub_key else None,
        sub_series_key=sub_key,
        evaluated_from_fy=pf.plan.period.start if start < pf.plan.period.start else None,
        revision_reasons=reasons,
    )


def _targets(
    targets: list[Target], revisions: list[TargetRevision]
) -> tuple[list[TargetInput], dict[tuple[int, int | None], str]]:
    out: list[TargetInput] = []
    reasons: dict[tuple[int, int | None], str] = {}
    for t in targets:
        mine = _revision_chain(t, revisions)
        history = tuple(
            PastTarget(
                value=_dec(r.old.value),
                comparator=r.old.comparator,
                text=r.old.text,
                replaced_at=_revised_on(r.revised_on),
                reason=_revision_reason(r),
            )
            for r in mine
        )
        slot = (t.fiscal_year, t.from_fiscal_year)
        if mine:
            reasons[slot] = _revision_reason(mine[-1])
        out.append(
            TargetInput(
                fiscal_year=t.fiscal_year,
                from_fiscal_year=t.from_fiscal_year,
                value=_dec(t.value),
                comparator=t.comparator,
                text=NO_TARGET_TEXT if t.none else t.text,
                printed=t.printed or (NO_TARGET_TEXT if t.none else None),
                history=history,
            )
        )
    return out, reasons


def _revision_chain(t: Target, revisions: list[TargetRevision]) -> list[TargetRevision]:
    """The revisions that led to ``t``'s value, oldest first.

    Revisions name a fiscal year, not a slot: they belong to the target of that year whose
    value they produced (a year may have a year target and a multi-year target), and earlier
    revisions are found by following ``old`` back to the previous ``new``.
    """
    candidates = [r for r in revisions if r.fiscal_year == t.fiscal_year]
    chain: list[TargetRevision] = []
    value, comparator, text = t.value, t.comparator, t.text
    while True:
        step = next(
            (r for r in candidates if r not in chain and _same(r.new, value, comparator, text)),
            None,
        )
        if step is None:
            return list(reversed(chain))
        chain.append(step)
        value, comparator, text = step.old.value, step.old.comparator, step.old.text


def _same(v: TargetValue, value: float | None, comparator: Any, text: str | None) -> bool:
    return _dec(v.value) == _dec(value) and v.comparator == comparator and v.text == text


def _revision_reason(r: TargetRevision) -> str:
    parts = [p for p in (r.reason, f"({r.edition})" if r.edition else None) if p]
    return " ".join(parts) or "目標の改定（計画ファイル）"


def _revised_on(text: str | None) -> datetime | None:
    if not text:
        return None
    parts = [int(p) for p in text.split("-")]
    while len(parts) < 3:
        parts.append(1)
    return datetime(parts[0], parts[1], parts[2], tzinfo=UTC)


def _baseline_period(baseline: Baseline | None) -> str | None:
    if baseline is None:
        return None
    if baseline.as_of:
        return baseline.as_of
    if baseline.fiscal_year is not None:
        return f"FY{baseline.fiscal_year}"
    return None


def _dec(value: float | int | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


async def import_indicator_definitions(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    plan_file: PlanFile,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    revised_by: str | None = IMPORTER,
    overwrite: bool = False,
) -> ImportReport:
    """Create or change the indicators of ``plan_file`` atomically (see the module doc).

    Targets revised in the system since the last import (by anyone but ``revised_by``) that the
    file prints differently refuse the import with ``TargetConflicts`` (nothing written), each
    listed with both values, unless ``overwrite`` confirms that the file wins."""
    definitions = definitions_from_plan_file(plan_file)
    report = ImportReport(tenant=plan_file.tenant.slug, plan_key=plan_file.plan.key)
    moment = now or datetime.now(UTC)
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            await _import(
                conn, plan_file, definitions, report, moment, revised_by, progress, overwrite
            )
    else:
        await _import(
            pool_or_conn, plan_file, definitions, report, moment, revised_by, progress, overwrite
        )
    return report


async def find_import_conflicts(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection,
    plan_file: PlanFile,
    *,
    revised_by: str | None = IMPORTER,
) -> list[TargetConflict]:
    """The targets of ``plan_file`` revised in the system that importing it would overwrite
    (reads only)."""
    definitions = definitions_from_plan_file(plan_file)
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await find_target_conflicts(conn, definitions, importer=revised_by)
    return await find_target_conflicts(pool_or_conn, definitions, importer=revised_by)


async def _import(
    conn: asyncpg.Connection,
    plan_file: PlanFile,
    definitions: list[IndicatorDefinition],
    report: ImportReport,
    now: datetime,
    revised_by: str | None,
    progress: Progress | None,
    overwrite: bool = False,
) -> None:
    total = len(definitions)
    done = 0

    def applied(part: DefinitionReport, count: int) -> None:
        nonlocal done
        report.created += part.created
        report.updated += part.updated
        report.unchanged += part.unchanged
        report.target_revisions += part.target_revisions
        report.targets_created += part.targets_created
        report.status_changes += len(part.changes)
        done += count
        if progress is not None:
            progress(done, total)

    async with conn.transaction():
        report.not_in_file = await import_definitions(
            conn,
            definitions,
            tenant=plan_file.tenant.slug,
            plan_id=plan_file.plan_id(),
            now=now,
            reason=REIMPORT_REASON,
            revised_by=revised_by,
            applied=applied,
            overwrite=overwrite,
            conflicts=report.conflicts,
        )
