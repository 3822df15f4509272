"""GraphQL subgraph of the plans service (Strawberry, federation v2).

Queries are scoped by tenant: a caller reads its own ward's plans (drafts and internal fields
included when it holds an internal role); anyone, anonymous included, reads published plans.
Mutations return a typed payload whose ``errors`` carry Japanese and English messages; a
refused mutation writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

from suishin.kit.errors import DomainError, Forbidden, NotFound, UserError
from suishin.kit.graphql import context_of
from suishin.kit.graphql_exec import QuickExecutionContext, quick_schema
from suishin.kit.paging import CursorCodec, page
from suishin.plans import commands, evaluation, storage
from suishin.plans.commands import MeasureEdit, MultipleErrors, OwnerInput
from suishin.plans.schema_types import (
    Department,
    GradeScaleType,
    Measure,
    MeasureConnection,
    MeasureGrade,
    MeasureStatus,
    Plan,
    can_see_plan,
    grades_view,
    graphql_error,
    is_internal,
    loaders,
    principal_of,
)
from suishin.plans.storage import Conn

T = TypeVar("T")

MAX_PAGE = 500
CURSOR = CursorCodec("m:")  # measures by their sort key (tree order)


def _uuid(value: str, what_ja: str, what_en: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise NotFound(what_ja, what_en, str(value)) from exc


@strawberry.input(description="Filters of the measure list; all given filters must match.")
class MeasureFilter:
    department: str | None = strawberry.field(
        default=None, description="Department code among the owners."
    )
    status: MeasureStatus | None = strawberry.field(default=None, description="Lifecycle status.")
    tag: str | None = strawberry.field(default=None, description="Tag code.")
    grade: str | None = strawberry.field(
        default=None, description="Grade code or label (the grade that counts)."
    )
    fiscal_year: int | None = strawberry.field(
        default=None,
        description="With grade: the year of the grade. Alone: measures scheduled or graded "
        "that year.",
    )
    text: str | None = strawberry.field(default=None, description="Substring of title or code.")


async def _measure_page(
    info: Info[Any, Any],
    plan_id: strawberry.ID,
    filter: MeasureFilter | None,
    first: int,
    after: str | None,
) -> MeasureConnection:
    pool = context_of(info).runtime.pool
    pid = _uuid(str(plan_id), "計画", "Plan")
    plan = await loaders(info).plan.load(pid)
    if plan is None or not can_see_plan(principal_of(info), plan):
        raise graphql_error(NotFound("計画", "Plan", str(plan_id)))
    if not 1 <= first <= MAX_PAGE:
        raise graphql_error(
            DomainError(
                "INVALID_PAGE_SIZE",
                f"first は1〜{MAX_PAGE}で指定してください",
                f"first must be between 1 and {MAX_PAGE}",
                field="first",
            )
        )
    try:
        cursor = CURSOR.decode(after)[0] if after else None
    except DomainError as exc:
        raise graphql_error(exc) from exc
    f = filter or MeasureFilter()
    grade = None
    if f.grade:
        scale = await loaders(info).plan_scale.load(pid)
        try:
            grade = scale.grade(f.grade).code
        except DomainError as exc:
            raise graphql_error(exc) from exc
    rows, total = await storage.search_measures(
        pool,
        pid,
        storage.MeasureFilter(
            department=f.department,
            status=f.status.value if f.status else None,
            tag=f.tag,
            grade=grade,
            fiscal_year=f.fiscal_year,
            text=f.text,
        ),
        first=first,
        after=cursor,
    )
    return page(
        MeasureConnection,
        rows,
        first=first,
        after=cursor is not None,
        cursor=lambda r: CURSOR.encode(r["sort_key"]),
        node=Measure.of,
        total_count=total,
    )


@strawberry.type(description="Plans, their trees and measures.")
class Query:
    @strawberry.field(
        description="Plans of a ward (default: the caller's). Drafts only for the ward's staff."
    )
    async def plans(self, info: Info[Any, Any], tenant: str | None = None) -> list[Plan]:
        principal = principal_of(info)
        tenant = tenant or principal.tenant
        if tenant is None:
            raise graphql_error(
                DomainError(
                    "TENANT_REQUIRED",
                    "自治体（tenant）を指定してください",
                    "Give a tenant (municipality) or sign in",
                    field="tenant",
                )
            )
        states = None if is_internal(principal, tenant) else ["published", "superseded"]
        rows = await storage.plans_of(context_of(info).runtime.pool, tenant, states)
        for row in rows:
            loaders(info).plan.prime(row["id"], row)
        return [Plan.of(r) for r in rows]

    @strawberry.field(description="A plan by id (null when unknown or not visible).")
    async def plan(self, info: Info[Any, Any], id: strawberry.ID) -> Plan | None:
        return await Plan.resolve_reference(info, id)

    @strawberry.field(description="A plan by tenant and key (null when unknown or not visible).")
    async def plan_by_key(self, info: Info[Any, Any], tenant: str, key: str) -> Plan | None:
        row = await storage.plan_by_key(context_of(info).runtime.pool, tenant, key)
        if row is None or not can_see_plan(principal_of(info), row):
            return None
        return Plan.of(row)

    @strawberry.field(description="A measure by id (null when unknown or not visible).")
    async def measure(self, info: Info[Any, Any], id: strawberry.ID) -> Measure | None:
        return await Measure.resolve_reference(info, id)

    @strawberry.field(description="Measures of a plan in tree order, filtered, paginated.")
    async def measures(
        self,
        info: Info[Any, Any],
        plan_id: strawberry.ID,
        filter: MeasureFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> MeasureConnection:
        return await _measure_page(info, plan_id, filter, first, after)

    @strawberry.field(description="Departments of a ward (default: the caller's).")
    async def departments(
        self, info: Info[Any, Any], tenant: str | None = None
    ) -> list[Department]:
        tenant = tenant or principal_of(info).tenant
        if tenant is None:
            return []
        rows = await storage.departments(context_of(info).runtime.pool, tenant)
        return [
            Department(code=r["code"], name=r["name"], kind=r["kind"], parent_code=r["parent_code"])
            for r in rows
        ]

    @strawberry.field(description="The ward's yearly grade scale (default: the caller's ward).")
    async def grade_scale(
        self, info: Info[Any, Any], tenant: str | None = None
    ) -> GradeScaleType | None:
        tenant = tenant or principal_of(info).tenant
        if tenant is None:
            return None
        return GradeScaleType.of(await loaders(info).scale.load(tenant))


# --- mutations ----------------------------------------------------------------------------------


def _errors(exc: DomainError) -> list[UserError]:
    if isinstance(exc, MultipleErrors):
        return [UserError.of(e) for e in exc.errors]
    return [UserError.of(exc)]


async def _in_transaction(
    info: Info[Any, Any], work: Callable[[Conn], Awaitable[T]]
) -> tuple[T | None, list[UserError]]:
    """Run ``work`` in one transaction; a DomainError rolls it back and becomes UserErrors."""
    principal = principal_of(info)
    if principal.tenant is None:
        return None, [UserError.of(Forbidden("ログインが必要です", "Sign in first"))]
    try:
        async with context_of(info).runtime.pool.acquire() as conn, conn.transaction():
            return await work(conn), []
    except DomainError as exc:
        return None, _errors(exc)


async def _fresh_measure(info: Info[Any, Any], measure_id: UUID) -> Measure | None:
    rows = await storage.nodes_by_ids(context_of(info).runtime.pool, [measure_id])
    return Measure.of(rows[0]) if rows else None


@strawberry.type(description="Result of changeMeasureStatus.")
class ChangeMeasureStatusPayload:
    measure: Measure | None = strawberry.field(description="The measure after the change.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of overrideGrade.")
class OverrideGradePayload:
    measure: Measure | None = strawberry.field(description="The measure.")
    grade: MeasureGrade | None = strawberry.field(description="The grade of that year, after.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of updateMeasure.")
class UpdateMeasurePayload:
    measure: Measure | None = strawberry.field(description="The measure after the edit.")
    changed_fields: list[str] = strawberry.field(description="Fields that actually changed.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of publishPlan.")
class PublishPlanPayload:
    plan: Plan | None = strawberry.field(description="The plan after publication.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of supersedePlan.")
class SupersedePlanPayload:
    plan: Plan | None = strawberry.field(description="The superseded plan.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.input(description="An owner department of a measure.")
class MeasureOwnerInput:
    department_code: str = strawberry.field(description="Department code.")
    is_lead: bool = strawberry.field(default=False, description="The lead (主担当) department.")


@strawberry.input(description="Edits of a measure; omitted fields stay as they are.")
class UpdateMeasureInput:
    measure_id: strawberry.ID = strawberry.field(description="The measure.")
    reason: str = strawberry.field(description="Why (kept in the history).")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(
        default=None, description="New description (empty string clears it)."
    )
    owners: list[MeasureOwnerInput] | None = strawberry.field(
        default=None, description="The complete new list of owner departments."
    )
    others_text: str | None = strawberry.field(
        default=None, description="Open-ended owners as printed (ほか / 関係課)."
    )
    tags: list[str] | None = strawberry.field(default=None, description="The complete tag list.")


@strawberry.type(description="Lifecycle, grades and plan edits.")
class Mutation:
    @strawberry.mutation(
        description="Move a measure to another lifecycle status, with a reason. 完了/廃止/統合 "
        "are final unless the 事務局 reopens the measure."
    )
    async def change_measure_status(
        self, info: Info[Any, Any], measure_id: strawberry.ID, to: MeasureStatus, reason: str
    ) -> ChangeMeasureStatusPayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(measure_id), "施策", "Measure")
        except DomainError as exc:
            return ChangeMeasureStatusPayload(measure=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.change_measure_status(conn, principal, mid, to, reason)

        _, errors = await _in_transaction(info, work)
        measure = await _fresh_measure(info, mid) if not errors else None
        return ChangeMeasureStatusPayload(measure=measure, errors=errors)

    @strawberry.mutation(
        description="Set the grade of a measure for a fiscal year (事務局/本部), with a reason; "
        "grade null clears the override. The machine grade is kept."
    )
    async def override_grade(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        fiscal_year: int,
        grade: str | None,
        reason: str,
    ) -> OverrideGradePayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(measure_id), "施策", "Measure")
        except DomainError as exc:
            return OverrideGradePayload(measure=None, grade=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await evaluation.override_grade(conn, principal, mid, fiscal_year, grade, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return OverrideGradePayload(measure=None, grade=None, errors=errors)
        pool = context_of(info).runtime.pool
        measure = await _fresh_measure(info, mid)
        assert measure is not None
        scale = await storage.plan_scale(pool, measure.row["plan_id"])
        view = grades_view(
            await storage.grades_of(pool, [mid]),
            await storage.published_grades_of(pool, [mid]),
            scale,
            True,
            fiscal_year,
        )
        return OverrideGradePayload(measure=measure, grade=view[0] if view else None, errors=[])

    @strawberry.mutation(description="Edit a measure's title, description, owners or tags.")
    async def update_measure(
        self, info: Info[Any, Any], input: UpdateMeasureInput
    ) -> UpdateMeasurePayload:
        principal = principal_of(info)
        try:
            mid = _uuid(str(input.measure_id), "施策", "Measure")
        except DomainError as exc:
            return UpdateMeasurePayload(measure=None, changed_fields=[], errors=_errors(exc))
        edit = MeasureEdit(
            title=input.title,
            description=input.description,
            owners=[OwnerInput(o.department_code, o.is_lead) for o in input.owners]
            if input.owners is not None
            else None,
            others_text=input.others_text,
            tags=input.tags,
        )

        async def work(conn: Conn) -> list[str]:
            return await commands.update_measure(conn, principal, mid, edit, input.reason)

        changed, errors = await _in_transaction(info, work)
        if errors:
            return UpdateMeasurePayload(measure=None, changed_fields=[], errors=errors)
        return UpdateMeasurePayload(
            measure=await _fresh_measure(info, mid), changed_fields=changed or [], errors=[]
        )

    @strawberry.mutation(description="Publish a draft plan (事務局).")
    async def publish_plan(
        self, info: Info[Any, Any], plan_id: strawberry.ID, reason: str | None = None
    ) -> PublishPlanPayload:
        principal = principal_of(info)
        try:
            pid = _uuid(str(plan_id), "計画", "Plan")
        except DomainError as exc:
            return PublishPlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.publish_plan(conn, principal, pid, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return PublishPlanPayload(plan=None, errors=errors)
        row = await storage.plan(context_of(info).runtime.pool, pid)
        return PublishPlanPayload(plan=Plan.of(row) if row else None, errors=[])

    @strawberry.mutation(
        description="Mark a published plan as superseded (by a newer edition), with a reason."
    )
    async def supersede_plan(
        self,
        info: Info[Any, Any],
        plan_id: strawberry.ID,
        reason: str,
        by_plan_id: strawberry.ID | None = None,
    ) -> SupersedePlanPayload:
        principal = principal_of(info)
        try:
            pid = _uuid(str(plan_id), "計画", "Plan")
            by = _uuid(str(by_plan_id), "計画", "Plan") if by_plan_id else None
        except DomainError as exc:
            return SupersedePlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.supersede_plan(conn, principal, pid, by, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return SupersedePlanPayload(plan=None, errors=errors)
        row = await storage.plan(context_of(info).runtime.pool, pid)
        return SupersedePlanPayload(plan=Plan.of(row) if row else None, errors=[])


# Front ends send the same few documents over and over (and the gateway forwards the same
# selection for the same client query): parse and validate each text once.
schema = quick_schema(
    strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[Plan, Measure],
        federation_version="2.7",
        extensions=[ParserCache, ValidationCache],
        execution_context_class=QuickExecutionContext,
    )
)
