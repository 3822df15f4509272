"""GraphQL subgraph of the plans service (Strawberry, federation v2): ``schema``."""

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from suishin.kit.graphql_exec import QuickExecutionContext, quick_schema
from suishin.plans.graphql.mutation import Mutation
from suishin.plans.graphql.query import Query
from suishin.plans.graphql.types import Measure, Plan, PlanNode

__all__ = ["schema"]

# Front ends send the same few documents over and over (and the gateway forwards the same
# selection for the same client query): parse and validate each text once.
schema = quick_schema(
    strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[Plan, Measure, PlanNode],
        federation_version="2.7",
        extensions=[ParserCache, ValidationCache],
        execution_context_class=QuickExecutionContext,
    )
)
