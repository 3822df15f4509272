"""Measurement ingestion shared by the Kafka consumer and the GraphQL mutations.

One call applies a batch of reports in the caller's transaction with a handful of set-based
statements: resolve the indicators (locked, in id order), validate each report, insert the new
ones (``on conflict do nothing`` on the tenant's idempotency key), decide which value of each
period is current, then re-evaluate the affected indicators once and enqueue the status changes.

Rules:
- **Idempotency**: a report whose idempotency key the tenant used before is a duplicate and
  changes nothing; the same key with different content is refused (``idempotency_key_reused``).
- **Corrections and order**: every accepted report is kept. For one indicator and period, the
  current value is the greatest by ``(is_correction, occurred_at, received order)``: a
  correction supersedes the current value whatever its ``occurred_at`` (also one recorded
  earlier than the value it corrects), and only a later correction supersedes a correction;
  otherwise the report its source recorded last is current. A report that loses (a late one, or
  an ordinary one for a corrected period) is kept as superseded history and changes nothing.
  Refusals are never silent: each has a reason (dead letter or GraphQL error).
- **Unknown tenant**: a tenant without indicators is refused as ``unknown_tenant`` (a known
  tenant reporting another tenant's key: ``foreign_indicator``; an unknown key:
  ``unknown_indicator``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from suishin.contracts.events import Envelope, IndicatorReported
from suishin.indicators import storage
from suishin.indicators.domain.model import ReportingPeriod, ReportRejected, check_report
from suishin.indicators.reevaluation import StatusChange, reevaluate
from suishin.indicators.storage.indicators import IndicatorRecord
from suishin.indicators.storage.measurements import NewMeasurement


@dataclass(frozen=True)
class Report:
    """One reported actual, from an event or a 所管課's GraphQL mutation."""

    tenant: str
    indicator_key: str
    period: str
    value: Decimal | None
    text_value: str | None
    unit: str | None
    source: str
    idempotency_key: str
    occurred_at: datetime
    reported_by: str | None = None
    is_correction: bool = False
    comment: str | None = None
    event_id: UUID | None = None
    via: str = "kafka"

    @classmethod
    def from_event(cls, event: Envelope[IndicatorReported]) -> Report:
        p = event.payload
        return cls(
            tenant=event.tenant,
            indicator_key=p.indicator_key,
            period=p.period,
            value=p.value,
            text_value=p.text_value,
            unit=p.unit,
            source=p.source,
            idempotency_key=p.idempotency_key,
            occurred_at=event.occurred_at,
            reported_by=p.reported_by,
            is_correction=p.is_correction,
            comment=p.comment,
            event_id=event.event_id,
            via="kafka",
        )


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
                    raise _unknown_tenant(report)
                raise _unknown(report, elsewhere.get(report.indicator_key, set()))
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
            if _same_content(first.indicator_key, first.period, first, report):
                result.duplicates.append((report, 0))
            else:
                result.rejected.append((report, _reused(report)))
            continue
        seen[key] = report
        valid.append((report, indicator, period))

    existing = await storage.measurements.measurements_by_key(
        conn, [(r.tenant, r.idempotency_key) for r, _, _ in valid]
    )
    fresh: list[tuple[Report, IndicatorRecord, ReportingPeriod]] = []
    for report, indicator, period in valid:
        before = existing.get((report.tenant, report.idempotency_key))
        if before is None:
            fresh.append((report, indicator, period))
        elif _same_stored(before, indicator.id, period.label, report):
            result.duplicates.append((report, before["id"]))
        else:
            result.rejected.append((report, _reused(report)))
    ids = await storage.measurements.write_measurements(
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
    )
    affected: dict[UUID, IndicatorRecord] = {}
    from_fy: dict[UUID, int] = {}
    for (report, indicator, period), measurement_id in zip(fresh, ids, strict=True):
        result.accepted.append(Accepted(report, measurement_id, indicator))
        affected[indicator.id] = indicator
        earliest = from_fy.get(indicator.id, period.fiscal_year)
        from_fy[indicator.id] = min(earliest, period.fiscal_year)
    result.changes = await reevaluate(conn, affected, now, from_fiscal_year=from_fy)
    return result


def _unknown_tenant(report: Report) -> ReportRejected:
    return ReportRejected(
        "unknown_tenant",
        f"自治体「{report.tenant}」の指標は登録されていません",
        f"tenant {report.tenant!r} has no indicators here",
        "tenant",
    )


def _unknown(report: Report, other_tenants: set[str]) -> ReportRejected:
    if other_tenants - {report.tenant}:
        return ReportRejected(
            "foreign_indicator",
            f"指標「{report.indicator_key}」は自治体「{report.tenant}」のものではありません",
            f"indicator {report.indicator_key!r} does not belong to tenant {report.tenant!r}",
            "indicatorKey",
        )
    return ReportRejected(
        "unknown_indicator",
        f"指標「{report.indicator_key}」は登録されていません",
        f"unknown indicator {report.indicator_key!r}",
        "indicatorKey",
    )


def _reused(report: Report) -> ReportRejected:
    return ReportRejected(
        "idempotency_key_reused",
        f"冪等キー「{report.idempotency_key}」は別の内容の報告で使用済みです",
        f"idempotency key {report.idempotency_key!r} was used for a different report",
        "idempotencyKey",
    )


def _same_content(key: str, period: str, first: Report, other: Report) -> bool:
    return (
        key == other.indicator_key
        and ReportingPeriod.parse(period).label == ReportingPeriod.parse(other.period).label
        and _dec_eq(first.value, other.value)
        and (first.text_value or None) == (other.text_value or None)
    )


def _same_stored(row: asyncpg.Record, indicator_id: UUID, period: str, report: Report) -> bool:
    return (
        row["indicator_id"] == indicator_id
        and row["period"] == period
        and _dec_eq(row["value"], report.value)
        and (row["text_value"] or None) == (report.text_value or None)
    )


def _dec_eq(a: Decimal | None, b: Decimal | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b
