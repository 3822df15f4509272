"""Every state change of the indicators service, one function per command.

Each command runs in the caller's transaction (``conn``; open one with :func:`transaction`),
checks the rules of :mod:`suishin.indicators.domain` first and raises a
:class:`~suishin.kit.errors.DomainError` before writing, writes through
:mod:`suishin.indicators.storage`, and enqueues the status changes it causes through the outbox
(:func:`reevaluate`). Used by the GraphQL mutations, the Kafka handler, the HTTP ingest, the
plan-file import and the stale sweep; the caller wakes the relay after the commit when a command
returns changes.

Reports (:func:`ingest`) are applied as a batch with a handful of set-based statements: resolve
the indicators (locked, in id order), validate each report, store the new ones, decide which value
of each period is current, then re-evaluate the affected indicators once. The rules (idempotency,
corrections, refusals) are in :mod:`suishin.indicators.domain.reports`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.contracts import ids
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope, IndicatorStatusChanged, new_event
from suishin.indicators import storage
from suishin.indicators.domain.definitions import (
    IndicatorDefinition,
    Problems,
    TargetInput,
    check_definition,
    check_revision,
    link_ancestor_ids,
)
from suishin.indicators.domain.evaluation import Evaluation, evaluate, years_to_evaluate
from suishin.indicators.domain.model import (
    Observation,
    ReportingPeriod,
    ReportRejected,
    TargetSpec,
    check_report,
)
from suishin.indicators.domain.reimport import (
    CurrentTarget,
    TargetConflict,
    TargetConflicts,
    target_conflicts,
)
from suishin.indicators.domain.reports import (
    Report,
    key_reused,
    same_content,
    same_stored,
    unknown_indicator,
    unknown_tenant,
)
from suishin.indicators.storage.indicators import IndicatorRecord
from suishin.indicators.storage.measurements import NewMeasurement
from suishin.kit import inbox
from suishin.kit.errors import DomainError
from suishin.kit.outbox import enqueue_many

PRODUCER = "indicators"


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction, for one command (commits when the block ends)."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


# --- statuses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    indicator: IndicatorRecord
    evaluation: Evaluation
    from_status: IndicatorStatus | None
    event: Envelope[IndicatorStatusChanged]


async def reevaluate(
    conn: asyncpg.Connection,
    indicators: Mapping[UUID, IndicatorRecord],
    now: datetime,
    *,
    from_fiscal_year: Mapping[UUID, int] | None = None,
    observations: Mapping[UUID, list[Observation]] | None = None,
) -> list[StatusChange]:
    """Evaluate the plan years of ``indicators`` that have started by ``now`` (from
    ``from_fiscal_year`` on, per indicator, when given), store what changed and enqueue
    ``indicator.status_changed`` for every status that changed. ``observations``: the
    indicators' current values when the caller has them (a write returns them), else read.

    The caller holds the indicators' row locks (``load_indicators(..., lock=True)``), so two
    transactions never announce the same change twice. A first evaluation that finds no data
    is stored but not announced: "nothing reported yet" is not news.
    """
    if not indicators:
        return []
    ids = list(indicators)
    if observations is None:
        observations = await storage.measurements.current_observations(conn, ids)
    stored = await storage.statuses.load_statuses(conn, ids)
    to_write: list[tuple[UUID, Evaluation]] = []
    changed: list[tuple[IndicatorRecord, Evaluation, IndicatorStatus | None]] = []
    for indicator_id, record in indicators.items():
        start = from_fiscal_year.get(indicator_id) if from_fiscal_year else None
        obs = observations.get(indicator_id, [])
        for fy in years_to_evaluate(record.spec, now, from_fy=start):
            evaluation = evaluate(record.spec, fy, obs, now)
            previous = stored.get((indicator_id, fy))
            if previous is not None and previous.same_as(evaluation):
                continue
            to_write.append((indicator_id, evaluation))
            before = previous.status if previous is not None else None
            if before == evaluation.status:
                continue
            if before is None and evaluation.status is IndicatorStatus.NO_DATA:
                continue
            changed.append((record, evaluation, before))
    await storage.statuses.write_statuses(conn, to_write, now)
    if not changed:
        return []
    links = await storage.links.load_links(conn, list({r.id for r, _, _ in changed}))
    versions: dict[UUID, int] = {}
    changes: list[StatusChange] = []
    for record, evaluation, before in changed:
        version = versions.get(record.id, record.status_version) + 1
        versions[record.id] = version
        link = links.get(record.id, storage.links.Links([], []))
        payload = IndicatorStatusChanged(
            indicator_id=record.id,
            indicator_key=record.key,
            title=record.spec.title,
            period=evaluation.period,
            fiscal_year=evaluation.fiscal_year,
            from_status=before,
            to_status=evaluation.status,
            figures=evaluation.figures.to_event(),
            rule=evaluation.rule,
            reason=evaluation.reason,
            measure_ids=link.node_ids,
            department_codes=list(record.owner_departments),
            plan_ids=link.plan_ids or ([record.plan_id] if record.plan_id else []),
        )
        event = new_event(
            payload,
            tenant=record.tenant,
            aggregate_id=str(record.id),
            producer=PRODUCER,
            aggregate_version=version,
        )
        changes.append(StatusChange(record, evaluation, before, event))
    await storage.statuses.record_status_changes(
        conn,
        [(c.indicator.id, c.evaluation, c.from_status, c.event.event_id) for c in changes],
        versions,
    )
    await enqueue_many(conn, [c.event for c in changes])
    return changes


async def sweep_page(
    conn: asyncpg.Connection, now: datetime, *, min_end_fy: int, after: UUID | None, limit: int
) -> tuple[list[UUID], list[StatusChange]]:
    """Re-evaluate one page of indicators with a reporting cadence (the stale sweep): the ids
    of the page (empty at the end) and the status changes made."""
    page = await storage.indicators.due_for_sweep(
        conn, min_end_fy=min_end_fy, after=after, limit=limit
    )
    if not page:
        return [], []
    records = await storage.indicators.load_indicators(conn, page, lock=True)
    return page, await reevaluate(conn, records, now)


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    report: Report
    measurement_id: int
    indicator: IndicatorRecord


@dataclass
class IngestResult:
    accepted: list[Accepted] = field(default_factory=list)
    duplicates: list[tuple[Report, int]] = field(default_factory=list)
    rejected: list[tuple[Report, ReportRejected]] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)


Authorize = Callable[[IndicatorRecord], ReportRejected | None]


async def ingest(
    conn: asyncpg.Connection,
    reports: Sequence[Report],
    *,
    now: datetime,
    authorize: Authorize | None = None,
) -> IngestResult:
    """Apply ``reports`` in the caller's open transaction."""
    result = IngestResult()
    if not reports:
        return result
    indicators = await storage.indicators.load_indicators_by_key(
        conn, {(r.tenant, r.indicator_key) for r in reports}, lock=True
    )
    missing = [r for r in reports if (r.tenant, r.indicator_key) not in indicators]
    unknown = {r.indicator_key for r in missing}
    elsewhere = await storage.indicators.tenants_having_keys(conn, unknown) if unknown else {}
    tenants = (
        await storage.indicators.known_tenants(conn, {r.tenant for r in missing})
        if missing
        else set()
    )

    valid: list[tuple[Report, IndicatorRecord, ReportingPeriod]] = []
    seen: dict[tuple[str, str], Report] = {}
    for report in reports:
        indicator = indicators.get((report.tenant, report.indicator_key))
        try:
            if indicator is None:
                if report.tenant not in tenants:
                    raise unknown_tenant(report)
                raise unknown_indicator(report, elsewhere.get(report.indicator_key, set()))
            if authorize is not None and (refusal := authorize(indicator)) is not None:
                raise refusal
            period = check_report(
                indicator.spec,
                period=report.period,
                value=report.value,
                text_value=report.text_value,
                unit=report.unit,
                now=now,
            )
        except ReportRejected as rejected:
            result.rejected.append((report, rejected))
            continue
        key = (report.tenant, report.idempotency_key)
        first = seen.get(key)
        if first is not None:
            if same_content(first.indicator_key, first.period, first, report):
                result.duplicates.append((report, 0))
            else:
                result.rejected.append((report, key_reused(report)))
            continue
        seen[key] = report
        valid.append((report, indicator, period))

    # the stored reports of the batch's keys, the indicators' current values and the new rows'
    # ids, in one read
    prepared = await storage.measurements.prepare_write(
        conn,
        [(r.tenant, r.idempotency_key) for r, _, _ in valid],
        list({ind.id for _, ind, _ in valid}),
        len(valid),
    )
    existing = prepared.by_key
    fresh: list[tuple[Report, IndicatorRecord, ReportingPeriod]] = []
    for report, indicator, period in valid:
        before = existing.get((report.tenant, report.idempotency_key))
        if before is None:
            fresh.append((report, indicator, period))
        elif same_stored(before, indicator.id, period.label, report):
            result.duplicates.append((report, before["id"]))
        else:
            result.rejected.append((report, key_reused(report)))
    written = await storage.measurements.write_measurements(
        conn,
        [
            NewMeasurement(
                tenant=r.tenant,
                indicator_id=ind.id,
                period=period,
                value=r.value,
                text_value=r.text_value,
                unit=r.unit or ind.spec.unit,
                source=r.source,
                idempotency_key=r.idempotency_key,
                reported_by=r.reported_by,
                is_correction=r.is_correction,
                comment=r.comment,
                occurred_at=r.occurred_at,
                event_id=r.event_id,
                via=r.via,
            )
            for r, ind, period in fresh
        ],
        prepared,
    )
    affected: dict[UUID, IndicatorRecord] = {}
    from_fy: dict[UUID, int] = {}
    for (report, indicator, period), measurement_id in zip(fresh, written.ids, strict=True):
        result.accepted.append(Accepted(report, measurement_id, indicator))
        affected[indicator.id] = indicator
        earliest = from_fy.get(indicator.id, period.fiscal_year)
        from_fy[indicator.id] = min(earliest, period.fiscal_year)
    result.changes = await reevaluate(
        conn, affected, now, from_fiscal_year=from_fy, observations=written.current
    )
    return result


@dataclass(frozen=True)
class ClaimedIngest:
    """What :func:`ingest_claimed` did: the reports whose events were applied before, and the
    result of the others."""

    seen: list[Report]
    result: IngestResult


async def ingest_claimed(
    conn: asyncpg.Connection,
    consumer: str,
    reports: Sequence[Report],
    *,
    now: datetime,
    authorize: Authorize | None = None,
) -> ClaimedIngest:
    """:func:`ingest` with the inbox claims of ``consumer`` (the Kafka handler's), for reports
    that arrive another way (HTTP): a report whose event was applied before changes nothing, and
    the claims of refused reports are released, so that a resend is judged again."""
    fresh = await inbox.claim_many(conn, consumer, [r.event_id for r in reports if r.event_id])
    seen = [r for r in reports if r.event_id is not None and r.event_id not in fresh]
    applied = [r for r in reports if r.event_id is None or r.event_id in fresh]
    result = await ingest(conn, applied, now=now, authorize=authorize)
    refused = [r.event_id for r, _ in result.rejected if r.event_id is not None]
    if refused:
        await inbox.release(conn, consumer, refused)
    return ClaimedIngest(seen, result)


@dataclass(frozen=True)
class Reported:
    """What :func:`report_actual` stored: the result, the measurement (the stored one for a
    duplicate) and the status of its fiscal year."""

    result: IngestResult
    measurement: asyncpg.Record | None = None
    status: asyncpg.Record | None = None


async def report_actual(
    conn: asyncpg.Connection,
    report: Report,
    *,
    now: datetime,
    authorize: Authorize | None = None,
) -> Reported:
    """One actual reported by a person (GraphQL): a correction needs a current value to
    correct; refusals are in ``result.rejected``."""
    if report.is_correction:
        period = ReportingPeriod.parse(report.period).label
        indicator_id = ids.indicator_id(report.tenant, report.indicator_key)
        if not await storage.measurements.has_current(conn, indicator_id, period):
            raise DomainError(
                "NOTHING_TO_CORRECT",
                f"期間 {period} の実績はまだ報告されていないため訂正できません",
                f"there is no actual for {period} to correct",
                "period",
            )
    result = await ingest(conn, [report], now=now, authorize=authorize)
    if result.rejected:
        return Reported(result)
    if result.duplicates:
        measurement_id = result.duplicates[0][1]
    else:
        measurement_id = result.accepted[0].measurement_id
    row = await storage.measurements.measurement(conn, measurement_id)
    status = (
        await storage.statuses.status_row(conn, row["indicator_id"], row["fiscal_year"])
        if row is not None
        else None
    )
    return Reported(result, row, status)


# --- definitions and targets -------------------------------------------------------------------


@dataclass
class DefinitionReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    target_revisions: int = 0
    """Targets that changed (a new value, new wording or closed); new slots are not counted."""
    targets_created: int = 0
    changes: list[StatusChange] = field(default_factory=list)


async def apply_definitions(
    conn: asyncpg.Connection,
    definitions: Sequence[IndicatorDefinition],
    *,
    now: datetime,
    reason: str,
    revised_by: str | None,
) -> DefinitionReport:
    """Create indicators or change them in the caller's transaction; re-evaluate what changed."""
    report = DefinitionReport()
    if not definitions:
        return report
    # Parents before their sub-series (foreign key), every indicator locked in id order.
    ordered = sorted(definitions, key=lambda d: (d.parent_key is not None, d.key))
    await storage.indicators.lock(conn, [d.id for d in ordered])
    current = await storage.targets.current_targets(conn, [d.id for d in ordered])
    touched: set[UUID] = set()
    for d in ordered:
        written = await storage.indicators.upsert(conn, d, now)
        links_changed = await _apply_links(conn, d)
        created, revisions = await _apply_targets(
            conn, d, current.get(d.id, []), now=now, reason=reason, revised_by=revised_by
        )
        report.targets_created += created
        report.target_revisions += revisions
        revisions += created
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


async def import_definitions(
    conn: asyncpg.Connection,
    definitions: Sequence[IndicatorDefinition],
    *,
    tenant: str,
    plan_id: UUID,
    now: datetime,
    reason: str,
    revised_by: str | None,
    applied: Callable[[DefinitionReport, int], None] | None = None,
    chunk: int = 50,
    overwrite: bool = False,
    conflicts: list[TargetConflict] | None = None,
) -> list[str]:
    """Apply a plan file's definitions, ``chunk`` at a time (``applied`` sees each part's report
    and size); return the keys of the plan's stored indicators the file no longer lists (kept).

    Every stored indicator of the file is locked up front, in id order like the consumer does,
    so an import running next to a stream of reports cannot deadlock with it. Targets revised
    in the system since (see :mod:`.domain.reimport`) that the file would change refuse the
    whole import with :class:`TargetConflicts` unless ``overwrite``; the conflicts overwritten
    are appended to ``conflicts``."""
    await storage.indicators.lock(conn, [d.id for d in definitions])
    found = await find_target_conflicts(conn, definitions, importer=revised_by)
    if found and not overwrite:
        raise TargetConflicts(found)
    if conflicts is not None:
        conflicts.extend(found)
    for i in range(0, len(definitions), chunk):
        part = definitions[i : i + chunk]
        result = await apply_definitions(conn, part, now=now, reason=reason, revised_by=revised_by)
        if applied is not None:
            applied(result, len(part))
    return await storage.indicators.keys_of_plan_except(
        conn, tenant, plan_id, [d.key for d in definitions]
    )


async def find_target_conflicts(
    conn: asyncpg.Connection, definitions: Sequence[IndicatorDefinition], *, importer: str | None
) -> list[TargetConflict]:
    """The targets of these definitions revised outside an import that the file would change
    (reads only)."""
    current = await storage.targets.current_with_authors(conn, [d.id for d in definitions])
    out: list[TargetConflict] = []
    for d in definitions:
        stored = {
            (spec.fiscal_year, spec.from_fiscal_year): CurrentTarget(spec, by, since)
            for spec, by, since in current.get(d.id, [])
        }
        if stored:
            wanted = {t.slot: t.spec() for t in d.targets}
            out += target_conflicts(d.key, wanted, stored, (importer, None))
    return out


async def define_indicator(
    conn: asyncpg.Connection,
    definition: IndicatorDefinition,
    *,
    now: datetime,
    reason: str,
    revised_by: str | None,
) -> DefinitionReport:
    """Create an indicator or replace its definition (事務局, GraphQL) after checking it."""
    problems = check_definition(definition)
    if problems:
        raise Problems(problems)
    return await apply_definitions(
        conn, [definition], now=now, reason=reason, revised_by=revised_by
    )


async def _apply_links(conn: asyncpg.Connection, d: IndicatorDefinition) -> bool:
    changed = await storage.links.replace_links(
        conn, d.id, d.tenant, [(link.node_id, link.plan_id, link.node_path) for link in d.links]
    )
    await storage.links.replace_ancestors(conn, d.id, d.tenant, link_ancestor_ids(d))
    return changed


async def _apply_targets(
    conn: asyncpg.Connection,
    d: IndicatorDefinition,
    existing: list[TargetSpec],
    *,
    now: datetime,
    reason: str,
    revised_by: str | None,
) -> tuple[int, int]:
    """Bring the current targets in line with ``d.targets``; return how many slots were
    created and how many existing ones changed."""
    by_slot = {(t.fiscal_year, t.from_fiscal_year): t for t in existing}
    wanted = {t.slot: t for t in d.targets}
    created = changes = 0
    for slot, target in wanted.items():
        before = by_slot.get(slot)
        if before is None:
            await storage.targets.insert_history(conn, d.id, target, now=now, revised_by=revised_by)
            created += 1
        elif not before.same_value(target.spec()) or before.printed != target.printed:
            if before.same_value(target.spec()):
                # Only the printed wording changed: not a revision of the target itself.
                await storage.targets.set_printed(conn, d.id, slot, target.printed)
            else:
                await storage.targets.revise_target(
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
    return created, changes


@dataclass(frozen=True)
class RevisedTarget:
    indicator: IndicatorRecord
    target: asyncpg.Record | None
    changes: list[StatusChange]


async def revise_target(
    conn: asyncpg.Connection,
    tenant: str,
    indicator_id: UUID | None,
    target: TargetInput,
    *,
    reason: str,
    revised_by: str | None,
    now: datetime,
    shown_id: str,
) -> RevisedTarget:
    """A new value for one target of the tenant's indicator, kept as the next revision (the
    old value stays in the history); re-evaluates the indicator."""
    if not reason.strip():
        raise DomainError(
            "REASON_REQUIRED", "改定理由を入力してください", "a reason is required", "reason"
        )
    records = await storage.indicators.load_indicators(
        conn, [indicator_id] if indicator_id else [], lock=True
    )
    record = records.get(indicator_id) if indicator_id else None
    if record is None or record.tenant != tenant:
        raise DomainError(
            "NOT_FOUND",
            f"指標「{shown_id}」が見つかりません",
            f"indicator {shown_id!r} not found",
            "indicatorId",
        )
    spec = record.spec
    current = next(
        (t for t in spec.targets if (t.fiscal_year, t.from_fiscal_year) == target.slot), None
    )
    problems = check_revision(spec.period_start_fy, spec.period_end_fy, current, target)
    if problems:
        raise Problems(problems)
    revision = await storage.targets.revise_target(
        conn, record.id, target, reason=reason.strip(), revised_by=revised_by, now=now
    )
    refreshed = await storage.indicators.load_indicators(conn, [record.id])
    changes = await reevaluate(conn, refreshed, now)
    row = await storage.targets.revision_row(conn, record.id, target.slot, revision)
    return RevisedTarget(refreshed[record.id], row, changes)
