"""Settings of the notifications service (environment, prefix ``SUISHIN_``)."""

from pydantic import Field

from suishin.kit.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    port: int = Field(default=4003, validation_alias="SUISHIN_NOTIFICATIONS_PORT")
