"""Query root of the indicators subgraph: the caller's tenant's indicators (Relay pages by key),
one by id or by key. Every read goes through the per-request loaders."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from suishin.contracts import ids
from suishin.contracts.calendar import fiscal_year_of
from suishin.indicators import storage
from suishin.indicators.graphql.types import (
    Indicator,
    IndicatorConnection,
    loaders_of,
    runtime_of,
    tenant_of,
    to_uuid,
)
from suishin.kit import paging
from suishin.kit.enums import IndicatorStatus
from suishin.kit.errors import DomainError

MAX_PAGE = 200
CURSOR = paging.CursorCodec("indicator:")  # indicators by key


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
            records, total = await storage.indicators.list_indicators(
                conn,
                tenant,
                storage.indicators.IndicatorFilter(
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
