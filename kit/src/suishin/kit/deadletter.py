"""Dead-letter publishing: what a consumer cannot apply goes aside, with the reason.

The body is kept unchanged up to :data:`MAX_DEAD_LETTER_BODY` bytes; a bigger one is cut there
(``x-dlq-truncated: true``), so the dead-letter publish itself can never be refused as too large.
``x-dlq-original-size`` and the source partition and offset tell where the whole record is.
"""

import logging
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from suishin.contracts.topics import dead_letter_topic
from suishin.kit.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_BODY = 64 * 1024


async def send_to_dead_letter(
    broker: KafkaBroker,
    *,
    topic: str,
    body: bytes | None,
    key: bytes | None,
    consumer: str,
    reason: str,
    detail: str,
    partition: int | None = None,
    offset: int | None = None,
    traceparent: str | None = None,
) -> None:
    """Publish ``body`` (cut at :data:`MAX_DEAD_LETTER_BODY`) to ``<topic>.dlq`` with the
    failure in the headers (and the record's ``traceparent``, so the trace leads to it)."""
    body = body or b""
    headers = {
        "x-dlq-reason": reason,
        "x-dlq-detail": detail[:1000],
        "x-dlq-source-topic": topic,
        "x-dlq-consumer": consumer,
        "x-dlq-failed-at": datetime.now(UTC).isoformat(),
    }
    headers["x-dlq-original-size"] = str(len(body))
    headers["x-dlq-truncated"] = "true" if len(body) > MAX_DEAD_LETTER_BODY else "false"
    body = body[:MAX_DEAD_LETTER_BODY]
    if partition is not None:
        headers["x-dlq-source-partition"] = str(partition)
    if offset is not None:
        headers["x-dlq-source-offset"] = str(offset)
    if traceparent:
        headers["traceparent"] = traceparent
    log.warning(
        "dead-lettered a message",
        extra={
            "topic": topic,
            "consumer": consumer,
            "reason": reason,
            "detail": detail[:300],
            "partition": partition,
            "offset": offset,
        },
    )
    await broker.publish(body, dead_letter_topic(topic), key=key, headers=headers)
    DEAD_LETTERS.labels(topic, consumer, reason).inc()
