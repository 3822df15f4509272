"""Settings of the plans service (environment, prefix ``SUISHIN_``)."""

from pydantic import Field

from suishin.kit.settings import ServiceSettings


class PlansSettings(ServiceSettings):
    port: int = Field(default=4001, validation_alias="SUISHIN_PLANS_PORT")
    report_sweep_enabled: bool = Field(
        default=True, description="Run the progress-report deadline sweep (reminders, overdue)."
    )
    report_sweep_interval: float = Field(
        default=60.0, gt=0, description="Seconds between two deadline sweeps."
    )
    milestone_sweep_enabled: bool = Field(
        default=True, description="Run the milestone sweep (plan.milestone_due reminders)."
    )
    milestone_sweep_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between two milestone sweeps."
    )
