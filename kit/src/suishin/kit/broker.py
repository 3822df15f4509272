"""FastStream Kafka broker factory, topic administration and a publisher for the outbox."""

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from suishin.contracts import topics as t
from suishin.kit.settings import PlatformSettings

log = logging.getLogger(__name__)


def make_broker(settings: PlatformSettings, *, client_id: str = "suishin") -> KafkaBroker:
    """A broker that works on tansu (no idempotent producer) and on real Kafka alike."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=client_id,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        logger=logging.getLogger(f"suishin.{client_id}.broker"),
        log_level=logging.DEBUG,
    )


def platform_topics(settings: PlatformSettings) -> list[str]:
    names = list(t.ALL_TOPICS) + [t.dead_letter_topic(n) for n in t.ALL_TOPICS]
    return [settings.topic(n) for n in names]


async def ensure_topics(
    bootstrap: str, names: Iterable[str], *, partitions: int = t.DEFAULT_PARTITIONS
) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="suishin-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


class BrokerPublisher:
    """Publishes records through a FastStream broker and waits until all are acknowledged."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def __call__(self, records: Sequence[tuple[str, bytes, bytes, dict[str, str]]]) -> None:
        futures = [
            await self._broker.publish(
                body,
                topic,
                key=key,
                headers={"content-type": "application/json", **headers},
                no_confirm=True,
            )
            for topic, key, body, headers in records
        ]
        await asyncio.gather(*futures)
