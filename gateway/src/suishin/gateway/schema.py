"""The public GraphQL schema: one API for front ends over the three subgraphs.

Types and root fields mirroring the subgraphs are generated (generated.py, see codegen.py); this
module adds what the gateway itself answers (``me``, subscriptions) and assembles the schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from suishin.contracts.enums import Role as RoleValue
from suishin.gateway import generated
from suishin.gateway.assemble import executor_class
from suishin.gateway.context import context_of
from suishin.gateway.live_schema import Subscription
from suishin.gateway.scalars import SCALAR_MAP


@strawberry.enum(name="Role", description="Roles a token can carry.")
class Role(Enum):
    PUBLIC = "public"
    VIEWER = "viewer"
    REPORTER = "reporter"
    ADMIN = "admin"
    EXECUTIVE = "executive"


@strawberry.type(description="Who is calling, as the gateway understood the bearer token.")
class Viewer:
    subject: str = strawberry.field(
        description="User id (`sub` claim); `anonymous` without a token."
    )
    tenant: str | None = strawberry.field(description="Municipality slug, e.g. `itabashi`.")
    roles: list[Role] = strawberry.field(description="Roles granted by the token.")
    departments: list[str] = strawberry.field(description="Department codes (所管課) of the user.")
    posts: list[str] = strawberry.field(description="Governance posts, e.g. CIO, 事務局.")
    name: str | None = strawberry.field(description="Display name, when the token has one.")


@strawberry.type(description="Answered by the gateway itself.")
class GatewayQuery:
    @strawberry.field(description="The caller: tenant, roles and departments from the token.")
    def me(self, info: Info[Any, Any]) -> Viewer:
        p = context_of(info).principal
        return Viewer(
            subject=p.subject,
            tenant=p.tenant,
            roles=[Role(r.value) for r in sorted(p.roles, key=list(RoleValue).index)],
            departments=sorted(p.departments),
            posts=sorted(p.posts),
            name=p.name,
        )


@strawberry.type(
    name="Query",
    description="Reads: plans and their tree, measures with grades and history, indicators with "
    "targets, actuals and statuses, your inbox; `me` tells who you are.",
)
class Query(GatewayQuery, generated.GeneratedQuery):
    pass


@strawberry.type(
    name="Mutation",
    description="Writes, each passed to the service that owns the data; business errors come back "
    "as `errors: [UserError!]!` in the payload (code, Japanese and English message, field path).",
)
class Mutation(generated.GeneratedMutation):
    pass


def build_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The gateway schema with the given validation extensions (see limits.py).

    Its executor completes the subgraphs' answers as assembled in one pass (assemble.py),
    with a cache of forwarded documents of its own."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(extensions),
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=executor_class(),
    )
