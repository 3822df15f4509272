"""Wiring of the indicators service: runtime, consumer, stale sweep, subgraph."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import asyncpg
from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorReported
from suishin.indicators.handlers import reported_handler
from suishin.indicators.settings import IndicatorsSettings
from suishin.indicators.sweep import run_sweeper
from suishin.kit import metrics
from suishin.kit.clock import Clock, SystemClock
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.metrics import Metric
from suishin.kit.migrations import migrate
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import PlatformSettings

SERVICE_NAME = "indicators"
MIGRATIONS = resources.files("suishin.indicators") / "migrations"


class IndicatorsRuntime(ServiceRuntime):
    """The service runtime plus the clock evaluation runs on (injectable for tests)."""

    def __init__(self, settings: IndicatorsSettings, clock: Clock | None = None) -> None:
        super().__init__(SERVICE_NAME, settings, migrations=MIGRATIONS)
        self.indicator_settings = settings
        self.clock: Clock = clock or SystemClock()
        self.ingested = 0

    def metric_families(self) -> Iterator[Metric]:
        yield from super().metric_families()
        yield metrics.counter(
            "suishin_indicators_reports_accepted",
            "Reports of actuals accepted (Kafka and GraphQL)",
            {"service": self.name},
            self.ingested,
        )

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()


async def open_pool(settings: PlatformSettings, *, max_size: int = 4) -> asyncpg.Pool:
    """A pool on the indicators schema with migrations applied (for the CLI and tools)."""
    schema = settings.schema_name(SERVICE_NAME)
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=max_size)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    return pool


def build(
    settings: IndicatorsSettings | None = None, *, clock: Clock | None = None
) -> tuple[IndicatorsRuntime, Starlette]:
    from suishin.indicators.schema import schema

    settings = settings or IndicatorsSettings()
    runtime = IndicatorsRuntime(settings, clock)
    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, reported_handler(runtime))
    if settings.stale_sweep_enabled:

        async def sweeper() -> None:
            await run_sweeper(
                lambda: runtime.pool,
                runtime.clock,
                interval=settings.stale_sweep_interval,
                page_size=settings.stale_sweep_page_size,
                on_changes=runtime.wake_relay,
            )

        runtime.add_background(sweeper)
    from suishin.indicators.http_ingest import ingest_route

    return runtime, runtime.http_app(schema, extra_routes=[ingest_route(runtime)])
