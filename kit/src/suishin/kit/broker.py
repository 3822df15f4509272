"""FastStream Kafka broker factory, topic administration and a publisher for the outbox."""

import asyncio
import logging
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from suishin.contracts import topics as t
from suishin.kit.settings import PlatformSettings
from suishin.kit.signing import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)


_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def kafka_security(settings: PlatformSettings) -> BaseSecurity | None:
    """How this process authenticates to Kafka: its own principal (SASL user) and TLS."""
    context = None
    if settings.kafka_tls:
        context = ssl.create_default_context(cafile=settings.kafka_ca_file)
    if settings.kafka_sasl_mechanism:
        mechanism = _SASL.get(settings.kafka_sasl_mechanism.upper())
        if mechanism is None:
            raise ValueError(f"unsupported SUISHIN_KAFKA_SASL_MECHANISM {mechanism!r}")
        if not settings.kafka_username or settings.kafka_password is None:
            raise ValueError("SUISHIN_KAFKA_USERNAME and SUISHIN_KAFKA_PASSWORD are required")
        return mechanism(settings.kafka_username, settings.kafka_password, ssl_context=context)
    return BaseSecurity(ssl_context=context) if context is not None else None


def kafka_client_options(settings: PlatformSettings) -> dict[str, Any]:
    """The same authentication as keyword arguments of aiokafka clients (admin, consumers)."""
    return parse_security(kafka_security(settings))


def make_broker(settings: PlatformSettings, *, client_id: str = "suishin") -> KafkaBroker:
    """A broker that works on tansu (no idempotent producer) and on real Kafka alike."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        security=kafka_security(settings),
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
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = t.DEFAULT_PARTITIONS,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Create missing topics; existing ones are left as they are. ``client_options``:
    :func:`kafka_client_options` of the caller's settings (authentication)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="suishin-admin", **(client_options or {})
    )
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
    """Publishes records through a FastStream broker and waits until all are acknowledged.

    With ``signing_key`` every record carries ``x-suishin-signature`` (kit.signing), which the
    consumers of internal topics require."""

    def __init__(self, broker: KafkaBroker, signing_key: str | None = None) -> None:
        self._broker = broker
        self._signing_key = signing_key

    def _headers(self, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        out = {"content-type": "application/json", **headers}
        if self._signing_key is not None:
            out[SIGNATURE_HEADER] = sign(self._signing_key, body)
        return out

    async def __call__(self, records: Sequence[tuple[str, bytes, bytes, dict[str, str]]]) -> None:
        futures = [
            await self._broker.publish(
                body,
                topic,
                key=key,
                headers=self._headers(body, headers),
                no_confirm=True,
            )
            for topic, key, body, headers in records
        ]
        await asyncio.gather(*futures)
