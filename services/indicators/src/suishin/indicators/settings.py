"""Settings of the indicators service (environment, prefix ``SUISHIN_``)."""

from pydantic import Field

from suishin.kit.settings import ServiceSettings


class IndicatorsSettings(ServiceSettings):
    port: int = Field(default=4002, validation_alias="SUISHIN_INDICATORS_PORT")
