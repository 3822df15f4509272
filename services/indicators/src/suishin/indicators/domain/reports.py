"""Rules of reported actuals (pure): a report, the refusals, duplicates and who may report.

The batch is applied by :func:`suishin.indicators.commands.ingest` (Kafka, HTTP, GraphQL).

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

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from suishin.contracts.events import Envelope, IndicatorReported
from suishin.indicators.domain.model import (
    IndicatorSpec,
    ReportingPeriod,
    ReportRejected,
    may_report_for,
)
from suishin.kit.auth import Principal


@dataclass(frozen=True)
class Report:
    """One reported actual: from an event (Kafka or HTTP), a bare HTTP payload or a 所管課's
    GraphQL mutation."""

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


def reporter_refusal(
    principal: Principal, spec: IndicatorSpec, owners: tuple[str, ...]
) -> ReportRejected | None:
    """所管課 reporters report for their own indicators, 事務局 for any."""
    if may_report_for(principal, frozenset(owners)):
        return None
    names = "、".join(owners) or "なし"
    return ReportRejected(
        "FORBIDDEN",
        f"指標「{spec.title}」の実績を報告できるのは所管課（{names}）と事務局です",
        f"only the owning departments ({names}) and admins may report {spec.key!r}",
        "indicatorKey",
    )


def unknown_tenant(report: Report) -> ReportRejected:
    return ReportRejected(
        "unknown_tenant",
        f"自治体「{report.tenant}」の指標は登録されていません",
        f"tenant {report.tenant!r} has no indicators here",
        "tenant",
    )


def unknown_indicator(report: Report, other_tenants: set[str]) -> ReportRejected:
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


def key_reused(report: Report) -> ReportRejected:
    return ReportRejected(
        "idempotency_key_reused",
        f"冪等キー「{report.idempotency_key}」は別の内容の報告で使用済みです",
        f"idempotency key {report.idempotency_key!r} was used for a different report",
        "idempotencyKey",
    )


def same_content(key: str, period: str, first: Report, other: Report) -> bool:
    return (
        key == other.indicator_key
        and ReportingPeriod.parse(period).label == ReportingPeriod.parse(other.period).label
        and _dec_eq(first.value, other.value)
        and (first.text_value or None) == (other.text_value or None)
    )


def same_stored(row: Any, indicator_id: UUID, period: str, report: Report) -> bool:
    """Whether a stored measurement (a record) is ``report`` again."""
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
