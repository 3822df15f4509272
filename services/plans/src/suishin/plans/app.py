"""Wiring of the plans service: runtime, consumers, subgraph."""

from __future__ import annotations

from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorStatusChanged
from suishin.kit.clock import Clock
from suishin.plans.graphql import schema
from suishin.plans.handlers import indicator_status_handler
from suishin.plans.runtime import PlansRuntime
from suishin.plans.settings import PlansSettings


def build(
    settings: PlansSettings | None = None, *, clock: Clock | None = None
) -> tuple[PlansRuntime, Starlette]:
    runtime = PlansRuntime(settings or PlansSettings(), clock)
    runtime.add_consumer(
        topics.INDICATOR_STATUS_CHANGED,
        IndicatorStatusChanged,
        indicator_status_handler(runtime),
    )
    return runtime, runtime.http_app(schema)
