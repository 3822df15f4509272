"""Mutation root of the plans subgraph: parse the input, call one command, map its errors.

Mutations return a typed payload whose ``errors`` carry Japanese and English messages; a
refused mutation writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from strawberry.types import Info

from suishin.kit.errors import DomainError, Forbidden, UserError
from suishin.kit.graphql import context_of
from suishin.plans import commands, storage
from suishin.plans.commands import MeasureEdit, MultipleErrors, OwnerInput
from suishin.plans.graphql.reports import ReportMutation
from suishin.plans.graphql.types import (
    ChangeMeasureStatusPayload,
    Measure,
    MeasureStatus,
    OverrideGradePayload,
    Plan,
    PublishPlanPayload,
    SupersedePlanPayload,
    UpdateMeasureInput,
    UpdateMeasurePayload,
    clock_of,
    grades_view,
    parse_id,
    principal_of,
)
from suishin.plans.storage import Conn

T = TypeVar("T")


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
    rows = await storage.nodes.nodes_by_ids(context_of(info).runtime.pool, [measure_id])
    return Measure.of(rows[0]) if rows else None


@strawberry.type(description="Lifecycle, grades and plan edits; the progress-report workflow.")
class Mutation(ReportMutation):
    @strawberry.mutation(
        description="Move a measure to another lifecycle status, with a reason. 完了/廃止/統合 "
        "are final unless the 事務局 reopens the measure."
    )
    async def change_measure_status(
        self, info: Info[Any, Any], measure_id: strawberry.ID, to: MeasureStatus, reason: str
    ) -> ChangeMeasureStatusPayload:
        principal = principal_of(info)
        try:
            mid = parse_id(str(measure_id), "施策", "Measure")
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
            mid = parse_id(str(measure_id), "施策", "Measure")
        except DomainError as exc:
            return OverrideGradePayload(measure=None, grade=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.override_grade(
                conn, principal, mid, fiscal_year, grade, reason, now=clock_of(info).now()
            )

        _, errors = await _in_transaction(info, work)
        if errors:
            return OverrideGradePayload(measure=None, grade=None, errors=errors)
        pool = context_of(info).runtime.pool
        measure = await _fresh_measure(info, mid)
        assert measure is not None
        scale = await storage.tenants.plan_scale(pool, measure.row["plan_id"])
        view = grades_view(
            await storage.grades.grades_of(pool, [mid]),
            await storage.grades.published_grades_of(pool, [mid]),
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
            mid = parse_id(str(input.measure_id), "施策", "Measure")
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
            pid = parse_id(str(plan_id), "計画", "Plan")
        except DomainError as exc:
            return PublishPlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.publish_plan(conn, principal, pid, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return PublishPlanPayload(plan=None, errors=errors)
        row = await storage.plans.plan(context_of(info).runtime.pool, pid)
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
            pid = parse_id(str(plan_id), "計画", "Plan")
            by = parse_id(str(by_plan_id), "計画", "Plan") if by_plan_id else None
        except DomainError as exc:
            return SupersedePlanPayload(plan=None, errors=_errors(exc))

        async def work(conn: Conn) -> None:
            await commands.supersede_plan(conn, principal, pid, by, reason)

        _, errors = await _in_transaction(info, work)
        if errors:
            return SupersedePlanPayload(plan=None, errors=errors)
        row = await storage.plans.plan(context_of(info).runtime.pool, pid)
        return SupersedePlanPayload(plan=Plan.of(row) if row else None, errors=[])
