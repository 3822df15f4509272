"""Selection lookahead and loaded values (kit/loading.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from suishin.kit.graphql_exec import graphql_schema
from suishin.kit.loading import PENDING, names_below, peek, selected_names, when_loaded

seen: dict[str, Any] = {}


@strawberry.type
class Leaf:
    name: str
    size: int


@strawberry.type
class Node:
    code: str
    leaves: list[Leaf]


@strawberry.type
class Page:
    nodes: list[Node]


@strawberry.type
class Query:
    @strawberry.field
    def page(self, info: Info[Any, Any]) -> Page:
        seen["direct"] = selected_names(info)
        seen["nodes"] = selected_names(info, ("nodes",))
        seen["below"] = names_below(info)
        return Page(nodes=[Node(code="a", leaves=[Leaf(name="x", size=1)])])


schema = strawberry.Schema(query=Query)

# A resolver wrapped at graphql-core level (as the indicators subgraph wraps ``_entities``) gets
# graphql-core's info, not Strawberry's: lookahead works on both.
_page = graphql_schema(schema).query_type.fields["page"]  # type: ignore[union-attr]
_resolve = _page.resolve


def _wrapped(root: Any, info: Any, **kwargs: Any) -> Any:
    seen["raw"] = selected_names(info, ("nodes",))
    return _resolve(root, info, **kwargs)  # type: ignore[misc]


_page.resolve = _wrapped


async def test_selected_names_follow_fragments_aliases_and_paths() -> None:
    result = await schema.execute(
        """{ page { ...P n: nodes { ... on Node { leaves { name } } } } }
           fragment P on Page { nodes { code leaves { ...L } } }
           fragment L on Leaf { size }"""
    )
    assert result.errors is None
    assert seen["direct"] == {"nodes"}
    assert seen["nodes"] == {"code", "leaves"}
    assert seen["below"] == {"nodes", "code", "leaves", "name", "size"}
    assert seen["raw"] == seen["nodes"]


async def test_when_loaded_is_immediate_once_the_batch_is_in() -> None:
    async def load(keys: list[int]) -> list[int]:
        return [k * 10 for k in keys]

    loader: DataLoader[int, int] = DataLoader(load_fn=load)
    assert peek(loader, 1) is PENDING
    later = when_loaded(lambda v: v + 1, (loader, 1))
    assert asyncio.iscoroutine(later)
    assert await later == 11
    assert when_loaded(lambda v: v + 1, (loader, 1)) == 11
