"""GraphQL subgraph of the indicators service (Strawberry, federation v2).

Queries are scoped to the caller's tenant. Mutations never raise for bad input: they return a
payload whose ``errors`` carry a stable code and Japanese/English messages, and nothing is
half-written (one transaction per mutation).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import strawberry
from graphql import (
    GraphQLResolveInfo,
)
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from suishin.contracts import ids
from suishin.contracts.calendar import CalendarError, fiscal_year_of
from suishin.contracts.events import IndicatorReported
from suishin.indicators import storage
from suishin.indicators.definitions import (
    IndicatorDefinition,
    LinkInput,
    TargetInput,
    apply_definitions,
    check_definition,
    check_target,
    revise_target,
)
from suishin.indicators.domain import (
    Cadence,
    Granularity,
    ReportingPeriod,
    ReportRejected,
    may_report_for,
)
from suishin.indicators.ingest import Report, ingest
from suishin.indicators.reevaluation import reevaluate
from suishin.indicators.schema_types import (
    Indicator,
    IndicatorConnection,
    IndicatorEvaluation,
    IndicatorTarget,
    Measure,
    Measurement,
    loaders_of,
    reads_internal,
    runtime_of,
    tenant_of,
    to_uuid,
)
from suishin.kit import paging
from suishin.kit.enums import Aggregation, Comparator, IndicatorStatus, Polarity
from suishin.kit.errors import DomainError, Forbidden, UserError
from suishin.kit.graphql import context_of
from suishin.kit.graphql_exec import QuickExecutionContext, graphql_schema, quick_schema

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,119}$")
MAX_PAGE = 200
CURSOR = paging.CursorCodec("indicator:")  # indicators by key


# --- queries -----------------------------------------------------------------------------------


@strawberry.input(description="Which indicators to list.")
class IndicatorFilter:
    status: IndicatorStatus | None = strawberry.field(
        default=None, description="Only indicators with this status (in `fiscalYear`)."
    )
    fiscal_year: int | None = strawberry.field(
        default=None,
        description="Year the status filter refers to; default: each indicator's current year.",
    )
    department: str | None = strawberry.field(
        default=None, description="Only indicators this department (所管課) reports."
    )
    measure_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only indicators linked to this measure or goal."
    )
    plan_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only indicators of this plan."
    )
    search: str | None = strawberry.field(
        default=None, description="Text contained in the title or key."
    )
    top_level_only: bool = strawberry.field(default=False, description="Leave sub-series out.")


@strawberry.type(description="Indicators: definitions, targets, actuals and evaluated statuses.")
class Query:
    @strawberry.field(
        description="The caller's municipality's indicators, filtered, ordered by key "
        "(Relay-style: `first` up to 200, `after` a cursor)."
    )
    async def indicators(
        self,
        info: Info[Any, Any],
        filter: IndicatorFilter | None = None,
        first: int = 50,
        after: str | None = None,
        tenant: str | None = None,
    ) -> IndicatorConnection:
        tenant = tenant_of(info, tenant)
        flt = filter or IndicatorFilter()
        if not 0 <= first <= MAX_PAGE:
            raise DomainError(
                "INVALID_PAGE_SIZE",
                f"first は0〜{MAX_PAGE}で指定してください",
                f"first must be between 0 and {MAX_PAGE}",
                "first",
            )
        measure_id = to_uuid(flt.measure_id) if flt.measure_id else None
        plan_id = to_uuid(flt.plan_id) if flt.plan_id else None
        if (flt.measure_id and measure_id is None) or (flt.plan_id and plan_id is None):
            raise DomainError("INVALID_ID", "IDの形式が不正です", "malformed id", "filter")
        runtime = runtime_of(info)
        after_key = CURSOR.decode(after)[0] if after else None
        async with runtime.pool.acquire() as conn:
            records, total = await storage.list_indicators(
                conn,
                tenant,
                storage.IndicatorFilter(
                    status=flt.status,
                    department=flt.department,
                    measure_id=measure_id,
                    plan_id=plan_id,
                    fiscal_year=flt.fiscal_year,
                    search=flt.search,
                    top_level_only=flt.top_level_only,
                ),
                current_fy=fiscal_year_of(runtime.clock.now()),
                after_key=after_key,
                limit=first + 1,
            )
        page = records[:first]
        loaders = loaders_of(info)
        for r in page:
            loaders.indicator.prime(r.id, r)
        loaders.want(info, ("edges", "node"))
        await loaders.prefetch(r.id for r in page)
        return paging.page(
            IndicatorConnection,
            records,
            first=first,
            after=after_key is not None,
            cursor=lambda r: CURSOR.encode(r.key),
            node=Indicator.of,
            total_count=total,
        )

    @strawberry.field(description="One indicator of the caller's municipality by id.")
    async def indicator(self, info: Info[Any, Any], id: strawberry.ID) -> Indicator | None:
        indicator_id = to_uuid(id)
        if indicator_id is None:
            return None
        record = await loaders_of(info).indicator.load(indicator_id)
        return Indicator.of(record) if record else None

    @strawberry.field(description="One indicator by its key (e.g. dx2025-late.i-l01).")
    async def indicator_by_key(
        self, info: Info[Any, Any], key: str, tenant: str | None = None
    ) -> Indicator | None:
        tenant = tenant_of(info, tenant)
        record = await loaders_of(info).indicator.load(ids.indicator_id(tenant, key))
        return Indicator.of(record) if record else None


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
        if principal.tenant is None or not principal.is_admin:
            return DefineIndicatorPayload(
                indicator=None,
                created=False,
                errors=_errors(
                    Forbidden("指標を定義できるのは事務局です", "Only admins may define indicators")
                ),
            )
        definition, problems = _definition(principal.tenant, input)
        if definition is not None:
            problems += check_definition(definition)
        if problems or definition is None:
            return DefineIndicatorPayload(indicator=None, created=False, errors=_errors(*problems))
        runtime = runtime_of(info)
        async with runtime.pool.acquire() as conn, conn.transaction():
            report = await apply_definitions(
                conn,
                [definition],
                now=runtime.clock.now(),
                reason=input.revision_reason or "定義の更新（GraphQL）",
                revised_by=principal.subject,
            )
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
        if principal.tenant is None or not principal.is_admin:
            return ReviseTargetPayload(
                indicator=None,
                target=None,
                errors=_errors(
                    Forbidden("目標を改定できるのは事務局です", "Only admins may revise targets")
                ),
            )
        if not input.reason.strip():
            return ReviseTargetPayload(
                indicator=None,
                target=None,
                errors=_errors(
                    DomainError(
                        "REASON_REQUIRED",
                        "改定理由を入力してください",
                        "a reason is required",
                        "reason",
                    )
                ),
            )
        indicator_id = to_uuid(input.indicator_id)
        runtime = runtime_of(info)
        target = TargetInput(
            fiscal_year=input.fiscal_year,
            from_fiscal_year=input.from_fiscal_year,
            value=input.value,
            comparator=input.comparator,
            text=input.text,
            printed=input.printed,
        )
        async with runtime.pool.acquire() as conn, conn.transaction():
            records = await storage.load_indicators(
                conn, [indicator_id] if indicator_id else [], lock=True
            )
            record = records.get(indicator_id) if indicator_id else None
            if record is None or record.tenant != principal.tenant:
                return ReviseTargetPayload(
                    indicator=None,
                    target=None,
                    errors=_errors(
                        DomainError(
                            "NOT_FOUND",
                            f"指標「{input.indicator_id}」が見つかりません",
                            f"indicator {input.indicator_id!r} not found",
                            "indicatorId",
                        )
                    ),
                )
            problems = check_target(record.spec.period_start_fy, record.spec.period_end_fy, target)
            current = next(
                (
                    t
                    for t in record.spec.targets
                    if (t.fiscal_year, t.from_fiscal_year) == target.slot
                ),
                None,
            )
            if current is not None and current.same_value(target.spec()):
                problems.append(
                    DomainError(
                        "TARGET_UNCHANGED",
                        "目標値が現在の値と同じです",
                        "the target already has this value",
                        "value",
                    )
                )
            if problems:
                return ReviseTargetPayload(indicator=None, target=None, errors=_errors(*problems))
            now = runtime.clock.now()
            revision = await revise_target(
                conn,
                record.id,
                target,
                reason=input.reason.strip(),
                revised_by=principal.subject,
                now=now,
            )
            refreshed = await storage.load_indicators(conn, [record.id])
            changes = await reevaluate(conn, refreshed, now)
            row = await conn.fetchrow(
                """select * from targets where indicator_id = $1 and fiscal_year = $2
                   and from_fiscal_year is not distinct from $3 and revision = $4""",
                record.id,
                target.fiscal_year,
                target.from_fiscal_year,
                revision,
            )
        if changes:
            runtime.wake_relay()
        return ReviseTargetPayload(
            indicator=Indicator.of(refreshed[record.id]),
            target=IndicatorTarget.of_row(row) if row else None,
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


def _reason_required(message_ja: str) -> DomainError:
    return DomainError("REASON_REQUIRED", message_ja, "a reason is required", "reason")


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

    def authorize(record: storage.IndicatorRecord) -> ReportRejected | None:
        if may_report_for(principal, frozenset(record.owner_departments)):
            return None
        owners = "、".join(record.owner_departments) or "なし"
        return ReportRejected(
            "FORBIDDEN",
            f"指標「{record.spec.title}」の実績を報告できるのは所管課（{owners}）と事務局です",
            f"only the owning departments ({owners}) and admins may report {record.key!r}",
            "indicatorKey",
        )

    async with runtime.pool.acquire() as conn, conn.transaction():
        if correction:
            exists = await conn.fetchval(
                """select 1 from measurements where indicator_id = $1 and period = $2
                   and is_current""",
                ids.indicator_id(tenant, indicator_key),
                parsed.label,
            )
            if not exists:
                return _refused(
                    DomainError(
                        "NOTHING_TO_CORRECT",
                        f"期間 {parsed.label} の実績はまだ報告されていないため訂正できません",
                        f"there is no actual for {parsed.label} to correct",
                        "period",
                    )
                )
        result = await ingest(conn, [report], now=runtime.clock.now(), authorize=authorize)
    if result.rejected:
        return _refused(*(_graphql_error(r) for _, r in result.rejected))
    runtime.ingested += len(result.accepted)
    if result.changes:
        runtime.wake_relay()
    if result.duplicates:
        measurement_id, duplicate = result.duplicates[0][1], True
    else:
        measurement_id, duplicate = result.accepted[0].measurement_id, False
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow("select * from measurements where id = $1", measurement_id)
        status_row = await conn.fetchrow(
            "select * from indicator_status where indicator_id = $1 and fiscal_year = $2",
            row["indicator_id"],
            row["fiscal_year"],
        )
    record = await loaders_of(info).indicator.load(row["indicator_id"])
    return ReportActualPayload(
        measurement=Measurement.of_row(row, internal=reads_internal(info)),
        indicator=Indicator.of(record) if record else None,
        status=IndicatorEvaluation.of_row(status_row) if status_row else None,
        duplicate=duplicate,
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


def _definition(
    tenant: str, input: DefineIndicatorInput
) -> tuple[IndicatorDefinition | None, list[DomainError]]:
    problems: list[DomainError] = []
    if not KEY_PATTERN.fullmatch(input.key):
        problems.append(
            DomainError(
                "INVALID_KEY",
                "キーは英小文字・数字・. _ - で、英小文字か数字で始めてください",
                "the key must match ^[a-z0-9][a-z0-9._-]*$",
                "key",
            )
        )
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
    for name, number in (("tolerance", input.tolerance), ("atRiskMargin", input.at_risk_margin)):
        if number is not None and not (number.is_finite() and Decimal(0) <= number <= Decimal(1)):
            problems.append(
                DomainError(
                    "INVALID_RATIO", f"{name} は0〜1で指定してください", f"{name} must be 0-1", name
                )
            )
    if input.report_lag_days is not None and not 0 <= input.report_lag_days <= 366:
        problems.append(
            DomainError(
                "INVALID_LAG",
                "報告期限の日数は0〜366です",
                "reportLagDays must be 0-366",
                "reportLagDays",
            )
        )
    if problems:
        return None, problems
    baseline = input.baseline
    return (
        IndicatorDefinition(
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
        ),
        [],
    )


def _entities_prefetch(schema: strawberry.Schema) -> strawberry.Schema:
    """Load the indicators of every measure ``_entities`` returns before the measures are
    completed (the gateway asks for ``Measure.indicators`` of a whole plan this way): their
    fields then resolve in one pass instead of one awaited task per measure."""
    query = graphql_schema(schema).query_type
    entities = query.fields.get("_entities") if query is not None else None
    if entities is None or entities.resolve is None:
        return schema
    resolve = entities.resolve

    def resolve_entities(root: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        result = resolve(root, info, **kwargs)
        measures = [e for e in result if isinstance(e, Measure)] if isinstance(result, list) else []
        if not measures:
            return result

        async def prefetched() -> Any:
            with contextlib.suppress(Exception):  # errors surface on each measure's field
                await Measure.prefetch(info, measures)
            return result

        return prefetched()

    entities.resolve = resolve_entities
    return schema


# The gateway forwards the same selection for the same client query: parse and validate each
# document text once.
schema = _entities_prefetch(
    quick_schema(
        strawberry.federation.Schema(
            query=Query,
            mutation=Mutation,
            types=[Indicator, Measure],
            federation_version="2.7",
            extensions=[ParserCache, ValidationCache],
            execution_context_class=QuickExecutionContext,
        )
    )
)

__all__ = ["IndicatorStatus", "schema"]
