"""Wiring of the notifications service: runtime, consumers, subgraph."""

from importlib import resources

from starlette.applications import Starlette

from suishin.kit.service import ServiceRuntime
from suishin.notifications.schema import schema
from suishin.notifications.settings import NotificationsSettings

SERVICE_NAME = "notifications"


def build(settings: NotificationsSettings | None = None) -> tuple[ServiceRuntime, Starlette]:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime(
        SERVICE_NAME, settings, migrations=resources.files("suishin.notifications") / "migrations"
    )
    return runtime, runtime.http_app(schema)
