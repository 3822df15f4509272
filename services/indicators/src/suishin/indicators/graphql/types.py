"""GraphQL types of the indicators subgraph (Strawberry, federation v2).

``Indicator`` is an entity (``@key(fields: "id")``); ``Measure`` (owned by the plans subgraph) is
an entity this subgraph extends with ``indicators``. Every database read goes through the
per-request loaders (:mod:`suishin.indicators.graphql.loaders`), so a list of any length costs
one query per field, not one per row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import asyncpg
import strawberry
from graphql import GraphQLResolveInfo
from strawberry.types import Info

from suishin.contracts.calendar import fiscal_year_of, format_fiscal_year
from suishin.indicators.domain import evaluation as ev
from suishin.indicators.domain.model import Cadence, Granularity, Observation, ReportingPeriod
from suishin.indicators.graphql.loaders import Loaders
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.storage.indicators import IndicatorRecord
from suishin.kit.enums import Aggregation, Comparator, IndicatorStatus, Polarity, graphql_enum
from suishin.kit.graphql import context_of, require_tenant
from suishin.kit.loading import when_loaded
from suishin.kit.paging import Connection

# The contracts' enums are GraphQL enums through suishin.kit.enums; the service's own here.
graphql_enum(
    Granularity,
    name="PeriodGranularity",
    description="Periods actuals are reported for: fiscal year, month or as-of date.",
)
graphql_enum(
    Cadence, name="ReportingCadence", description="How often a report is due (NONE: never overdue)."
)


# --- access ------------------------------------------------------------------------------------


def runtime_of(info: Info[Any, Any]) -> IndicatorsRuntime:
    runtime = context_of(info).runtime
    assert isinstance(runtime, IndicatorsRuntime)
    return runtime


def tenant_of(info: Info[Any, Any], tenant: str | None = None) -> str:
    """The caller's tenant; a request for another tenant's data is refused."""
    caller = require_tenant(info, tenant).tenant
    assert caller is not None
    return caller


def loaders_of(info: Info[Any, Any]) -> Loaders:
    ctx = context_of(info)
    tenant = tenant_of(info)
    loaders = ctx.loaders.get("indicators")
    if not isinstance(loaders, Loaders) or loaders.tenant != tenant:
        loaders = ctx.loaders["indicators"] = Loaders(ctx.runtime.pool, tenant)
    return loaders


def reads_internal(info: Info[Any, Any]) -> bool:
    return context_of(info).principal.can_read_internal


def current_fiscal_year(info: Info[Any, Any]) -> int:
    return fiscal_year_of(runtime_of(info).clock.now())


def to_uuid(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None


# --- values ------------------------------------------------------------------------------------


@strawberry.type(description="The numbers behind a status: what was compared with what.")
class EvaluationFigures:
    actual: Decimal | None = strawberry.field(
        description="The figure evaluated: the year's value, year-to-date sum or running total."
    )
    target: Decimal | None = strawberry.field(description="The target it was compared with.")
    expected_to_date: Decimal | None = strawberry.field(
        description="The target pro-rated to the data's coverage (straight line), if used."
    )
    remaining: Decimal | None = strawberry.field(
        description="Multi-year/cumulative targets: what was left at the start of the year."
    )
    comparator: Comparator | None = strawberry.field(description="How the target is met.")
    unit: str | None = strawberry.field(description="Unit of the figures.")
    target_text: str | None = strawberry.field(
        description="The target as printed, or the text target (拡大, 検討, ...)."
    )
    coverage: Decimal | None = strawberry.field(
        description="Share of the fiscal year the data covers (0-1); 1 means the year is final."
    )
    reference: Decimal | None = strawberry.field(
        description="The earlier value a directional or straight-line rule compared with."
    )
    span_from: int | None = strawberry.field(description="First year of a multi-year target.")
    span_to: int | None = strawberry.field(description="Last year of a multi-year target.")
    basis: str | None = strawberry.field(
        description="What the actual is made of, e.g. 2024年4月〜8月の5か月分の合計."
    )
    overdue_period: str | None = strawberry.field(
        description="STALE: the period whose report is overdue."
    )
    due_date: date | None = strawberry.field(description="STALE: when that report was due.")

    @classmethod
    def of(cls, f: ev.EvaluationFigures) -> EvaluationFigures:
        return cls(
            actual=f.actual,
            target=f.target,
            expected_to_date=f.expected_to_date,
            remaining=f.remaining,
            comparator=Comparator(f.comparator) if f.comparator else None,
            unit=f.unit,
            target_text=f.target_text,
            coverage=f.coverage,
            reference=f.reference,
            span_from=f.span_from,
            span_to=f.span_to,
            basis=f.basis,
            overdue_period=f.overdue_period,
            due_date=f.due_date,
        )


@strawberry.type(
    description="An indicator's status for one fiscal year and why (rule, reason, figures)."
)
class IndicatorEvaluation:
    """Reason and figures are worked out when asked for: a dashboard's series asks for the
    status of every year, its explanation for one."""

    fiscal_year: int = strawberry.field(description="Fiscal year (April-March) evaluated.")
    period: str = strawberry.field(description="The year as a period, e.g. FY2024.")
    status: IndicatorStatus = strawberry.field(description="The status.")
    status_label: str = strawberry.field(description="The status in Japanese (達成, 順調, ...).")
    rule: str = strawberry.field(
        description="Evaluation rule used (per_year_prorated, cumulative_final, ...)."
    )
    explain: strawberry.Private[Callable[[], tuple[str, ev.EvaluationFigures]]]
    times: strawberry.Private[tuple[datetime | None, datetime | None]]  # evaluated, changed

    @strawberry.field(description="Why, in Japanese, with the figures.")
    def reason(self) -> str:
        return self.explain()[0]

    @strawberry.field(description="The figures the rule used.")
    def figures(self) -> EvaluationFigures:
        return EvaluationFigures.of(self.explain()[1])

    @strawberry.field(description="When it was last evaluated.")
    def evaluated_at(self) -> datetime | None:
        return self.times[0]

    @strawberry.field(description="Since when it has this status.")
    def changed_at(self) -> datetime | None:
        return self.times[1]

    @classmethod
    def of_row(cls, row: asyncpg.Record) -> IndicatorEvaluation:
        status = IndicatorStatus(row["status"])
        return cls(
            fiscal_year=row["fiscal_year"],
            period=f"FY{row['fiscal_year']}",
            status=status,
            status_label=ev.STATUS_LABELS_JA[status],
            rule=row["rule"],
            explain=lambda: (row["reason"], ev.EvaluationFigures.from_json(row["figures"])),
            times=(row["evaluated_at"], row["changed_at"]),
        )

    @classmethod
    def nothing_yet(
        cls, record: IndicatorRecord, fiscal_year: int, started: bool, evaluated: bool = True
    ) -> IndicatorEvaluation:
        def explain() -> tuple[str, ev.EvaluationFigures]:
            target = ev.select_target(record.spec, fiscal_year)
            year = format_fiscal_year(fiscal_year)
            if not evaluated:
                reason = f"{year}は計画期間前のため評価しません（実績は比較の基準に使います）。"
            elif started:
                reason = f"{year}の実績はまだ報告されていません。"
            else:
                reason = f"{year}はまだ始まっていません。"
            return reason, ev.EvaluationFigures(
                target=target.value if target else None,
                comparator=target.comparator.value if target and target.comparator else None,
                unit=record.spec.unit,
                target_text=(target.printed or target.text) if target else None,
            )

        return cls(
            fiscal_year=fiscal_year,
            period=f"FY{fiscal_year}",
            status=IndicatorStatus.NO_DATA,
            status_label=ev.STATUS_LABELS_JA[IndicatorStatus.NO_DATA],
            rule="no_measurement" if evaluated else "before_plan",
            explain=explain,
            times=(None, None),
        )


@strawberry.type(description="A change of an indicator's status, as announced to other services.")
class IndicatorStatusChange:
    fiscal_year: int = strawberry.field(description="Fiscal year whose status changed.")
    from_status: IndicatorStatus | None = strawberry.field(description="Status before.")
    to_status: IndicatorStatus = strawberry.field(description="Status after.")
    rule: str = strawberry.field(description="Evaluation rule used.")
    reason: str = strawberry.field(description="Why, in Japanese.")
    figures: EvaluationFigures = strawberry.field(description="The figures at the change.")
    changed_at: datetime = strawberry.field(description="When.")
    event_id: strawberry.ID = strawberry.field(
        description="Id of the indicator.status_changed event."
    )


@strawberry.type(description="A target of an indicator (one revision of it).")
class IndicatorTarget:
    fiscal_year: int = strawberry.field(description="Fiscal year the target is for (its last).")
    from_fiscal_year: int | None = strawberry.field(
        description="First year of a multi-year target (3か年事業量), else null."
    )
    value: Decimal | None = strawberry.field(description="Target value; null for a text target.")
    comparator: Comparator | None = strawberry.field(description="How the target is met.")
    text: str | None = strawberry.field(description="Text target (拡大, 検討, ...).")
    printed: str | None = strawberry.field(description="The target as the plan prints it.")
    revision: int = strawberry.field(description="1 for the first value, +1 per revision.")
    reason: str | None = strawberry.field(description="Why this revision replaced the previous.")
    revised_by: str | None = strawberry.field(description="Who made this revision.")
    valid_from: datetime = strawberry.field(description="Since when this value applies.")
    superseded_at: datetime | None = strawberry.field(
        description="When a later revision replaced it (null: current)."
    )
    is_current: bool = strawberry.field(description="Whether this is the current value.")

    @classmethod
    def of_row(cls, row: asyncpg.Record) -> IndicatorTarget:
        return cls(
            fiscal_year=row["fiscal_year"],
            from_fiscal_year=row["from_fiscal_year"],
            value=row["value"],
            comparator=Comparator(row["comparator"]) if row["comparator"] else None,
            text=row["text"],
            printed=row["printed"],
            revision=row["revision"],
            reason=row["reason"],
            revised_by=row["revised_by"],
            valid_from=row["valid_from"],
            superseded_at=row["superseded_at"],
            is_current=row["superseded_at"] is None,
        )


@strawberry.type(description="A reported actual (実績). Corrections supersede, never overwrite.")
class Measurement:
    id: strawberry.ID = strawberry.field(description="Measurement id.")
    period: str = strawberry.field(description="FY2024, 2024-08 or 2024-08-01.")
    fiscal_year: int = strawberry.field(description="Fiscal year of the period.")
    value: Decimal | None = strawberry.field(description="Numeric value.")
    text_value: str | None = strawberry.field(description="Text value (milestones).")
    unit: str | None = strawberry.field(description="Unit as reported.")
    source: str | None = strawberry.field(description="Reporting system or person (internal).")
    reported_by: str | None = strawberry.field(description="Reporter (internal).")
    comment: str | None = strawberry.field(description="Comment or correction reason (internal).")
    is_correction: bool = strawberry.field(description="Sent as a correction.")
    occurred_at: datetime = strawberry.field(
        description="When the source recorded the value; decides which value is current."
    )
    received_at: datetime = strawberry.field(description="When the service received it.")
    is_current: bool = strawberry.field(description="Whether this is the period's current value.")
    superseded_by_id: strawberry.ID | None = strawberry.field(
        description="The measurement that superseded this one."
    )
    superseded_at: datetime | None = strawberry.field(description="When it was superseded.")
    via: str = strawberry.field(description="kafka (external system) or graphql (所管課).")
    idempotency_key: str | None = strawberry.field(description="Idempotency key (internal).")

    @classmethod
    def of_row(cls, row: asyncpg.Record, *, internal: bool) -> Measurement:
        return cls(
            id=strawberry.ID(str(row["id"])),
            period=row["period"],
            fiscal_year=row["fiscal_year"],
            value=row["value"],
            text_value=row["text_value"],
            unit=row["unit"],
            source=row["source"] if internal else None,
            reported_by=row["reported_by"] if internal else None,
            comment=row["comment"] if internal else None,
            is_correction=row["is_correction"],
            occurred_at=row["occurred_at"],
            received_at=row["received_at"],
            is_current=row["is_current"],
            superseded_by_id=(
                strawberry.ID(str(row["superseded_by"])) if row["superseded_by"] else None
            ),
            superseded_at=row["superseded_at"],
            via=row["via"],
            idempotency_key=row["idempotency_key"] if internal else None,
        )


@strawberry.type(description="One fiscal year of an indicator: target against actual, and status.")
class IndicatorSeriesPoint:
    fiscal_year: int = strawberry.field(description="Fiscal year.")
    period: str = strawberry.field(description="The year as a period, e.g. FY2024.")
    label: str = strawberry.field(description="The year in 和暦, e.g. 令和6年度.")
    target: IndicatorTarget | None = strawberry.field(
        description="The target evaluation uses for the year (its own, multi-year or carried)."
    )
    actual: Decimal | None = strawberry.field(
        description="The year's figure from the current values (sum of months, latest level...)."
    )
    coverage: Decimal | None = strawberry.field(description="Share of the year the data covers.")
    status: IndicatorEvaluation = strawberry.field(description="Status of the year.")
    measurements: list[Measurement] = strawberry.field(
        description="Every report for periods in the year, superseded ones included."
    )


@strawberry.type(description="Baseline (現状値) of an indicator.")
class IndicatorBaseline:
    value: Decimal | None = strawberry.field(description="Value.")
    text: str | None = strawberry.field(description="Value as text, when not numeric.")
    period: str | None = strawberry.field(description="As of: FY2022 or 2023-10-01.")
    source: str | None = strawberry.field(description="Where it comes from.")


@strawberry.type(description="A note on an indicator (inferred, uncertain, corrected, remark).")
class IndicatorNote:
    kind: str = strawberry.field(description="inferred, uncertain, corrected, source_typo, remark.")
    text: str = strawberry.field(description="The note.")
    field: str | None = strawberry.field(description="The field it is about, if any.")


# --- the entity --------------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["id"],
    description="An indicator (指標/KPI/事業量): definition, targets, actuals and status.",
)
class Indicator:
    id: strawberry.ID = strawberry.field(description="Indicator id (UUIDv5 of tenant and key).")
    record: strawberry.Private[IndicatorRecord]

    @classmethod
    def of(cls, record: IndicatorRecord) -> Indicator:
        return cls(id=strawberry.ID(str(record.id)), record=record)

    @classmethod
    async def resolve_reference(cls, info: Info[Any, Any], id: strawberry.ID) -> Indicator | None:
        indicator_id = to_uuid(id)
        if indicator_id is None:
            return None
        record = await loaders_of(info).indicator.load(indicator_id)
        return cls.of(record) if record is not None else None

    @strawberry.field(description="Municipality (tenant) slug.")
    def tenant(self) -> str:
        return self.record.tenant

    @strawberry.field(description="Stable key; sub-series: <indicator key>/<sub-series key>.")
    def key(self) -> str:
        return self.record.key

    @strawberry.field(description="Name as printed.")
    def title(self) -> str:
        return self.record.spec.title

    @strawberry.field(description="Description.")
    def description(self) -> str | None:
        return self.record.description

    @strawberry.field(description="Unit (件, %, 時間, シナリオ ...).")
    def unit(self) -> str | None:
        return self.record.spec.unit

    @strawberry.field(description="Which direction is better.")
    def polarity(self) -> Polarity:
        return self.record.spec.polarity

    @strawberry.field(description="How values add up over periods.")
    def aggregation(self) -> Aggregation:
        return self.record.spec.aggregation

    @strawberry.field(description="Periods the actuals are reported for.")
    def granularity(self) -> Granularity:
        return self.record.spec.granularity

    @strawberry.field(description="How often a report is due.")
    def cadence(self) -> Cadence:
        return self.record.spec.cadence

    @strawberry.field(description="Days after a period ends until its report is due.")
    def report_lag_days(self) -> int:
        return self.record.spec.lag.days

    @strawberry.field(description="Text-only indicator (evaluated by the qualitative rules).")
    def qualitative(self) -> bool:
        return self.record.spec.qualitative

    @strawberry.field(description="Qualitative milestone indicator.")
    def milestone(self) -> bool:
        return self.record.spec.milestone

    @strawberry.field(description="Relative tolerance of 約 targets (0.05 = ±5 %).")
    def tolerance(self) -> Decimal:
        return self.record.spec.approx_tolerance

    @strawberry.field(description="How far behind the expected figure still counts as at risk.")
    def at_risk_margin(self) -> Decimal:
        return self.record.spec.margin

    @strawberry.field(description="Baseline (現状値).")
    def baseline(self) -> IndicatorBaseline | None:
        r = self.record
        if r.spec.baseline_value is None and r.baseline_text is None:
            return None
        return IndicatorBaseline(
            value=r.spec.baseline_value,
            text=r.baseline_text,
            period=r.spec.baseline_period,
            source=r.baseline_source,
        )

    @strawberry.field(description="Plan the indicator belongs to (plans-service id).")
    def plan_id(self) -> strawberry.ID | None:
        return strawberry.ID(str(self.record.plan_id)) if self.record.plan_id else None

    @strawberry.field(description="Key of that plan.")
    def plan_key(self) -> str | None:
        return self.record.plan_key

    @strawberry.field(description="First fiscal year actuals are accepted for.")
    def period_start(self) -> int:
        return self.record.spec.period_start_fy

    @strawberry.field(description="Last fiscal year actuals are accepted for.")
    def period_end(self) -> int:
        return self.record.spec.period_end_fy

    @strawberry.field(description="Departments (所管課) that report it.")
    def owner_departments(self) -> list[str]:
        return list(self.record.owner_departments)

    @strawberry.field(description="Where the definition comes from: plan_file or graphql.")
    def origin(self) -> str:
        return self.record.origin

    @strawberry.field(description="Where in the plan it is printed.")
    def source(self) -> str | None:
        return self.record.source

    @strawberry.field(description="Notes kept from the plan file (inferred, uncertain, ...).")
    def notes(self) -> list[IndicatorNote]:
        return [
            IndicatorNote(
                kind=str(n.get("kind", "remark")), text=str(n.get("text", "")), field=n.get("field")
            )
            for n in self.record.notes
            if isinstance(n, dict)
        ]

    @strawberry.field(description="Key of the sub-series within its parent indicator, if one.")
    def sub_series_key(self) -> str | None:
        return self.record.sub_series_key

    @strawberry.field(description="Ids of the measures/goals (plans-service nodes) it measures.")
    def measure_ids(self, info: Info[Any, Any]) -> list[strawberry.ID]:
        return when_loaded(
            lambda links: [strawberry.ID(str(n)) for n in links.node_ids],
            (loaders_of(info).links, self.record.id),
        )

    @strawberry.field(description="The parent indicator of a sub-series.")
    async def parent(self, info: Info[Any, Any]) -> Indicator | None:
        if self.record.parent_id is None:
            return None
        record = await loaders_of(info).indicator.load(self.record.parent_id)
        return Indicator.of(record) if record else None

    @strawberry.field(description="Sub-series (per channel, per system), each an indicator.")
    async def sub_series(self, info: Info[Any, Any]) -> list[Indicator]:
        loaders = loaders_of(info)
        loaders.want(info)
        records = await loaders.children.load(self.record.id)
        await loaders.prefetch(r.id for r in records)
        return [Indicator.of(r) for r in records]

    @strawberry.field(description="Current targets, per fiscal year (and multi-year span).")
    def targets(self, info: Info[Any, Any]) -> list[IndicatorTarget]:
        return when_loaded(
            lambda rows: [IndicatorTarget.of_row(r) for r in rows if r["superseded_at"] is None],
            (loaders_of(info).target_history, self.record.id),
        )

    @strawberry.field(description="Every target revision, old ones included, with reasons.")
    def target_history(self, info: Info[Any, Any]) -> list[IndicatorTarget]:
        return when_loaded(
            lambda rows: [IndicatorTarget.of_row(r) for r in rows],
            (loaders_of(info).target_history, self.record.id),
        )

    @strawberry.field(
        description="Status for a fiscal year (default: the current one, within the plan "
        "period) with its explanation: why is this red."
    )
    def status(self, info: Info[Any, Any], fiscal_year: int | None = None) -> IndicatorEvaluation:
        current = current_fiscal_year(info)
        spec = self.record.spec
        fy = (
            fiscal_year
            if fiscal_year is not None
            else min(spec.period_end_fy, max(spec.period_start_fy, current))
        )

        def evaluation(rows: dict[int, asyncpg.Record]) -> IndicatorEvaluation:
            row = rows.get(fy)
            if row is not None:
                return IndicatorEvaluation.of_row(row)
            return IndicatorEvaluation.nothing_yet(
                self.record, fy, started=fy <= current, evaluated=fy >= spec.first_evaluated_fy
            )

        return when_loaded(evaluation, (loaders_of(info).statuses, self.record.id))

    @strawberry.field(description="Status of every plan year that has started.")
    def statuses(self, info: Info[Any, Any]) -> list[IndicatorEvaluation]:
        current = current_fiscal_year(info)
        spec = self.record.spec

        def evaluations(rows: dict[int, asyncpg.Record]) -> list[IndicatorEvaluation]:
            return [
                IndicatorEvaluation.of_row(rows[fy])
                if fy in rows
                else IndicatorEvaluation.nothing_yet(self.record, fy, started=True)
                for fy in range(spec.first_evaluated_fy, min(spec.period_end_fy, current) + 1)
            ]

        return when_loaded(evaluations, (loaders_of(info).statuses, self.record.id))

    @strawberry.field(description="Every status change announced, oldest first.")
    def status_history(self, info: Info[Any, Any]) -> list[IndicatorStatusChange]:
        return when_loaded(
            lambda rows: [
                IndicatorStatusChange(
                    fiscal_year=r["fiscal_year"],
                    from_status=IndicatorStatus(r["from_status"]) if r["from_status"] else None,
                    to_status=IndicatorStatus(r["to_status"]),
                    rule=r["rule"],
                    reason=r["reason"],
                    figures=EvaluationFigures.of(ev.EvaluationFigures.from_json(r["figures"])),
                    changed_at=r["changed_at"],
                    event_id=strawberry.ID(str(r["event_id"])),
                )
                for r in rows
            ],
            (loaders_of(info).status_history, self.record.id),
        )

    @strawberry.field(
        description="Targets against actuals per fiscal year of the plan period, with the "
        "status and every report (superseded values included)."
    )
    def series(self, info: Info[Any, Any]) -> list[IndicatorSeriesPoint]:
        loaders = loaders_of(info)
        internal = reads_internal(info)
        current = current_fiscal_year(info)
        return when_loaded(
            lambda measurements, statuses, history: self._series(
                measurements, statuses, history, internal=internal, current=current
            ),
            (loaders.measurements, self.record.id),
            (loaders.statuses, self.record.id),
            (loaders.target_history, self.record.id),
        )

    def _series(
        self,
        measurements: list[asyncpg.Record],
        statuses: dict[int, asyncpg.Record],
        history: list[asyncpg.Record],
        *,
        internal: bool,
        current: int,
    ) -> list[IndicatorSeriesPoint]:
        record = self.record
        spec = record.spec
        observations = [
            Observation(ReportingPeriod.parse(m["period"]), m["value"], m["text_value"])
            for m in measurements
            if m["is_current"]
        ]
        years = ev.year_figures(spec, observations)
        points: list[IndicatorSeriesPoint] = []
        for fy in range(spec.period_start_fy, spec.period_end_fy + 1):
            chosen = ev.select_target(spec, fy)
            target_row = next(
                (
                    t
                    for t in history
                    if chosen is not None
                    and t["superseded_at"] is None
                    and t["fiscal_year"] == chosen.fiscal_year
                    and t["from_fiscal_year"] == chosen.from_fiscal_year
                ),
                None,
            )
            figure = years.get(fy)
            status_row = statuses.get(fy)
            points.append(
                IndicatorSeriesPoint(
                    fiscal_year=fy,
                    period=f"FY{fy}",
                    label=format_fiscal_year(fy),
                    target=IndicatorTarget.of_row(target_row) if target_row else None,
                    actual=figure.actual if figure else None,
                    coverage=figure.coverage if figure else None,
                    status=IndicatorEvaluation.of_row(status_row)
                    if status_row is not None
                    else IndicatorEvaluation.nothing_yet(
                        record, fy, started=fy <= current, evaluated=fy >= spec.first_evaluated_fy
                    ),
                    measurements=[
                        Measurement.of_row(m, internal=internal)
                        for m in measurements
                        if m["fiscal_year"] == fy
                    ],
                )
            )
        return points

    @strawberry.field(
        description="Reports, oldest period first; superseded values included by default."
    )
    def measurements(
        self,
        info: Info[Any, Any],
        period: str | None = None,
        include_superseded: bool = True,
    ) -> list[Measurement]:
        internal = reads_internal(info)
        wanted = None
        if period is not None:
            try:
                wanted = ReportingPeriod.parse(period).label
            except ValueError:
                return []
        return when_loaded(
            lambda rows: [
                Measurement.of_row(r, internal=internal)
                for r in rows
                if (wanted is None or r["period"] == wanted)
                and (include_superseded or r["is_current"])
            ],
            (loaders_of(info).measurements, self.record.id),
        )


@strawberry.federation.type(
    keys=["id"],
    description="A measure (施策/取組) of the plans subgraph, with the indicators measuring it.",
)
class Measure:
    id: strawberry.ID = strawberry.field(description="Measure id (plans-service node id).")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Measure:
        return cls(id=id)

    @strawberry.field(description="Indicators linked to this measure (one query for all measures).")
    def indicators(self, info: Info[Any, Any]) -> list[Indicator]:
        node_id = to_uuid(self.id)
        if node_id is None:
            return []
        loaders = loaders_of(info)
        # Every measure of the request gets here before the batch is fetched (or _entities
        # fetched it already, see graphql/__init__.py): the batch prefetches what this
        # selection reads for all their indicators at once.
        loaders.want(info)
        return when_loaded(
            lambda records: [Indicator.of(r) for r in records], (loaders.by_measure, node_id)
        )

    @staticmethod
    async def prefetch(info: GraphQLResolveInfo, measures: list[Measure]) -> None:
        """Load the indicators of ``measures`` (and what their selection below ``_entities``
        reads) at once, so that ``indicators`` resolves without waiting on each measure."""
        loaders = loaders_of(cast(Info[Any, Any], info))
        loaders.want(info, ("indicators",))
        ids = [i for i in (to_uuid(m.id) for m in measures) if i is not None]
        await loaders.by_measure.load_many(ids)


@strawberry.federation.type(
    keys=["id"],
    description="A node of a plan's tree (plans subgraph), with the indicators attached to the "
    "node itself: a goal's (目標) own indicators.",
)
class PlanNode:
    id: strawberry.ID = strawberry.field(description="Node id (plans-service node id).")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> PlanNode:
        return cls(id=id)

    @strawberry.field(
        description="Indicators attached to this node itself (not those of the measures below "
        "it; for a measure's, see Measure.indicators)."
    )
    def indicators(self, info: Info[Any, Any]) -> list[Indicator]:
        node_id = to_uuid(self.id)
        if node_id is None:
            return []
        loaders = loaders_of(info)
        loaders.want(info)
        return when_loaded(
            lambda records: [Indicator.of(r) for r in records], (loaders.by_node, node_id)
        )

    @staticmethod
    async def prefetch(info: GraphQLResolveInfo, nodes: list[PlanNode]) -> None:
        """Load the indicators of ``nodes`` at once (see :meth:`Measure.prefetch`)."""
        loaders = loaders_of(cast(Info[Any, Any], info))
        loaders.want(info, ("indicators",))
        ids = [i for i in (to_uuid(n.id) for n in nodes) if i is not None]
        await loaders.by_node.load_many(ids)


# --- pages -------------------------------------------------------------------------------------


@strawberry.type(description="A page of indicators, ordered by key.")
class IndicatorConnection(Connection[Indicator]):
    pass
