"""Wiring of the plans service: runtime, consumers, subgraph."""

from importlib import resources

from starlette.applications import Starlette

from suishin.contracts import topics
from suishin.contracts.events import IndicatorStatusChanged
from suishin.kit.service import ServiceRuntime
from suishin.plans.handlers import indicator_status_handler
from suishin.plans.schema import schema
from suishin.plans.settings import PlansSettings

SERVICE_NAME = "plans"
MIGRATIONS = resources.files("suishin.plans") / "migrations"


def build(settings: PlansSettings | None = None) -> tuple[ServiceRuntime, Starlette]:
    settings = settings or PlansSettings()
    runtime = ServiceRuntime(SERVICE_NAME, settings, migrations=MIGRATIONS)
    runtime.add_consumer(
        topics.INDICATOR_STATUS_CHANGED,
        IndicatorStatusChanged,
        indicator_status_handler(runtime),
    )
    return runtime, runtime.http_app(schema)
