"""HTTP client for the subgraphs: pooled connections, timeouts, the caller's bearer token.

One :class:`SubgraphClient` per subgraph lives for the life of the process (connection pool);
tests inject an httpx transport per subgraph instead of a network. Every call is counted, so the
metrics endpoint and the benchmark can report subgraph calls per query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from graphql import GraphQLError

from suishin.gateway import errors

log = logging.getLogger(__name__)

SUBGRAPHS = ("plans", "indicators", "notifications")


@dataclass
class SubgraphResult:
    """What one subgraph answered: its ``data`` and its errors, already mapped."""

    data: dict[str, Any] | None
    errors: list[GraphQLError] = field(default_factory=list)
    raw_errors: list[dict[str, Any]] = field(default_factory=list)


class SubgraphClient:
    """GraphQL over HTTP to one subgraph."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 10.0,
        max_connections: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout = timeout
        self.calls = 0
        self.failures = 0
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                **(headers or {}),
            },
        )

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        authorization: str | None = None,
    ) -> SubgraphResult:
        """Run one operation; transport failures raise a client-safe GraphQLError."""
        self.calls += 1
        headers = {"authorization": authorization} if authorization else {}
        try:
            # httpx enforces timeouts per I/O step; this bounds the whole call.
            async with asyncio.timeout(self.timeout):
                response = await self._http.post(
                    self.url,
                    json={"query": query, "variables": dict(variables or {})},
                    headers=headers,
                )
        except (httpx.TimeoutException, TimeoutError) as exc:
            self.failures += 1
            log.warning("subgraph timeout", extra={"subgraph": self.name, "error": repr(exc)})
            raise errors.subgraph_timeout(self.name) from None
        except httpx.HTTPError as exc:
            self.failures += 1
            log.warning("subgraph unreachable", extra={"subgraph": self.name, "error": repr(exc)})
            raise errors.subgraph_unavailable(self.name) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            self.failures += 1
            log.warning(
                "subgraph answered without a GraphQL body",
                extra={"subgraph": self.name, "status": response.status_code},
            )
            raise errors.subgraph_unavailable(self.name)
        raw_errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        return SubgraphResult(
            data=body.get("data"),
            errors=[errors.from_subgraph(self.name, e) for e in raw_errors],
            raw_errors=raw_errors,
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class Subgraphs:
    """The three subgraph clients of one gateway process."""

    def __init__(self, clients: Mapping[str, SubgraphClient]) -> None:
        self._clients = dict(clients)

    @classmethod
    def from_urls(
        cls,
        urls: Mapping[str, str],
        *,
        timeout: float = 10.0,
        max_connections: int = 50,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Subgraphs:
        """``headers`` go with every call (the gateway's internal caller header)."""
        transports = transports or {}
        return cls(
            {
                name: SubgraphClient(
                    name,
                    url,
                    timeout=timeout,
                    max_connections=max_connections,
                    transport=transports.get(name),
                    headers=headers,
                )
                for name, url in urls.items()
            }
        )

    def __getitem__(self, name: str) -> SubgraphClient:
        return self._clients[name]

    def __iter__(self) -> Any:
        return iter(self._clients.values())

    @property
    def total_calls(self) -> int:
        return sum(c.calls for c in self._clients.values())

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
