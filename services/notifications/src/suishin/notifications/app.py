"""Wiring of the notifications service: runtime, consumers, background jobs, subgraph."""

from importlib import resources

from starlette.applications import Starlette

from suishin.kit.clock import Clock
from suishin.kit.service import ServiceRuntime
from suishin.notifications.schema import schema
from suishin.notifications.service import NotificationsRuntime, NotificationsService
from suishin.notifications.settings import NotificationsSettings

SERVICE_NAME = "notifications"


def build(
    settings: NotificationsSettings | None = None,
    *,
    clock: Clock | None = None,
    consume: bool = True,
    background: bool = True,
) -> tuple[ServiceRuntime, Starlette]:
    """The service's runtime and ASGI app. Tests pass a clock and may switch off the consumers
    or the background loops to drive them step by step."""
    settings = settings or NotificationsSettings()
    runtime = NotificationsRuntime(
        SERVICE_NAME, settings, migrations=resources.files("suishin.notifications") / "migrations"
    )
    NotificationsService(runtime, settings, clock, consume=consume, background=background)
    return runtime, runtime.http_app(schema)
