"""The runtime of the plans service (kit's runtime plus the clock it reads) and a pool for the
CLI and tools."""

from __future__ import annotations

from importlib import resources

import asyncpg

from suishin.kit.clock import Clock, SystemClock
from suishin.kit.migrations import open_migrated_pool
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
    return await open_migrated_pool(
        settings.database_url, settings.schema_name(SERVICE_NAME), MIGRATIONS, max_size=max_size
    )
