"""Mutation root of the indicators subgraph: each mutation parses its input, calls one command
(:mod:`suishin.indicators.commands`, in one transaction) and maps refusals to typed errors.

Mutations never raise for bad input: they return a payload whose ``errors`` carry a stable code
and Japanese/English messages, and nothing is half-written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import strawberry
from strawberry.types import Info

from suishin.contracts.calendar import CalendarError
from suishin.contracts.events import IndicatorReported
from suishin.indicators import commands
from suishin.indicators.domain.definitions import (
    IndicatorDefinition,
    LinkInput,
    Problems,
    TargetInput,
    check_key,
    check_ratios_and_lag,
    require_admin,
)
from suishin.indicators.domain.model import Cadence, Granularity, ReportingPeriod, ReportRejected
from suishin.indicators.domain.reports import Report, reporter_refusal
from suishin.indicators.graphql.types import (
    Indicator,
    IndicatorEvaluation,
    IndicatorTarget,
    Measurement,
    loaders_of,
    reads_internal,
    runtime_of,
    to_uuid,
)
from suishin.kit.enums import Aggregation, Comparator, Polarity
from suishin.kit.errors import DomainError, Forbidden, UserError
from suishin.kit.graphql import context_of

# --- mutation inputs and payloads ---------------------------------------------------------------


@strawberry.input(description="A target for a fiscal year (or several: fromFiscalYear).")
class IndicatorTargetInput:
    fiscal_year: int = strawberry.field(description="Fiscal year (the last, for a span).")
    value: Decimal | None = strawberry.field(default=None, description="Target value.")
    comparator: Comparator | None = strawberry.field(
        default=None, description="How it is met; default from the polarity."
    )
    text: str | None = strawberry.field(default=None, description="Text target (拡大, 検討, ...).")
    from_fiscal_year: int | None = strawberry.field(
        default=None, description="First year of a multi-year target."
    )
    printed: str | None = strawberry.field(default=None, description="As printed in the plan.")


@strawberry.input(description="Baseline (現状値).")
class IndicatorBaselineInput:
    value: Decimal | None = strawberry.field(default=None, description="Value.")
    text: str | None = strawberry.field(default=None, description="Value as text.")
    period: str | None = strawberry.field(
        default=None, description="As of: FY2022, 2023-10 or 2023-10-01 (和暦 accepted)."
    )
    source: str | None = strawberry.field(default=None, description="Where it comes from.")


@strawberry.input(description="A whole indicator definition (creates it or replaces it).")
class DefineIndicatorInput:
    key: str = strawberry.field(description="Stable key, ^[a-z0-9][a-z0-9._-]*$ (<plan>.<id>).")
    title: str = strawberry.field(description="Name as printed.")
    period_start: int = strawberry.field(description="First fiscal year of the plan period.")
    period_end: int = strawberry.field(description="Last fiscal year of the plan period.")
    unit: str | None = strawberry.field(default=None, description="Unit.")
    polarity: Polarity = strawberry.field(
        default=Polarity.HIGHER_IS_BETTER, description="Which direction is better."
    )
    aggregation: Aggregation = strawberry.field(
        default=Aggregation.PER_YEAR, description="How values add up."
    )
    granularity: Granularity = strawberry.field(
        default=Granularity.FISCAL_YEAR, description="Periods reported."
    )
    cadence: Cadence = strawberry.field(
        default=Cadence.YEARLY, description="How often a report is due."
    )
    description: str | None = strawberry.field(default=None, description="Description.")
    unit_aliases: list[str] = strawberry.field(
        default_factory=list, description="Other spellings of the unit accepted in reports."
    )
    report_lag_days: int | None = strawberry.field(
        default=None, description="Days after a period until its report is due."
    )
    qualitative: bool = strawberry.field(default=False, description="Text-only indicator.")
    milestone: bool = strawberry.field(default=False, description="Milestone indicator.")
    tolerance: Decimal | None = strawberry.field(
        default=None, description="Relative tolerance of 約 targets (0.05 = ±5 %)."
    )
    at_risk_margin: Decimal | None = strawberry.field(
        default=None, description="How far behind still counts as at risk (0.1 = 10 %)."
    )
    baseline: IndicatorBaselineInput | None = strawberry.field(
        default=None, description="Baseline."
    )
    plan_id: strawberry.ID | None = strawberry.field(default=None, description="Plan id.")
    plan_key: str | None = strawberry.field(default=None, description="Plan key.")
    measure_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Measures/goals (plans-service node ids) it measures."
    )
    owner_departments: list[str] = strawberry.field(
        default_factory=list, description="Departments (所管課) that report it."
    )
    targets: list[IndicatorTargetInput] = strawberry.field(
        default_factory=list, description="Targets; targets not listed are closed."
    )
    revision_reason: str | None = strawberry.field(
        default=None, description="Reason recorded on targets whose value changes."
    )


@strawberry.type(description="Result of defineIndicator.")
class DefineIndicatorPayload:
    indicator: Indicator | None = strawberry.field(description="The indicator as stored.")
    created: bool = strawberry.field(description="True if it did not exist before.")
    errors: list[UserError] = strawberry.field(description="Why nothing was written.")


@strawberry.input(description="A new value for one target; the old one is kept as history.")
class ReviseTargetInput:
    indicator_id: strawberry.ID = strawberry.field(description="Indicator id.")
    fiscal_year: int = strawberry.field(description="Fiscal year of the target.")
    from_fiscal_year: int | None = strawberry.field(
        default=None, description="First year, for a multi-year target."
    )
    value: Decimal | None = strawberry.field(default=None, description="New value.")
    comparator: Comparator | None = strawberry.field(default=None, description="Comparator.")
    text: str | None = strawberry.field(default=None, description="New text target.")
    printed: str | None = strawberry.field(default=None, description="As printed.")
    reason: str = strawberry.field(description="Why the target changes (required).")


@strawberry.type(description="Result of reviseTarget.")
class ReviseTargetPayload:
    indicator: Indicator | None = strawberry.field(description="The indicator.")
    target: IndicatorTarget | None = strawberry.field(description="The new target revision.")
    errors: list[UserError] = strawberry.field(description="Why nothing was written.")


@strawberry.input(description="An actual (実績) reported by a 所管課.")
class ReportActualInput:
    indicator_key: str = strawberry.field(description="Indicator key.")
    period: str = strawberry.field(
        description="FY2024, 2024-08 or 2024-08-01 (和暦 accepted: 令和6年度, 令和6年8月)."
    )
    value: Decimal | None = strawberry.field(default=None, description="Numeric value.")
    text_value: str | None = strawberry.field(
        default=None, description="Text value (qualitative indicators)."
    )
    unit: str | None = strawberry.field(default=None, description="Unit, checked if given.")
    comment: str | None = strawberry.field(default=None, description="Comment.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Send the same key when retrying; a repeat changes nothing."
    )


@strawberry.input(description="A correction of the current actual of a period.")
class CorrectActualInput:
    indicator_key: str = strawberry.field(description="Indicator key.")
    period: str = strawberry.field(description="Period of the value to correct.")
    value: Decimal | None = strawberry.field(default=None, description="Corrected value.")
    text_value: str | None = strawberry.field(default=None, description="Corrected text value.")
    unit: str | None = strawberry.field(default=None, description="Unit, checked if given.")
    reason: str = strawberry.field(description="Why it is corrected (required).")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Send the same key when retrying."
    )


@strawberry.type(description="Result of reportActual / correctActual.")
class ReportActualPayload:
    measurement: Measurement | None = strawberry.field(description="The stored report.")
    indicator: Indicator | None = strawberry.field(description="The indicator.")
    status: IndicatorEvaluation | None = strawberry.field(
        description="The indicator's status for the report's fiscal year after the report."
    )
    duplicate: bool = strawberry.field(
        description="True when the idempotency key was used before (nothing changed)."
    )
    errors: list[UserError] = strawberry.field(description="Why nothing was written.")


def _errors(*errors: DomainError) -> list[UserError]:
    return [UserError.of(e) for e in errors]


# --- mutations ---------------------------------------------------------------------------------


def _problems(error: DomainError) -> list[UserError]:
    return _errors(*error.errors) if isinstance(error, Problems) else _errors(error)


@strawberry.type(description="Defining indicators, revising targets, reporting actuals.")
class Mutation:
    @strawberry.mutation(
        description="Define an indicator (事務局): creates it, or replaces its definition; "
        "changed targets become revisions."
    )
    async def define_indicator(
        self, info: Info[Any, Any], input: DefineIndicatorInput
    ) -> DefineIndicatorPayload:
        principal = context_of(info).principal
        try:
            require_admin(
                principal, "指標を定義できるのは事務局です", "Only admins may define indicators"
            )
            assert principal.tenant is not None
            definition = _definition(principal.tenant, input)
            runtime = runtime_of(info)
            async with commands.transaction(runtime.pool) as conn:
                report = await commands.define_indicator(
                    conn,
                    definition,
                    now=runtime.clock.now(),
                    reason=input.revision_reason or "定義の更新（GraphQL）",
                    revised_by=principal.subject,
                )
        except DomainError as e:
            return DefineIndicatorPayload(indicator=None, created=False, errors=_problems(e))
        if report.changes:
            runtime.wake_relay()
        record = await loaders_of(info).indicator.load(definition.id)
        return DefineIndicatorPayload(
            indicator=Indicator.of(record) if record else None,
            created=bool(report.created),
            errors=[],
        )

    @strawberry.mutation(
        description="Revise one target (事務局); the old value stays in targetHistory."
    )
    async def revise_target(
        self, info: Info[Any, Any], input: ReviseTargetInput
    ) -> ReviseTargetPayload:
        principal = context_of(info).principal
        target = TargetInput(
            fiscal_year=input.fiscal_year,
            from_fiscal_year=input.from_fiscal_year,
            value=input.value,
            comparator=input.comparator,
            text=input.text,
            printed=input.printed,
        )
        try:
            require_admin(
                principal, "目標を改定できるのは事務局です", "Only admins may revise targets"
            )
            assert principal.tenant is not None
            runtime = runtime_of(info)
            async with commands.transaction(runtime.pool) as conn:
                revised = await commands.revise_target(
                    conn,
                    principal.tenant,
                    to_uuid(input.indicator_id),
                    target,
                    reason=input.reason,
                    revised_by=principal.subject,
                    now=runtime.clock.now(),
                    shown_id=str(input.indicator_id),
                )
        except DomainError as e:
            return ReviseTargetPayload(indicator=None, target=None, errors=_problems(e))
        if revised.changes:
            runtime.wake_relay()
        return ReviseTargetPayload(
            indicator=Indicator.of(revised.indicator),
            target=IndicatorTarget.of_row(revised.target) if revised.target else None,
            errors=[],
        )

    @strawberry.mutation(
        description="Report an actual (所管課 reporters for their own indicators; 事務局 for any)."
    )
    async def report_actual(
        self, info: Info[Any, Any], input: ReportActualInput
    ) -> ReportActualPayload:
        return await _report(
            info,
            indicator_key=input.indicator_key,
            period=input.period,
            value=input.value,
            text_value=input.text_value,
            unit=input.unit,
            comment=input.comment,
            idempotency_key=input.idempotency_key,
            correction=False,
        )

    @strawberry.mutation(
        description="Correct the current actual of a period: the old value is kept as superseded."
    )
    async def correct_actual(
        self, info: Info[Any, Any], input: CorrectActualInput
    ) -> ReportActualPayload:
        if not input.reason.strip():
            return _refused(
                DomainError(
                    "REASON_REQUIRED",
                    "訂正理由を入力してください",
                    "a reason is required",
                    "reason",
                )
            )
        return await _report(
            info,
            indicator_key=input.indicator_key,
            period=input.period,
            value=input.value,
            text_value=input.text_value,
            unit=input.unit,
            comment=input.reason.strip(),
            idempotency_key=input.idempotency_key,
            correction=True,
        )


def _refused(*errors: DomainError) -> ReportActualPayload:
    return ReportActualPayload(
        measurement=None, indicator=None, status=None, duplicate=False, errors=_errors(*errors)
    )


def _max_length(field: str) -> int | None:
    for constraint in IndicatorReported.model_fields[field].metadata:
        limit = getattr(constraint, "max_length", None)
        if limit is not None:
            return int(limit)
    return None


def _too_long(**fields: tuple[str, str | None]) -> list[DomainError]:
    """The same length limits as an ``indicator.reported`` event sent to Kafka (one contract)."""
    problems = []
    for name, (event_field, value) in fields.items():
        limit = _max_length(event_field)
        if value is not None and limit is not None and len(value) > limit:
            problems.append(
                DomainError(
                    "INPUT_TOO_LONG",
                    f"{name} が長すぎます（{len(value)} 文字、上限 {limit} 文字）",
                    f"{name} is too long ({len(value)} characters, limit {limit})",
                    name,
                    {"limit": limit},
                )
            )
    return problems


async def _report(
    info: Info[Any, Any],
    *,
    indicator_key: str,
    period: str,
    value: Decimal | None,
    text_value: str | None,
    unit: str | None,
    comment: str | None,
    idempotency_key: str | None,
    correction: bool,
) -> ReportActualPayload:
    principal = context_of(info).principal
    if principal.tenant is None:
        return _refused(Forbidden("認証が必要です", "Authentication required"))
    tenant = principal.tenant
    runtime = runtime_of(info)
    too_long = _too_long(
        indicatorKey=("indicator_key", indicator_key),
        textValue=("text_value", text_value),
        unit=("unit", unit),
        comment=("comment", comment),
        idempotencyKey=("idempotency_key", idempotency_key),
    )
    if too_long:
        return _refused(*too_long)
    try:
        parsed = ReportingPeriod.parse(period)
    except CalendarError:
        return _refused(
            DomainError(
                "INVALID_PERIOD",
                f"期間「{period}」を読めません（例: FY2024, 2024-08, 令和6年度）",
                f"cannot read period {period!r} (e.g. FY2024, 2024-08, 2024-08-01)",
                "period",
            )
        )
    report = Report(
        tenant=tenant,
        indicator_key=indicator_key,
        period=parsed.label,
        value=value,
        text_value=text_value,
        unit=unit,
        source=f"graphql:{principal.subject}",
        idempotency_key=idempotency_key or f"graphql:{uuid4()}",
        occurred_at=datetime.now(UTC),
        reported_by=principal.name or principal.subject,
        is_correction=correction,
        comment=comment,
        via="graphql",
    )
    try:
        async with commands.transaction(runtime.pool) as conn:
            reported = await commands.report_actual(
                conn,
                report,
                now=runtime.clock.now(),
                authorize=lambda r: reporter_refusal(principal, r.spec, r.owner_departments),
            )
    except DomainError as e:
        return _refused(e)
    result = reported.result
    if result.rejected:
        return _refused(*(_graphql_error(r) for _, r in result.rejected))
    runtime.ingested += len(result.accepted)
    if result.changes:
        runtime.wake_relay()
    row, status_row = reported.measurement, reported.status
    assert row is not None
    record = await loaders_of(info).indicator.load(row["indicator_id"])
    return ReportActualPayload(
        measurement=Measurement.of_row(row, internal=reads_internal(info)),
        indicator=Indicator.of(record) if record else None,
        status=IndicatorEvaluation.of_row(status_row) if status_row else None,
        duplicate=bool(result.duplicates),
        errors=[],
    )


def _graphql_error(rejected: ReportRejected) -> DomainError:
    """GraphQL codes are upper case; another tenant's indicator (or a tenant without
    indicators) is simply unknown here."""
    unknown = ("foreign_indicator", "unknown_tenant")
    code = "unknown_indicator" if rejected.code in unknown else rejected.code
    if code == "unknown_indicator":
        return DomainError(
            "UNKNOWN_INDICATOR",
            "指定された指標は登録されていません",
            "unknown indicator",
            "indicatorKey",
        )
    return DomainError(code.upper(), rejected.message_ja, rejected.message_en, rejected.field)


def _definition(tenant: str, input: DefineIndicatorInput) -> IndicatorDefinition:
    """The input as a definition; raises :class:`Problems` with every field it cannot read."""
    problems = check_key(input.key)
    node_ids = []
    for i, raw in enumerate(input.measure_ids):
        node_id = to_uuid(raw)
        if node_id is None:
            problems.append(
                DomainError("INVALID_ID", "IDの形式が不正です", "malformed id", f"measureIds[{i}]")
            )
        else:
            node_ids.append(node_id)
    plan_id = to_uuid(input.plan_id) if input.plan_id else None
    if input.plan_id and plan_id is None:
        problems.append(DomainError("INVALID_ID", "IDの形式が不正です", "malformed id", "planId"))
    baseline_period = None
    if input.baseline is not None and input.baseline.period:
        try:
            baseline_period = ReportingPeriod.parse(input.baseline.period).label
        except CalendarError:
            problems.append(
                DomainError(
                    "INVALID_PERIOD",
                    f"基準値の時点「{input.baseline.period}」を読めません",
                    f"cannot read baseline period {input.baseline.period!r}",
                    "baseline.period",
                )
            )
    problems += check_ratios_and_lag(input.tolerance, input.at_risk_margin, input.report_lag_days)
    if problems:
        raise Problems(problems)
    baseline = input.baseline
    return IndicatorDefinition(
        tenant=tenant,
        key=input.key,
        title=input.title.strip(),
        period_start_fy=input.period_start,
        period_end_fy=input.period_end,
        unit=input.unit,
        polarity=Polarity(input.polarity),
        aggregation=Aggregation(input.aggregation),
        granularity=Granularity(input.granularity),
        cadence=Cadence(input.cadence),
        description=input.description,
        unit_aliases=tuple(input.unit_aliases),
        report_lag_days=input.report_lag_days,
        qualitative=input.qualitative,
        milestone=input.milestone,
        tolerance=input.tolerance,
        at_risk_margin=input.at_risk_margin,
        baseline_value=baseline.value if baseline else None,
        baseline_text=baseline.text if baseline else None,
        baseline_period=baseline_period,
        baseline_source=baseline.source if baseline else None,
        plan_id=plan_id,
        plan_key=input.plan_key,
        owner_departments=tuple(input.owner_departments),
        links=tuple(LinkInput(node_id=n, plan_id=plan_id) for n in node_ids),
        targets=tuple(
            TargetInput(
                fiscal_year=t.fiscal_year,
                value=t.value,
                comparator=Comparator(t.comparator) if t.comparator else None,
                text=t.text,
                from_fiscal_year=t.from_fiscal_year,
                printed=t.printed,
            )
            for t in input.targets
        ),
        origin="graphql",
    )
