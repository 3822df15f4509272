"""Dead-letter publishing: what a consumer cannot apply goes aside, with the reason."""

import logging
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from suishin.contracts.topics import dead_letter_topic

log = logging.getLogger(__name__)


async def send_to_dead_letter(
    broker: KafkaBroker,
    *,
    topic: str,
    body: bytes,
    key: bytes | None,
    consumer: str,
    reason: str,
    detail: str,
    partition: int | None = None,
    offset: int | None = None,
) -> None:
    """Publish ``body`` unchanged to ``<topic>.dlq`` with the failure in the headers."""
    headers = {
        "x-dlq-reason": reason,
        "x-dlq-detail": detail[:1000],
        "x-dlq-source-topic": topic,
        "x-dlq-consumer": consumer,
        "x-dlq-failed-at": datetime.now(UTC).isoformat(),
    }
    if partition is not None:
        headers["x-dlq-source-partition"] = str(partition)
    if offset is not None:
        headers["x-dlq-source-offset"] = str(offset)
    log.warning(
        "dead-lettered a message",
        extra={"topic": topic, "consumer": consumer, "reason": reason, "detail": detail[:300]},
    )
    await broker.publish(body, dead_letter_topic(topic), key=key, headers=headers)
