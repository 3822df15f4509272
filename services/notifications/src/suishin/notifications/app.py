"""Wiring of the notifications service: runtime, consumers, background jobs, subgraph."""

from starlette.applications import Starlette

from suishin.kit.clock import Clock
from suishin.kit.service import ServiceRuntime
from suishin.notifications import handlers
from suishin.notifications.graphql import schema
from suishin.notifications.runtime import NotificationsRuntime
from suishin.notifications.settings import NotificationsSettings


def build(
    settings: NotificationsSettings | None = None,
    *,
    clock: Clock | None = None,
    consume: bool = True,
    background: bool = True,
) -> tuple[ServiceRuntime, Starlette]:
    """The service's runtime and ASGI app. Tests pass a clock and may switch off the consumers
    or the background loops to drive them step by step."""
    runtime = NotificationsRuntime(settings or NotificationsSettings(), clock)
    for topic, payload, handler in handlers.consumers(runtime):
        runtime.handlers[topic] = handler
        if consume:
            runtime.add_consumer(topic, payload, handler)
    if background:
        runtime.add_background(runtime.dispatcher.run)
        runtime.add_background(runtime.run_scheduler)
    return runtime, runtime.http_app(schema)
