"""The runtime of the plans service (kit's runtime plus the clock it reads) and a pool for the
CLI and tools."""

from __future__ import annotations

from importlib import resources

import asyncpg

from suishin.kit.clock import Clock, SystemClock
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import PlatformSettings
from suishin.plans.settings import PlansSettings

SERVICE_NAME = "plans"
MIGRATIONS = resources.files("suishin.plans") / "migrations"


class PlansRuntime(ServiceRuntime):
    """The service runtime plus the clock human changes are stamped with (injectable)."""

    def __init__(self, settings: PlansSettings, clock: Clock | None = None) -> None:
        super().__init__(SERVICE_NAME, settings, migrations=MIGRATIONS)
        self.clock: Clock = clock or SystemClock()


async def open_pool(settings: PlatformSettings, *, max_size: int = 4) -> asyncpg.Pool:
    """A pool on the plans schema with migrations applied (for the CLI and tools)."""
    schema = settings.schema_name(SERVICE_NAME)
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    return pool
