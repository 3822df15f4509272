"""Settings of the plans service (environment, prefix ``SUISHIN_``)."""

from pydantic import Field

from suishin.kit.settings import ServiceSettings


class PlansSettings(ServiceSettings):
    port: int = Field(default=4001, validation_alias="SUISHIN_PLANS_PORT")
    milestone_sweep_enabled: bool = True
    milestone_sweep_interval: float = Field(default=3600.0, gt=0)
