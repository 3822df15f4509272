"""HTTP client for the subgraphs: pooled connections, timeouts, the caller's bearer token.

One :class:`SubgraphClient` per subgraph lives for the life of the process (connection pool);
tests inject an httpx transport per subgraph instead of a network. Every call is counted, so the
metrics endpoint and the benchmark can report subgraph calls per query, timed (a histogram per
subgraph and outcome), logged at DEBUG, and carries the request's trace context (``traceparent``,
when tracing is on) and correlation id.

Identical queries in flight at the same time are sent once (``dedupe``): a dashboard opened by
several people of one ward, or reloaded, costs the subgraphs one call per distinct query while
the first is under way. The key is the document, the variables and the caller's
``Authorization`` header, so the calls of two callers are never merged, and mutations never
are. A merged call carries the first caller's correlation id and trace context.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from graphql import GraphQLError

from suishin.gateway import errors
from suishin.kit import tracing
from suishin.kit.metrics import SUBGRAPH_CALL_SECONDS

log = logging.getLogger(__name__)

SUBGRAPHS = ("plans", "indicators", "notifications")

Sent = tuple[str, int, bytes]  # outcome ("ok", "timeout", "unavailable"), HTTP status, body


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
        self.calls = 0  # HTTP calls sent
        self.merged = 0  # calls answered by an identical call already in flight
        self.failures = 0
        self._inflight: dict[
            tuple[str, str, str | None], asyncio.Future[tuple[str, int, bytes]]
        ] = {}
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={
                "content-type": "application/json",
                "accept": "application/json",
                # Inside the cluster CPU is dearer than bytes: subgraphs answer uncompressed.
                "accept-encoding": "identity",
                **(headers or {}),
            },
        )
        if tracing.active():
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor.instrument_client(self._http)

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        authorization: str | None = None,
        dedupe: bool = False,
    ) -> SubgraphResult:
        """Run one operation; transport failures raise a client-safe GraphQLError.

        With ``dedupe`` (queries only, never mutations) a call identical to one still in flight
        (same document, same variables, same ``authorization``) shares that call instead of
        sending another: both get the same answer, each parses its own copy. The caller's token
        is part of the key, so calls of different callers are never merged."""
        key: tuple[str, str, str | None] | None = None
        if dedupe:
            key = (query, _canonical(variables), authorization)
            shared = self._inflight.get(key)
            if shared is not None:
                self.merged += 1
                return self._result(await asyncio.shield(shared))
        call = asyncio.ensure_future(self._send(query, variables, authorization))
        if key is not None:
            self._inflight[key] = call
            call.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shielded: a caller that goes away does not cancel the call others may be sharing
        return self._result(await asyncio.shield(call))

    async def _send(
        self, query: str, variables: Mapping[str, Any] | None, authorization: str | None
    ) -> Sent:
        """One HTTP call: ``("ok", status, body)``, or ``("timeout" | "unavailable", 0, b"")``
        (each caller raises its own error from that)."""
        self.calls += 1
        headers = {"authorization": authorization} if authorization else {}
        correlation = tracing.correlation_id()
        if correlation:
            headers[tracing.CORRELATION_HEADER] = correlation
        start = time.perf_counter()
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
            self._observe("timeout", start)
            log.warning("subgraph timeout", extra={"subgraph": self.name, "error": repr(exc)})
            return ("timeout", 0, b"")
        except httpx.HTTPError as exc:
            self.failures += 1
            self._observe("unavailable", start)
            log.warning("subgraph unreachable", extra={"subgraph": self.name, "error": repr(exc)})
            return ("unavailable", 0, b"")
        elapsed = self._observe("ok" if response.status_code < 400 else "error", start)
        log.debug(
            "subgraph call",
            extra={
                "subgraph": self.name,
                "status": response.status_code,
                "ms": round(elapsed * 1000, 1),
            },
        )
        return ("ok", response.status_code, response.content)

    def _result(self, sent: Sent) -> SubgraphResult:
        outcome, status, content = sent
        if outcome == "timeout":
            raise errors.subgraph_timeout(self.name)
        if outcome != "ok":
            raise errors.subgraph_unavailable(self.name)
        try:
            body = orjson.loads(content)  # twice as fast as json.loads on a whole-plan answer
        except ValueError:
            body = None
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            self.failures += 1
            log.warning(
                "subgraph answered without a GraphQL body",
                extra={"subgraph": self.name, "status": status},
            )
            raise errors.subgraph_unavailable(self.name)
        raw_errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        return SubgraphResult(
            data=body.get("data"),
            errors=[errors.from_subgraph(self.name, e) for e in raw_errors],
            raw_errors=raw_errors,
        )

    def _observe(self, outcome: str, start: float) -> float:
        elapsed = time.perf_counter() - start
        SUBGRAPH_CALL_SECONDS.labels(self.name, outcome).observe(elapsed)
        return elapsed

    async def aclose(self) -> None:
        await self._http.aclose()


def _canonical(variables: Mapping[str, Any] | None) -> str:
    return json.dumps(variables or {}, sort_keys=True, separators=(",", ":"), default=str)


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

    @property
    def total_merged(self) -> int:
        return sum(c.merged for c in self._clients.values())

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
