"""Proof that a message comes from the platform itself, not from whoever reaches the broker.

Services sign every event they publish (HMAC-SHA256 of the body with ``SUISHIN_INTERNAL_KEY``,
header ``x-suishin-signature``, added by the outbox relay's publisher). Consumers of internal
topics verify it and dead-letter an unsigned or forged event with reason
``unauthenticated_producer``; ``indicator.reported`` stays open to external producers (it is
validated and authorised per indicator instead). On real Kafka, ACLs keep the internal topics
writable by the services' principals only (see infra/README.md); the signature also protects the
embedded broker, which has no ACLs.

The gateway's calls to the subgraphs carry ``x-suishin-internal``, a value derived from the
same key, so that in production a subgraph answers the gateway only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from suishin.contracts import topics

SIGNATURE_HEADER = "x-suishin-signature"
INTERNAL_CALLER_HEADER = "x-suishin-internal"

# Topics only the platform's services write (every catalogue topic but the external reports).
EXTERNAL_TOPICS = frozenset({topics.INDICATOR_REPORTED})


def sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify(key: str, body: bytes | None, signature: str | bytes | None) -> bool:
    if body is None or not signature:
        return False
    if isinstance(signature, bytes):
        try:
            signature = signature.decode("ascii")
        except UnicodeDecodeError:
            return False
    return hmac.compare_digest(sign(key, body), signature)


def header_value(headers: Iterable[tuple[str, bytes]] | None, name: str) -> bytes | None:
    """The value of header ``name`` in a Kafka record's headers (the first one)."""
    for key, value in headers or ():
        if key == name:
            return value
    return None


def record_is_signed(key: str, body: bytes | None, headers: Iterable[tuple[str, bytes]]) -> bool:
    """Whether a consumed record carries a valid platform signature."""
    return verify(key, body, header_value(headers, SIGNATURE_HEADER))


def needs_signature(topic: str, prefix: str = "") -> bool:
    """Whether events on ``topic`` (possibly prefixed) must be signed by a service."""
    name = topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic
    return name not in EXTERNAL_TOPICS and not name.endswith(".dlq")


def internal_caller_token(key: str) -> str:
    """The ``x-suishin-internal`` value the gateway sends (derived: the key itself never leaves)."""
    return hmac.new(key.encode(), b"suishin-gateway-caller", hashlib.sha256).hexdigest()


def is_internal_caller(key: str, value: str | None) -> bool:
    return bool(value) and hmac.compare_digest(internal_caller_token(key), value or "")
