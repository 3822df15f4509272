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
    consumer_parts: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("consumer_parts", "SUISHIN_INDICATORS_CONSUMER_PARTS"),
        description=(
            "A batch of reports is applied as up to this many parts at once, each in its own "
            "transaction (parts share no indicator); 1 applies every batch in one transaction. "
            "More than 1 overlaps the service's Python work with PostgreSQL's; it pays only "
            "when both have a core of their own."
        ),
    )
    consumer_min_part_size: int = Field(
        default=200,
        ge=1,
        validation_alias=AliasChoices(
            "consumer_min_part_size", "SUISHIN_INDICATORS_CONSUMER_MIN_PART_SIZE"
        ),
        description="A batch is split only into parts of at least this many reports.",
    )
    heap_trim_quiet_seconds: float = Field(
        default=1.0,
        ge=0,
        validation_alias=AliasChoices(
            "heap_trim_quiet_seconds", "SUISHIN_INDICATORS_HEAP_TRIM_QUIET_SECONDS"
        ),
        description=(
            "Seconds without a batch after a burst (at least 5,000 reports) before the freed "
            "heap is returned to the operating system (glibc malloc_trim); 0 never does."
        ),
    )
