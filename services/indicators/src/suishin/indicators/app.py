"""Wiring of the indicators service: runtime, consumer, stale sweep, subgraph and the HTTP ingest
route. No logic."""

from __future__ import annotations

from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorReported
from suishin.indicators.graphql import schema
from suishin.indicators.handlers import reported_handler
from suishin.indicators.http_ingest import ingest_route
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.settings import IndicatorsSettings
from suishin.indicators.sweep import run_sweeper
from suishin.kit.clock import Clock


def build(
    settings: IndicatorsSettings | None = None, *, clock: Clock | None = None
) -> tuple[IndicatorsRuntime, Starlette]:
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
    return runtime, runtime.http_app(schema, extra_routes=[ingest_route(runtime)])
