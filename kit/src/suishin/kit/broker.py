"""FastStream Kafka broker factory, topic administration and a publisher for the outbox."""

import asyncio
import logging
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from suishin.contracts import topics as t
from suishin.kit.settings import PlatformSettings, TopicSettings
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
        acks=producer_acks(settings),
        # SUISHIN_KAFKA_LINGER_MS, 0 by default (docs/benchmarks.md, issue 16 fifth round)
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=256 * 1024,
        # The one subscriber (kit.consumer.subscribe) takes the batch's raw records as its
        # body. With FastDepends on, FastStream would resolve the handler's arguments for every
        # batch, a synchronous context lookup among them in a worker thread: a thread hop per
        # batch on the consumers' hot path (issue 16, sixth round).
        apply_types=False,
        logger=logging.getLogger(f"suishin.{client_id}.broker"),
        log_level=logging.DEBUG,
    )


def producer_acks(settings: PlatformSettings) -> int | str:
    """``SUISHIN_KAFKA_ACKS`` as aiokafka takes it ("all", 1 or 0)."""
    return "all" if settings.kafka_acks == "all" else int(settings.kafka_acks)


def platform_topics(settings: PlatformSettings) -> list[str]:
    names = list(t.ALL_TOPICS) + [t.dead_letter_topic(n) for n in t.ALL_TOPICS]
    return [settings.topic(n) for n in names]


def is_state_topic(name: str) -> bool:
    """A platform-internal topic (``_suishin.*``, possibly prefixed: kit.brokerwatch's epoch)
    holds state rather than events."""
    return name.startswith("_") or "._" in name


def topic_configs(settings: TopicSettings, name: str) -> dict[str, str]:
    """The topic-level configuration a new topic ``name`` gets: dead-letter topics keep their
    records longer (``SUISHIN_DLQ_RETENTION_MS``) than event topics, and state topics forever
    (retention must never delete the broker epoch, or every service would take the broker for
    a new one and replay its outbox)."""
    if is_state_topic(name):
        retention = -1
    elif name.endswith(t.DEAD_LETTER_SUFFIX):
        retention = settings.dlq_retention_ms
    else:
        retention = settings.topic_retention_ms
    return {
        "min.insync.replicas": str(settings.topic_min_insync_replicas),
        "retention.ms": str(retention),
    }


def new_topic(settings: TopicSettings, name: str, *, partitions: int | None = None) -> NewTopic:
    """What :func:`ensure_topics` asks the cluster to create for ``name``."""
    return NewTopic(
        name,
        num_partitions=partitions or settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
        topic_configs=topic_configs(settings, name),
    )


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int | None = None,
    client_options: dict[str, Any] | None = None,
    settings: TopicSettings | None = None,
) -> None:
    """Create missing topics; existing ones are left as they are. ``client_options``:
    :func:`kafka_client_options` of the caller's settings (authentication). Partitions,
    replication factor, ``min.insync.replicas`` and retention come from ``settings``, by default
    the process's ``SUISHIN_TOPIC_*`` / ``SUISHIN_DLQ_*`` environment; ``partitions`` overrides
    the partition count."""
    settings = settings if settings is not None else TopicSettings()
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="suishin-admin", **(client_options or {})
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                response = await admin.create_topics(
                    [new_topic(settings, n, partitions=partitions) for n in missing]
                )
            except TopicAlreadyExistsError:
                return
            for name, code, *rest in response.topic_errors:
                error = for_code(code)
                # Another process may have created it meanwhile; anything else is a setting the
                # cluster refuses (e.g. more replicas than brokers) and must not pass unseen.
                if code and error is not TopicAlreadyExistsError:
                    message = rest[0] if rest else None
                    raise error(f"creating topic {name}: {message or error.__name__}")
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
