"""Wiring of the plans service: runtime, consumers, subgraph."""

from importlib import resources

from starlette.applications import Starlette

from suishin.kit.service import ServiceRuntime
from suishin.plans.schema import schema
from suishin.plans.settings import PlansSettings

SERVICE_NAME = "plans"


def build(settings: PlansSettings | None = None) -> tuple[ServiceRuntime, Starlette]:
    settings = settings or PlansSettings()
    runtime = ServiceRuntime(
        SERVICE_NAME, settings, migrations=resources.files("suishin.plans") / "migrations"
    )
    return runtime, runtime.http_app(schema)
