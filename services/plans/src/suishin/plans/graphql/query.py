"""Query root of the plans subgraph.

Queries are scoped by tenant: a caller reads its own ward's plans (drafts and internal fields
included when it holds an internal role); anyone, anonymous included, reads published plans.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from suishin.kit.errors import DomainError, NotFound
from suishin.kit.graphql import context_of
from suishin.kit.paging import CursorCodec, page
from suishin.plans import storage
from suishin.plans.graphql.reports import ReportQuery
from suishin.plans.graphql.types import (
    Department,
    GradeScaleType,
    Measure,
    MeasureConnection,
    MeasureFilter,
    Plan,
    can_see_plan,
    graphql_error,
    is_internal,
    loaders,
    parse_id,
    principal_of,
)

MAX_PAGE = 500
CURSOR = CursorCodec("m:")  # measures by their sort key (tree order)


async def _measure_page(
    info: Info[Any, Any],
    plan_id: strawberry.ID,
    filter: MeasureFilter | None,
    first: int,
    after: str | None,
) -> MeasureConnection:
    pool = context_of(info).runtime.pool
    pid = parse_id(str(plan_id), "計画", "Plan")
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
    rows, total = await storage.nodes.search_measures(
        pool,
        pid,
        storage.nodes.MeasureFilter(
            department=f.department,
            status=f.status.value if f.status else None,
            tag=f.tag,
            grade=grade,
            fiscal_year=f.fiscal_year,
            text=f.text,
            framework=f.framework,
            reporting_department=f.reporting_department,
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


@strawberry.type(description="Plans, their trees and measures; progress reports.")
class Query(ReportQuery):
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
        rows = await storage.plans.plans_of(context_of(info).runtime.pool, tenant, states)
        for row in rows:
            loaders(info).plan.prime(row["id"], row)
        return [Plan.of(r) for r in rows]

    @strawberry.field(description="A plan by id (null when unknown or not visible).")
    async def plan(self, info: Info[Any, Any], id: strawberry.ID) -> Plan | None:
        return await Plan.resolve_reference(info, id)

    @strawberry.field(description="A plan by tenant and key (null when unknown or not visible).")
    async def plan_by_key(self, info: Info[Any, Any], tenant: str, key: str) -> Plan | None:
        row = await storage.plans.plan_by_key(context_of(info).runtime.pool, tenant, key)
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
        rows = await storage.tenants.departments(context_of(info).runtime.pool, tenant)
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
