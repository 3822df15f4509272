"""GraphQL subgraph of the notifications service (Strawberry, federation v2.7): ``schema``."""

import strawberry

from suishin.notifications.graphql.mutation import Mutation
from suishin.notifications.graphql.query import Query
from suishin.notifications.graphql.types import Notification

schema = strawberry.federation.Schema(
    query=Query, mutation=Mutation, types=[Notification], federation_version="2.7"
)

__all__ = ["schema"]
