"""The public GraphQL schema: one API for front ends over the three subgraphs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from suishin.gateway.live_schema import Subscription
from suishin.gateway.scalars import SCALAR_MAP


@strawberry.type(description="Reads: plans, measures, indicators and your inbox.")
class Query:
    @strawberry.field(description="Name of the platform behind this API (always `suishin`).")
    def platform(self) -> str:
        return "suishin"


def build_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The gateway schema with the given validation extensions (see limits.py)."""
    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=list(extensions),
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


__all__ = ["Any", "AsyncGenerator", "Info", "build_schema"]
