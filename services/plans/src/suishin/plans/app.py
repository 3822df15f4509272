"""Wiring of the plans service: runtime, consumers, the milestone sweep, subgraph."""

from __future__ import annotations

from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorStatusChanged
from suishin.kit.clock import Clock
from suishin.kit.handlers import relay_waker
from suishin.plans.graphql import schema
from suishin.plans.handlers import indicator_status_handler
from suishin.plans.milestones import run_milestone_sweeper
from suishin.plans.runtime import PlansRuntime
from suishin.plans.settings import PlansSettings
from suishin.plans.sweep import run_deadline_sweeper


def build(
    settings: PlansSettings | None = None, *, clock: Clock | None = None
) -> tuple[PlansRuntime, Starlette]:
    settings = settings or PlansSettings()
    runtime = PlansRuntime(settings, clock)
    runtime.add_consumer(
        topics.INDICATOR_STATUS_CHANGED,
        IndicatorStatusChanged,
        indicator_status_handler(runtime),
    )
    if settings.report_sweep_enabled:

        async def sweeper() -> None:
            await run_deadline_sweeper(
                lambda: runtime.pool,
                runtime.clock,
                interval=settings.report_sweep_interval,
                on_events=relay_waker(runtime),
            )

        runtime.add_background(sweeper)
    if settings.milestone_sweep_enabled:

        async def milestone_sweeper() -> None:
            await run_milestone_sweeper(
                lambda: runtime.pool,
                runtime.clock,
                interval=settings.milestone_sweep_interval,
                on_changes=relay_waker(runtime),
            )

        runtime.add_background(milestone_sweeper)
    return runtime, runtime.http_app(schema)
