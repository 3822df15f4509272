"""Gateway settings (environment, prefix ``SUISHIN_``)."""

import secrets

from pydantic import Field

from suishin.kit.settings import PlatformSettings


class GatewaySettings(PlatformSettings):
    """Where the subgraphs are, and how much one request may ask of them."""

    host: str = "127.0.0.1"
    port: int = Field(default=4000, validation_alias="SUISHIN_GATEWAY_PORT")
    plans_url: str = "http://127.0.0.1:4001/graphql"
    indicators_url: str = "http://127.0.0.1:4002/graphql"
    notifications_url: str = "http://127.0.0.1:4003/graphql"

    # Protection of the public endpoint (the query limits are PlatformSettings', shared).
    request_timeout: float = Field(default=15.0, description="Seconds one HTTP request may take.")
    subgraph_timeout: float = Field(default=10.0, description="Seconds one subgraph call may take.")
    subgraph_max_connections: int = Field(
        default=50, description="Pooled connections per subgraph."
    )
    graphiql: bool | None = Field(
        default=None, description="Serve GraphiQL; default: on unless environment=production."
    )
    max_subscriptions_per_connection: int = 20

    # Live events: every replica reads every partition itself (no consumer group).
    live_enabled: bool = Field(default=True, description="Feed subscriptions from Kafka.")
    live_queue_size: int = Field(default=256, description="Events buffered per subscriber.")
    instance_id: str = Field(default_factory=lambda: secrets.token_hex(4))

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    def subgraph_urls(self) -> dict[str, str]:
        return {
            "plans": self.plans_url,
            "indicators": self.indicators_url,
            "notifications": self.notifications_url,
        }
