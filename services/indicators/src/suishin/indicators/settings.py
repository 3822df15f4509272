"""Settings of the indicators service (environment, prefix ``SUISHIN_``)."""

from pydantic import AliasChoices, Field

from suishin.kit.settings import ServiceSettings


class IndicatorsSettings(ServiceSettings):
    port: int = Field(default=4002, validation_alias="SUISHIN_INDICATORS_PORT")
    stale_sweep_interval: float = Field(
        default=300.0,
        gt=0,
        validation_alias=AliasChoices(
            "stale_sweep_interval", "SUISHIN_INDICATORS_STALE_SWEEP_INTERVAL"
        ),
        description="Seconds between two sweeps that mark overdue reports as stale.",
    )
    stale_sweep_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices(
            "stale_sweep_enabled", "SUISHIN_INDICATORS_STALE_SWEEP_ENABLED"
        ),
    )
    stale_sweep_page_size: int = Field(default=500, gt=0)
