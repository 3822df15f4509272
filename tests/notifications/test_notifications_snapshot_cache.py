"""The routing snapshots a replica keeps between consumer batches: a batch of an unchanged
tenant loads none of its tables, and whatever changes a tenant's routing data — committed by
this replica or another, through the API, a directory import or plain SQL — is what the next
batch routes with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.kit.clock import FixedClock
from suishin.notifications import commands
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain import triggers
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.runtime import NotificationsRuntime, runtime_of
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.storage.directory import SnapshotCache, versions

pytestmark = pytest.mark.integration

WED = datetime(2025, 6, 11, 10, 0, tzinfo=JST)
TENANT = "cached"
OTHER = "uncached"
WEBHOOK = {"id": "hook", "url": "https://hooks.example.jp/x", "secret": "s3cret"}
TABLES = (
    "tenants",
    "departments",
    "routing_rules",
    "subscriptions",
    "silences",
    "webhooks",
    "people",
    "preferences",
    "assignments",
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(infra: Infrastructure, ev: SimpleNamespace) -> AsyncIterator[SimpleNamespace]:
    settings = isolated_settings(NotificationsSettings, infra)
    runtime, _app = build(settings, clock=FixedClock(WED), consume=False, background=False)
    async with started(runtime):
        for tenant in (TENANT, OTHER):
            data = ev.directory_data(tenant)
            data["people"][1]["preferences"] = {"cadence": "daily"}  # a preferences row
            data["people"][4]["subscriptions"] = [{"event_types": ["measure.status_changed"]}]
            data["webhooks"] = [WEBHOOK]
            await import_directory(runtime.pool, Directory.model_validate(data))
            # a silence that ended before the tests' day
            await runtime.pool.execute(
                """insert into silences (id, tenant, reason, created_by, starts_at, expires_at)
                   values ($1, $2, 'maintenance', 'test', $3, $4)""",
                uuid4(),
                tenant,
                WED - timedelta(days=2),
                WED - timedelta(days=1),
            )
        service: NotificationsRuntime = runtime_of(runtime)
        yield SimpleNamespace(runtime=runtime, service=service, ev=ev)


async def route(svc: SimpleNamespace, cache: SnapshotCache, tenant: str = TENANT) -> set[str]:
    """Who an off-track signal of a fresh indicator reaches, routed with ``cache``."""
    service = svc.service
    signal = triggers.from_indicator(svc.ev.indicator(tenant=tenant, indicator_id=uuid4()))
    async with service.pool.acquire() as conn, conn.transaction():
        (outcome,) = await commands.apply_signals(
            conn, service.router, [signal], WED, service.digest_schedule, cache
        )
        rows = await conn.fetch(
            "select recipient_id from notifications where id = any($1::uuid[])",
            outcome.notifications,
        )
    return {r["recipient_id"].split("@")[0] for r in rows}


async def test_an_unchanged_tenant_is_routed_without_loading_its_tables(
    svc: SimpleNamespace,
) -> None:
    cache = SnapshotCache()
    assert await route(svc, cache) == {"reporter", "jimukyoku"}
    assert cache.loads == 1
    seen: list[Any] = []
    async with svc.service.pool.acquire() as conn, conn.transaction():
        conn.add_query_logger(seen.append)
        try:
            snaps = await cache.snapshots(conn, [TENANT], WED, svc.service.digest_schedule)
        finally:
            conn.remove_query_logger(seen.append)
    assert cache.loads == 1 and snaps[TENANT].known
    assert ["routing_versions" in q.query for q in seen] == [True]  # one query

    # another tenant of the same batch is loaded on its own; the cached one is not loaded again
    async with svc.service.pool.acquire() as conn, conn.transaction():
        await cache.snapshots(conn, [TENANT, OTHER], WED, svc.service.digest_schedule)
    assert cache.loads == 2


@pytest.mark.parametrize("table", TABLES)
async def test_every_change_to_what_routing_reads_gives_the_tenant_a_new_version(
    svc: SimpleNamespace, table: str
) -> None:
    pool = svc.service.pool
    async with pool.acquire() as conn:
        before = await versions(conn, [TENANT, OTHER])
        async with conn.transaction():
            for statement in (
                f"update {table} set tenant = tenant where tenant = $1",
                f"update {table} set tenant = tenant where tenant = $1",
            ):
                changed = await conn.execute(statement, TENANT)
                assert changed != "UPDATE 0", f"no {table} row of {TENANT} to change"
            # not before the commit: the version is visible with the change
            assert await versions(conn, [TENANT]) == {TENANT: before[TENANT]}
        after = await versions(conn, [TENANT, OTHER])
    assert after[TENANT] > before[TENANT]
    assert after[OTHER] == before[OTHER]


async def test_a_committed_change_is_routed_with_by_every_replica(
    svc: SimpleNamespace,
) -> None:
    pool = svc.service.pool
    replicas = [SnapshotCache(), SnapshotCache()]
    for cache in replicas:
        assert await route(svc, cache) == {"reporter", "jimukyoku"}
        assert await route(svc, cache, OTHER) == {"reporter", "jimukyoku"}

    async def expect(recipients: set[str]) -> None:
        for cache in replicas:
            assert await route(svc, cache) == recipients
            # the other tenant did not change: still cached (one load each, above)
            assert await route(svc, cache, OTHER) == {"reporter", "jimukyoku"}

    # a silence (as the API's mutation writes it), then its removal
    silence = uuid4()
    await pool.execute(
        """insert into silences (id, tenant, recipient_id, reason, created_by, starts_at,
               expires_at) values ($1, $2, $3, 'on leave', 'test', $4, $5)""",
        silence,
        TENANT,
        f"jimukyoku@{TENANT}",
        WED - timedelta(hours=1),
        WED + timedelta(days=1),
    )
    await expect({"reporter"})
    await pool.execute("delete from silences where id = $1", silence)
    await expect({"reporter", "jimukyoku"})

    # a person's preferences
    await pool.execute(
        """update preferences set muted_kinds = '{indicator_off_track}'
           where tenant = $1 and person_id = $2""",
        TENANT,
        f"jimukyoku@{TENANT}",
    )
    await expect({"reporter"})

    # the rules
    await pool.execute("update routing_rules set enabled = false where tenant = $1", TENANT)
    await expect(set())

    # a directory import brings the rules back and the preferences the file gives
    data = svc.ev.directory_data(TENANT)
    data["webhooks"] = [WEBHOOK]
    data["people"][4]["subscriptions"] = [{"event_types": ["measure.status_changed"]}]
    await import_directory(pool, Directory.model_validate(data))
    await expect({"reporter", "jimukyoku"})

    # an assignment that ends before today (the 事務局 rotated out)
    await pool.execute(
        "update assignments set valid_to = '2025-03-31' where tenant = $1 and person_id = $2",
        TENANT,
        f"jimukyoku@{TENANT}",
    )
    await expect({"reporter"})

    # a truncate empties what the caches hold of every tenant
    await pool.execute("truncate assignments")
    for cache in replicas:
        assert await route(svc, cache) == set()
        assert await route(svc, cache, OTHER) == set()
    for cache in replicas:
        assert cache.loads == 2 + 6 + 2
