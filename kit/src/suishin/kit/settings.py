"""Configuration from the environment (prefix ``SUISHIN_``).

The same code runs on the embedded stack and on real Kafka and PostgreSQL; only
``SUISHIN_DATABASE_URL`` and ``SUISHIN_KAFKA_BOOTSTRAP`` change.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from suishin.contracts.topics import DEFAULT_PARTITIONS
from suishin.kit.fetchwait import IDLE_MS, QUICK_MS

DEFAULT_PG_PORT = 54329
DEFAULT_BROKER_PORT = 19092
DEFAULT_DATABASE_URL = f"postgresql://postgres@127.0.0.1:{DEFAULT_PG_PORT}/suishin"
DEFAULT_KAFKA_BOOTSTRAP = f"127.0.0.1:{DEFAULT_BROKER_PORT}"
DEV_JWT_SECRET = "suishin-dev-secret-change-me-in-production-0123456789"
DEV_INTERNAL_KEY = "suishin-dev-internal-key-change-me-in-production-0123"


class InsecureConfiguration(RuntimeError):
    """Production settings that would let anyone in (published dev secrets, no verifier)."""


class TopicSettings(BaseSettings):
    """How the platform creates its topics when they are missing (kit.broker.ensure_topics);
    existing topics keep their settings. Defaults fit the one-node embedded broker; a production
    cluster of three brokers uses replication factor 3 and min.insync.replicas 2."""

    model_config = SettingsConfigDict(env_prefix="SUISHIN_", extra="ignore")

    topic_partitions: int = Field(
        default=DEFAULT_PARTITIONS, ge=1, description="Partitions of every topic."
    )
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas of every topic.")
    topic_min_insync_replicas: int = Field(
        default=1, ge=1, description="min.insync.replicas: replicas that must have a write."
    )
    topic_retention_ms: int = Field(
        default=604_800_000, ge=-1, description="retention.ms of event topics (-1: forever)."
    )
    dlq_retention_ms: int = Field(
        default=2_592_000_000, ge=-1, description="retention.ms of the .dlq topics (-1: forever)."
    )

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> "TopicSettings":
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                "SUISHIN_TOPIC_MIN_INSYNC_REPLICAS must not exceed "
                "SUISHIN_TOPIC_REPLICATION_FACTOR (every write with acks=all would fail)"
            )
        return self


class PlatformSettings(TopicSettings):
    """Settings shared by every process of the platform."""

    model_config = SettingsConfigDict(env_prefix="SUISHIN_", extra="ignore")

    # Unset: the embedded PostgreSQL and broker of this instance, on ``pg_port`` / ``broker_port``.
    database_url: str = ""
    kafka_bootstrap: str = ""
    pg_port: int = DEFAULT_PG_PORT
    broker_port: int = DEFAULT_BROKER_PORT
    data_dir: Path = Path(".suishin")
    topic_prefix: str = Field(default="", description="Prepended to every topic (test isolation).")
    schema_prefix: str = Field(default="", description="Prepended to every DB schema (tests).")
    log_level: str = "INFO"
    log_json: bool = True
    # Auth: a shared HS256 secret for the embedded dev issuer, or a JWKS URL in production.
    # Kafka client authentication (real Kafka with ACLs: one principal per service, see
    # infra/README.md). Unset: no authentication (embedded broker, local Kafka).
    kafka_sasl_mechanism: str | None = Field(
        default=None, description="SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN"
    )
    kafka_username: str | None = None
    kafka_password: str | None = None
    kafka_tls: bool = Field(default=False, description="TLS to the brokers.")
    kafka_ca_file: str | None = Field(default=None, description="CA bundle for the brokers' TLS.")
    kafka_acks: Literal["all", "1", "0"] = Field(
        default="all", description="Producer acks: all (wait for min.insync.replicas) | 1 | 0."
    )
    kafka_linger_ms: int = Field(
        default=0,
        ge=0,
        description="How long the process's producer (its outbox relay) waits to fill a "
        "batch (ms). 0: each hop of a live alert publishes at once; a relay pass already "
        "sends its claimed rows together.",
    )
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "suishin-dev"
    jwt_audience: str = "suishin"
    environment: str = Field(default="development", description="development | production")
    # Between the platform's own processes: signs internal events (``x-suishin-signature``) and
    # marks the gateway's calls to the subgraphs (``x-suishin-internal``).
    internal_key: str = Field(
        default=DEV_INTERNAL_KEY,
        description="Platform-internal HMAC key (private in prod).",
    )

    consumer_idle_fetch_wait_ms: int = Field(
        default=IDLE_MS,
        description="Fetch wait of a consumer (the services' and the gateway's live hub) whose "
        "topic has been quiet (kit.fetchwait).",
    )
    consumer_quick_fetch_wait_ms: int = Field(
        default=QUICK_MS,
        description="Fetch wait of a consumer while records flow (kit.fetchwait).",
    )

    # Limits of every GraphQL endpoint (gateway and subgraphs; see kit.limits).
    max_query_depth: int = Field(default=12, description="Deepest selection nesting accepted.")
    max_query_tokens: int = Field(default=4000, description="Most lexer tokens in one document.")
    max_aliases: int = Field(default=30, description="Most aliases in one document.")
    max_query_cost: int = Field(
        default=200_000, description="Most fields one operation may resolve (lists × nesting)."
    )
    default_list_size: int = Field(
        default=10, description="Items assumed for a list without first/limit (cost estimate)."
    )
    max_body_bytes: int = Field(default=1_048_576, description="Largest HTTP request body.")
    max_variables_bytes: int = Field(default=262_144, description="Largest variables (JSON).")
    max_string_length: int = Field(
        default=20_000, description="Longest string argument (characters)."
    )
    introspection: bool | None = Field(
        default=None, description="Allow introspection; default: on unless environment=production."
    )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    def check_production(self) -> None:
        """Refuse to run in production with a published dev secret or nothing to verify tokens
        with. Called by the gateway and every service before they start."""
        if not self.is_production:
            return
        problems = []
        if not self.jwt_jwks_url and (not self.jwt_secret or self.jwt_secret == DEV_JWT_SECRET):
            problems.append(
                "set SUISHIN_JWT_JWKS_URL (identity provider) or a non-dev SUISHIN_JWT_SECRET: "
                "the dev secret is published and would let anyone sign an admin token"
            )
        if not self.internal_key or self.internal_key == DEV_INTERNAL_KEY:
            problems.append(
                "set SUISHIN_INTERNAL_KEY to a private value: the dev key is published and would "
                "let anyone forge internal events or call the subgraphs as the gateway"
            )
        if problems:
            raise InsecureConfiguration(
                "refusing to start with SUISHIN_ENVIRONMENT=production: " + "; ".join(problems)
            )

    @model_validator(mode="after")
    def _embedded_defaults(self) -> "PlatformSettings":
        if not self.database_url:
            self.database_url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/suishin"
        if not self.kafka_bootstrap:
            self.kafka_bootstrap = f"127.0.0.1:{self.broker_port}"
        return self

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
    consumer_batch_timeout_ms: int = Field(
        default=1000,
        description="Longest a poll of a consumer's buffer waits when empty (it returns as soon "
        "as records arrive; kit.consumer.subscribe).",
    )
    consumer_heartbeat_ms: int = Field(
        default=3000,
        description="Consumer-group heartbeat interval; the session timeout is the larger of "
        "10 s and three heartbeats.",
    )
    handler_max_retries: int = 5
    consumer_stall_seconds: float = Field(
        default=30.0, description="Records waiting and no progress this long: not ready."
    )
    broker_watch_interval: float = Field(
        default=2.0, description="Seconds between checks for a broker that lost its log."
    )
