"""Per-request DataLoaders: every field that reads the database does so once per request for
all the indicators (or measures) in it, never once per row.

A field reading a loader resolves synchronously when the loader already holds its value
(:func:`when_loaded`): lists of indicators prefetch what their selection reads, in one batch
per kind (:meth:`Loaders.prefetch`), so that their fields then cost no awaits, tasks or
further round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from strawberry.dataloader import DataLoader

from suishin.indicators import storage
from suishin.indicators.storage.indicators import IndicatorRecord
from suishin.indicators.storage.links import Links
from suishin.indicators.storage.statuses import StoredStatus
from suishin.kit.loading import AnyInfo, selected_names, selection_key

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

# What the fields of Indicator read (GraphQL field name -> loaders), for prefetching.
READS: dict[str, tuple[str, ...]] = {
    "targets": ("target_history",),
    "targetHistory": ("target_history",),
    "status": ("statuses",),
    "statuses": ("statuses",),
    "statusHistory": ("status_history",),
    "series": ("measurements", "statuses", "target_history"),
    "measurements": ("measurements",),
    "measureIds": ("links",),
    "subSeries": ("children",),
}


async def _prime(loader: DataLoader[Any, Any], keys: list[Any]) -> None:
    """Fetch ``keys`` with the loader's batch function and keep the values in its cache."""
    missing = [k for k in keys if loader.cache_map.get(k) is None]
    if missing:
        values = await loader.load_fn(missing)
        loader.prime_many(dict(zip(missing, values, strict=True)))


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
    _selections: dict[tuple[tuple[str, ...], tuple[str, ...]], frozenset[str]] = field(
        default_factory=dict
    )
    _wanted: set[str] = field(default_factory=set)

    def want(self, info: AnyInfo, path: tuple[str, ...] = ()) -> None:
        """Note what the selection of the field ``info`` resolves (indicators, or a connection
        of them below ``path``) will read, for :meth:`prefetch`."""
        cache_key = (selection_key(info), path)
        names = self._selections.get(cache_key)
        if names is None:
            names = self._selections[cache_key] = selected_names(info, path)
            self._wanted |= {name for field_name in names for name in READS.get(field_name, ())}

    async def prefetch(self, ids: Iterable[UUID]) -> None:
        """Load what the selections noted by :meth:`want` read for the indicators ``ids``: one
        batch per kind of data, so that their fields then resolve without waiting."""
        keys = list(ids)
        if self._wanted and keys:
            await asyncio.gather(*(_prime(getattr(self, n), keys) for n in sorted(self._wanted)))

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
            return dict(await storage.indicators.tenant_indicators(conn, ids, self.tenant))

        return self._get("indicator", lambda: _loader(self.pool, fetch, lambda: None))

    @property
    def by_measure(self) -> DataLoader[UUID, list[IndicatorRecord]]:
        """Linked to the node itself, or to a node below it (a measure's workload items)."""
        return self._get("by_measure", lambda: self._by_nodes(storage.indicators.rows_of_nodes))

    @property
    def by_node(self) -> DataLoader[UUID, list[IndicatorRecord]]:
        """Attached to the node itself only (a goal's own indicators)."""
        return self._get("by_node", lambda: self._by_nodes(storage.indicators.rows_linked_to))

    def _by_nodes(
        self,
        rows_of: Callable[
            [asyncpg.Connection, Sequence[UUID], str], Awaitable[list[asyncpg.Record]]
        ],
    ) -> DataLoader[UUID, list[IndicatorRecord]]:
        async def fetch(
            conn: asyncpg.Connection, node_ids: list[UUID]
        ) -> dict[UUID, list[IndicatorRecord]]:
            rows = await rows_of(conn, node_ids, self.tenant)
            # The indicators of every node of the request at once: prefetch what their
            # selections read (Measure.indicators noted it), one batch per kind of data, while
            # their targets are read.
            records, _ = await asyncio.gather(
                storage.indicators.with_targets(conn, rows),
                self.prefetch({r["id"]: None for r in rows}),
            )
            out: dict[UUID, list[IndicatorRecord]] = {}
            for r in rows:
                out.setdefault(r["node_id"], []).append(records[r["id"]])
            return out

        async def load(node_ids: list[UUID]) -> Sequence[list[IndicatorRecord]]:
            async with self.pool.acquire() as conn:
                found = await fetch(conn, node_ids)
            return [found.get(n, []) for n in node_ids]

        return DataLoader(load_fn=load)

    @property
    def children(self) -> DataLoader[UUID, list[IndicatorRecord]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[IndicatorRecord]]:
            return await storage.indicators.sub_series(conn, ids, self.tenant)

        return self._get("children", lambda: _loader(self.pool, fetch, list))

    @property
    def target_history(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            return await storage.targets.target_history(conn, ids)

        return self._get("target_history", lambda: _loader(self.pool, fetch, list))

    @property
    def measurements(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            return await storage.measurements.measurement_history(conn, ids)

        return self._get("measurements", lambda: _loader(self.pool, fetch, list))

    @property
    def statuses(self) -> DataLoader[UUID, dict[int, asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, dict[int, asyncpg.Record]]:
            return await storage.statuses.status_rows(conn, ids)

        return self._get("statuses", lambda: _loader(self.pool, fetch, dict))

    @property
    def status_history(self) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def fetch(
            conn: asyncpg.Connection, ids: list[UUID]
        ) -> dict[UUID, list[asyncpg.Record]]:
            return await storage.statuses.change_history(conn, ids)

        return self._get("status_history", lambda: _loader(self.pool, fetch, list))

    @property
    def links(self) -> DataLoader[UUID, Links]:
        async def fetch(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, Links]:
            return await storage.links.load_links(conn, ids)

        return self._get("links", lambda: _loader(self.pool, fetch, lambda: Links([], [])))


__all__ = ["Loaders", "StoredStatus"]
