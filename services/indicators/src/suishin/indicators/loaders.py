"""Per-request DataLoaders: every field that reads the database does so once per request for
all the indicators (or measures) in it, never once per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from strawberry.dataloader import DataLoader

from suishin.indicators import storage
from suishin.indicators.storage import INDICATOR_COLUMNS, IndicatorRecord, Links, StoredStatus

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _loader(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Connection, list[K]], Awaitable[dict[K, V]]],
    default: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> Sequence[V]:
        async with pool.acquire() as conn:
            found = await fetch(conn, keys)
        return [found.get(k, default()) for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    pool: asyncpg.Pool
    tenant: str
    _cache: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def _get(self, name: str, make: Callable[[], DataLoader[Any, Any]]) -> DataLoader[Any, Any]:
        loader = self._cache.get(name)
        if loader is None:
            loader = self._cache[name] = make()
        return loader

    @property
    def indicator(self) -> DataLoader[UUID, IndicatorRecord | None]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, IndicatorRecord | None]:
            rows = await conn.fetch(
                f"""select {INDICATOR_COLUMNS} from indicators i
                    where i.id = any($1::uuid[]) and i.tenant = $2""",
                ids,
                self.tenant,
            )
            return dict(await storage.with_targets(conn, rows))

        return self._get("indicator", lambda: _loader(self.pool, fetch, lambda: None))

    @property
    def by_measure(self) -> DataLoader[UUID, list[IndicatorRecord]]:
        async def fetch(
            conn: asyncpg.Connection, node_ids: list[UUID]
        ) -> dict[UUID, list[IndicatorRecord]]:
            rows = await conn.fetch(
                f"""select l.node_id, {INDICATOR_COLUMNS} from indicator_links l
                    join indicators i on i.id = l.indicator_id
                    where l.node_id = any($1::uuid[]) and l.tenant = $2 and i.tenant = $2
                    order by l.node_id, i.key""",
                node_ids,
                self.tenant,
            )
            records = await storage.with_targets(conn, rows)
            out: dict[UUID, list[IndicatorRecord]] = {}
            for r in rows:
                out.setdefault(r["node_id"], []).append(records[r["id"]])
            return out

        return self._get("by_measure", lambda: _loader(self.pool, fetch, list))

    @property
    def children(self) -> DataLoader[UUID, list[IndicatorRecord]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[IndicatorRecord]]:
            rows = await conn.fetch(
                f"""select {INDICATOR_COLUMNS} from indicators i
                    where i.parent_id = any($1::uuid[]) and i.tenant = $2 order by i.key""",
                ids,
                self.tenant,
            )
            records = await storage.with_targets(conn, rows)
            out: dict[UUID, list[IndicatorRecord]] = {}
            for r in rows:
                out.setdefault(r["parent_id"], []).append(records[r["id"]])
            return out

        return self._get("children", lambda: _loader(self.pool, fetch, list))

    @property
    def target_history(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            return await storage.target_history(conn, ids)

        return self._get("target_history", lambda: _loader(self.pool, fetch, list))

    @property
    def measurements(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            return await storage.measurement_history(conn, ids)

        return self._get("measurements", lambda: _loader(self.pool, fetch, list))

    @property
    def statuses(self) -> DataLoader[UUID, dict[int, asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, dict[int, asyncpg.Record]]:
            rows = await conn.fetch(
                """select * from indicator_status where indicator_id = any($1::uuid[])
                   order by indicator_id, fiscal_year""",
                ids,
            )
            out: dict[UUID, dict[int, asyncpg.Record]] = {}
            for r in rows:
                out.setdefault(r["indicator_id"], {})[r["fiscal_year"]] = r
            return out

        return self._get("statuses", lambda: _loader(self.pool, fetch, dict))

    @property
    def status_history(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            rows = await conn.fetch(
                """select * from status_history where indicator_id = any($1::uuid[])
                   order by indicator_id, changed_at, id""",
                ids,
            )
            out: dict[UUID, list[asyncpg.Record]] = {}
            for r in rows:
                out.setdefault(r["indicator_id"], []).append(r)
            return out

        return self._get("status_history", lambda: _loader(self.pool, fetch, list))

    @property
    def links(self) -> DataLoader[UUID, Links]:
        async def fetch(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, Links]:
            return await storage.load_links(conn, ids)

        return self._get("links", lambda: _loader(self.pool, fetch, lambda: Links([], [])))


__all__ = ["Loaders", "StoredStatus"]
