"""Gateway settings (environment, prefix ``SUISHIN_``)."""

from pydantic import Field

from suishin.kit.settings import PlatformSettings


class GatewaySettings(PlatformSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=4000, validation_alias="SUISHIN_GATEWAY_PORT")
    plans_url: str = "http://127.0.0.1:4001/graphql"
    indicators_url: str = "http://127.0.0.1:4002/graphql"
    notifications_url: str = "http://127.0.0.1:4003/graphql"
