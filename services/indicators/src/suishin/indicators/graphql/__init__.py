"""GraphQL subgraph of the indicators service (Strawberry, federation v2.7): ``schema``.

Queries are scoped to the caller's tenant (:mod:`.query`); mutations parse their input, call one
command and map refusals to typed errors (:mod:`.mutation`); the types are in :mod:`.types`, the
per-request DataLoaders in :mod:`.loaders`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import strawberry
from graphql import GraphQLResolveInfo
from strawberry.extensions import ParserCache, ValidationCache

from suishin.indicators.graphql.mutation import Mutation
from suishin.indicators.graphql.query import Query
from suishin.indicators.graphql.types import Indicator, Measure, PlanNode
from suishin.kit.enums import IndicatorStatus
from suishin.kit.graphql_exec import QuickExecutionContext, graphql_schema, quick_schema


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
        listed = result if isinstance(result, list) else []
        measures = [e for e in listed if isinstance(e, Measure)]
        nodes = [e for e in listed if isinstance(e, PlanNode)]
        if not measures and not nodes:
            return result

        async def prefetched() -> Any:
            with contextlib.suppress(Exception):  # errors surface on each entity's field
                if measures:
                    await Measure.prefetch(info, measures)
                if nodes:
                    await PlanNode.prefetch(info, nodes)
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
            types=[Indicator, Measure, PlanNode],
            federation_version="2.7",
            extensions=[ParserCache, ValidationCache],
            execution_context_class=QuickExecutionContext,
        )
    )
)

__all__ = ["IndicatorStatus", "schema"]
