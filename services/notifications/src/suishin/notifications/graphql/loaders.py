"""Per-request DataLoaders of the notifications subgraph (reads through storage)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from suishin.kit.graphql import context_of
from suishin.notifications import storage
from suishin.notifications.graphql import access


def deliveries(info: Info[Any, Any]) -> DataLoader[UUID, list[dict[str, Any]]]:
    """The deliveries of notifications by id (with the group or digest e-mail that carried
    them), one query per request."""
    loaders = context_of(info).loaders
    if "deliveries" not in loaders:
        pool = access.service(info).pool

        async def load(ids: list[UUID]) -> list[list[dict[str, Any]]]:
            rows = await storage.deliveries.for_notifications(pool, ids)
            by: dict[UUID, list[dict[str, Any]]] = {i: [] for i in ids}
            for r in rows:
                by.setdefault(r["for_notification"], []).append(r)
            return [by[i] for i in ids]

        loaders["deliveries"] = DataLoader(load_fn=load)
    loader: DataLoader[UUID, list[dict[str, Any]]] = loaders["deliveries"]
    return loader
