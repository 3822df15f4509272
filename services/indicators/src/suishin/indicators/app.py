"""Wiring of the indicators service: runtime, consumers, subgraph."""

from importlib import resources

from starlette.applications import Starlette

from suishin.indicators.schema import schema
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.service import ServiceRuntime

SERVICE_NAME = "indicators"


def build(settings: IndicatorsSettings | None = None) -> tuple[ServiceRuntime, Starlette]:
    settings = settings or IndicatorsSettings()
    runtime = ServiceRuntime(
        SERVICE_NAME, settings, migrations=resources.files("suishin.indicators") / "migrations"
    )
    return runtime, runtime.http_app(schema)
