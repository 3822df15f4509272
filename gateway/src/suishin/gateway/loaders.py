"""Per-request DataLoaders over the subgraphs' federation ``_entities`` endpoint.

A cross-service field (``Measure.indicators``, ...) at one position of a query is fetched for all
parent entities of that level in one ``_entities`` call: the loader is keyed by (subgraph, entity
type, forwarded selection), and its keys are the entity ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from suishin.gateway.forwarding import REPRESENTATIONS_VAR
from suishin.gateway.subgraphs import Subgraphs

_ENTITY_INDEX = re.compile(r"^\d+$")


class EntityLoaders:
    """The loaders of one request (never shared between requests: they cache per caller)."""

    def __init__(
        self,
        subgraphs: Subgraphs,
        *,
        authorization: str | None,
        variables: Mapping[str, Any],
    ) -> None:
        self._subgraphs = subgraphs
        self._authorization = authorization
        self._variables = dict(variables)
        self._loaders: dict[tuple[str, str, str, str], DataLoader[str, dict[str, Any] | None]] = {}

    def loader(
        self, subgraph: str, typename: str, document: str, key: str, variables: set[str]
    ) -> DataLoader[str, dict[str, Any] | None]:
        cache_key = (subgraph, typename, document, key)
        found = self._loaders.get(cache_key)
        if found is None:
            used = {k: v for k, v in self._variables.items() if k in variables}

            async def batch(ids: list[str]) -> Sequence[dict[str, Any] | BaseException | None]:
                return await self._fetch(subgraph, typename, document, used, ids)

            found = DataLoader(load_fn=batch)
            self._loaders[cache_key] = found
        return found

    async def _fetch(
        self,
        subgraph: str,
        typename: str,
        document: str,
        variables: dict[str, Any],
        ids: list[str],
    ) -> list[dict[str, Any] | BaseException | None]:
        representations = [{"__typename": typename, "id": i} for i in ids]
        result = await self._subgraphs[subgraph].execute(
            document,
            {**variables, REPRESENTATIONS_VAR: representations},
            authorization=self._authorization,
            dedupe=True,
        )
        entities = (result.data or {}).get("_entities") or [None] * len(ids)
        out: list[dict[str, Any] | BaseException | None] = list(entities)
        for raw, mapped in zip(result.raw_errors, result.errors, strict=True):
            path = raw.get("path") or []
            if len(path) >= 2 and path[0] == "_entities" and _ENTITY_INDEX.match(str(path[1])):
                index = int(path[1])
                if index < len(out):
                    out[index] = mapped
            else:  # the whole call failed: every key gets the error
                out = [mapped] * len(ids)
                break
        if len(out) != len(ids):
            error = GraphQLError("entity count mismatch", extensions={"code": "SUBGRAPH_ERROR"})
            out = [error] * len(ids)
        return out
