"""The indicators service runtime (clock, counters, relay wake-up) and a pool for the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import asyncpg

from suishin.indicators.memory import HeapTrim
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit import metrics
from suishin.kit.clock import Clock, SystemClock
from suishin.kit.metrics import Metric
from suishin.kit.migrations import open_migrated_pool
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
        self.heap_trim = HeapTrim(quiet=settings.heap_trim_quiet_seconds)

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
    return await open_migrated_pool(
        settings.database_url, settings.schema_name(SERVICE_NAME), MIGRATIONS, max_size=max_size
    )
