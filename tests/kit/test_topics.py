"""Topic settings come from configuration: partitions, replication factor, min.insync.replicas,
retention (longer for dead letters) and the producer's acks."""

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import InvalidReplicationFactorError
from pydantic import ValidationError

from suishin.contracts import topics
from suishin.devstack.testing import Infrastructure, isolated_settings
from suishin.kit import broker as kit_broker
from suishin.kit.broker import ensure_topics, make_broker, platform_topics
from suishin.kit.brokerwatch import EPOCH_TOPIC
from suishin.kit.settings import PlatformSettings, TopicSettings

DAY_MS = 86_400_000


async def described(bootstrap: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Partition count and topic configuration of each topic, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        out: dict[str, dict[str, Any]] = {}
        for meta in await admin.describe_topics(names):
            out[meta["topic"]] = {"partitions": len(meta["partitions"])}
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        )
        for response in responses:
            for resource in response.resources:
                name, entries = resource[3], resource[4]
                out[name]["configs"] = {entry[0]: entry[1] for entry in entries}
        return out
    finally:
        await admin.close()


def test_defaults_fit_the_one_node_embedded_broker() -> None:
    settings = TopicSettings()
    assert settings.topic_partitions == topics.DEFAULT_PARTITIONS
    assert settings.topic_replication_factor == 1
    assert settings.topic_min_insync_replicas == 1
    assert settings.dlq_retention_ms > settings.topic_retention_ms
    assert PlatformSettings().kafka_acks == "all"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUISHIN_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("SUISHIN_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("SUISHIN_TOPIC_MIN_INSYNC_REPLICAS", "2")
    monkeypatch.setenv("SUISHIN_TOPIC_RETENTION_MS", str(3 * DAY_MS))
    monkeypatch.setenv("SUISHIN_DLQ_RETENTION_MS", "-1")
    monkeypatch.setenv("SUISHIN_KAFKA_ACKS", "1")
    settings = PlatformSettings()
    assert (settings.topic_partitions, settings.topic_replication_factor) == (12, 3)
    assert kit_broker.topic_configs(settings, "measure.evaluated") == {
        "min.insync.replicas": "2",
        "retention.ms": str(3 * DAY_MS),
    }
    assert kit_broker.topic_configs(settings, "measure.evaluated.dlq")["retention.ms"] == "-1"
    assert make_broker(settings)._connection_kwargs["acks"] == 1


def test_the_producer_linger_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """0 by default: every hop of a live alert publishes at once."""
    assert make_broker(PlatformSettings())._connection_kwargs["linger_ms"] == 0
    monkeypatch.setenv("SUISHIN_KAFKA_LINGER_MS", "2")
    assert make_broker(PlatformSettings())._connection_kwargs["linger_ms"] == 2


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ValidationError, match="MIN_INSYNC_REPLICAS"):
        TopicSettings(topic_replication_factor=1, topic_min_insync_replicas=2)
    with pytest.raises(ValidationError):
        PlatformSettings(kafka_acks="2")  # type: ignore[arg-type]


@pytest.mark.integration
async def test_missing_topics_are_created_with_the_configured_settings(
    infra: Infrastructure,
) -> None:
    settings = isolated_settings(
        PlatformSettings,
        infra,
        topic_partitions=3,
        topic_retention_ms=2 * DAY_MS,
        dlq_retention_ms=90 * DAY_MS,
    )
    names = platform_topics(settings)
    await ensure_topics(settings.kafka_bootstrap, names, settings=settings)

    event = settings.topic(topics.MEASURE_EVALUATED)
    dead_letter = settings.topic(topics.dead_letter_topic(topics.MEASURE_EVALUATED))
    assert {event, dead_letter} <= set(names)
    found = await described(settings.kafka_bootstrap, [event, dead_letter])
    assert found[event]["partitions"] == found[dead_letter]["partitions"] == 3
    assert found[event]["configs"]["retention.ms"] == str(2 * DAY_MS)
    assert found[dead_letter]["configs"]["retention.ms"] == str(90 * DAY_MS)
    assert found[event]["configs"]["min.insync.replicas"] == "1"


@pytest.mark.integration
async def test_without_settings_the_process_environment_decides(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The services call ensure_topics without settings: SUISHIN_TOPIC_* still apply."""
    monkeypatch.setenv("SUISHIN_TOPIC_PARTITIONS", "2")
    monkeypatch.setenv("SUISHIN_TOPIC_RETENTION_MS", str(5 * DAY_MS))
    name = isolated_settings(PlatformSettings, infra).topic(topics.INDICATOR_REPORTED)
    await ensure_topics(infra.kafka_bootstrap, [name])
    found = await described(infra.kafka_bootstrap, [name])
    assert found[name]["partitions"] == 2
    assert found[name]["configs"]["retention.ms"] == str(5 * DAY_MS)


@pytest.mark.integration
async def test_a_topic_the_cluster_refuses_is_an_error_not_silence(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real cluster answers CreateTopics with an error code (e.g. more replicas than brokers)
    rather than failing the request; ensure_topics raises it. The embedded broker accepts any
    replication factor, so the refusal is given by the admin client here."""
    create_topics = AIOKafkaAdminClient.create_topics

    async def refusing(self: AIOKafkaAdminClient, new_topics: list[Any], **kw: Any) -> Any:
        response = await create_topics(self, new_topics, **kw)
        response.topic_errors = [
            (nt.name, 38, "Replication factor: 3 larger than brokers: 1") for nt in new_topics
        ]
        return response

    monkeypatch.setattr(AIOKafkaAdminClient, "create_topics", refusing)
    name = isolated_settings(PlatformSettings, infra).topic(topics.INDICATOR_REPORTED)
    with pytest.raises(InvalidReplicationFactorError, match="larger than brokers"):
        await ensure_topics(infra.kafka_bootstrap, [name])


@pytest.mark.integration
async def test_the_broker_epoch_topic_is_never_emptied_by_retention(infra: Infrastructure) -> None:
    """kit.brokerwatch reads the first record of its epoch topic; were it deleted by retention,
    every service would take the broker for a new one and replay its outbox."""
    settings = isolated_settings(PlatformSettings, infra, topic_retention_ms=DAY_MS)
    epoch = settings.topic(EPOCH_TOPIC)
    assert kit_broker.is_state_topic(epoch) and kit_broker.is_state_topic(EPOCH_TOPIC)
    assert not any(kit_broker.is_state_topic(n) for n in platform_topics(settings))
    await ensure_topics(settings.kafka_bootstrap, [epoch], partitions=1, settings=settings)
    found = await described(settings.kafka_bootstrap, [epoch])
    assert found[epoch]["partitions"] == 1
    assert found[epoch]["configs"]["retention.ms"] == "-1"
