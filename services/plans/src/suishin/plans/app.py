"""Wiring of the plans service: runtime, consumers, subgraph."""

from importlib import resources

import asyncpg
from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorStatusChanged
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import PlatformSettings
from suishin.plans.graphql import schema
from suishin.plans.handlers import indicator_status_handler
from suishin.plans.settings import PlansSettings

SERVICE_NAME = "plans"
MIGRATIONS = resources.files("suishin.plans") / "migrations"


def build(settings: PlansSettings | None = None) -> tuple[ServiceRuntime, Starlette]:
    settings = settings or PlansSettings()
    runtime = ServiceRuntime(SERVICE_NAME, settings, migrations=MIGRATIONS)
    runtime.add_consumer(
        topics.INDICATOR_STATUS_CHANGED,
        IndicatorStatusChanged,
        indicator_status_handler(runtime),
    )
    return runtime, runtime.http_app(schema)


async def open_pool(settings: PlatformSettings, *, max_size: int = 4) -> asyncpg.Pool:
    """A pool on the plans schema with migrations applied (for the CLI and tools)."""
    schema = settings.schema_name(SERVICE_NAME)
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    return pool
