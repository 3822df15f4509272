"""Configuration from the environment (prefix ``SUISHIN_``).

The same code runs on the embedded stack and on real Kafka and PostgreSQL; only
``SUISHIN_DATABASE_URL`` and ``SUISHIN_KAFKA_BOOTSTRAP`` change.
"""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:54329/suishin"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:19092"
DEV_JWT_SECRET = "suishin-dev-secret-change-me-in-production-0123456789"


class PlatformSettings(BaseSettings):
    """Settings shared by every process of the platform."""

    model_config = SettingsConfigDict(env_prefix="SUISHIN_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    data_dir: Path = Path(".suishin")
    topic_prefix: str = Field(default="", description="Prepended to every topic (test isolation).")
    schema_prefix: str = Field(default="", description="Prepended to every DB schema (tests).")
    log_level: str = "INFO"
    log_json: bool = True
    # Auth: a shared HS256 secret for the embedded dev issuer, or a JWKS URL in production.
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "suishin-dev"
    jwt_audience: str = "suishin"
    environment: str = Field(default="development", description="development | production")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def schema_name(self, name: str) -> str:
        return f"{self.schema_prefix}{name}"


class ServiceSettings(PlatformSettings):
    """Settings of one service process (HTTP port, consumer tuning, outbox relay)."""

    host: str = "127.0.0.1"
    port: int = 0
    pool_min_size: int = 1
    pool_max_size: int = 10
    relay_batch_size: int = 500
    relay_poll_interval: float = 0.5
    outbox_retention_days: int = 7
    consumer_max_records: int = 1000
    consumer_batch_timeout_ms: int = 50
    handler_max_retries: int = 5
    broker_watch_interval: float = Field(
        default=2.0, description="Seconds between checks for a broker that lost its log."
    )
