"""Test support shared by every service's tests: real infrastructure and condition waits.

``test_infrastructure()`` yields a PostgreSQL URL and Kafka bootstrap servers:
- the embedded PostgreSQL and tansu broker by default (fresh, on free ports),
- external ones when ``SUISHIN_DATABASE_URL`` / ``SUISHIN_KAFKA_BOOTSTRAP`` are set,
- real Apache Kafka and PostgreSQL containers when ``SUISHIN_TEST_BACKEND=testcontainers``.
Tests isolate themselves with a schema and topic prefix of their own (:func:`isolated_settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from suishin.devstack.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from suishin.kit.settings import DEV_INTERNAL_KEY
from suishin.kit.signing import SIGNATURE_HEADER, sign

S = TypeVar("S")


@dataclass(frozen=True)
class Infrastructure:
    database_url: str
    kafka_bootstrap: str
    backend: str


class DockerUnavailable(RuntimeError):
    pass


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@contextlib.contextmanager
def test_infrastructure() -> Iterator[Infrastructure]:
    backend = os.environ.get("SUISHIN_TEST_BACKEND", "embedded")
    if backend == "testcontainers":
        with _containers() as infra:
            yield infra
        return
    stack = contextlib.ExitStack()
    with stack:
        db_url = os.environ.get("SUISHIN_DATABASE_URL")
        bootstrap = os.environ.get("SUISHIN_KAFKA_BOOTSTRAP")
        if not db_url:
            tmp = Path(tempfile.mkdtemp(prefix="suishin-test-pg-"))
            pg = EmbeddedPostgres(tmp, port=free_port())
            pg.start()
            stack.callback(shutil.rmtree, tmp, True)
            stack.callback(pg.stop)
            db_url = pg.url("postgres")
        if not bootstrap:
            broker = EmbeddedBroker(port=free_port())
            broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap
        names = "external" if os.environ.get("SUISHIN_DATABASE_URL") else "embedded"
        yield Infrastructure(db_url, bootstrap, names)


@contextlib.contextmanager
def _containers() -> Iterator[Infrastructure]:
    if not docker_available():
        raise DockerUnavailable("SUISHIN_TEST_BACKEND=testcontainers but no Docker daemon answers")
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer("postgres:17-alpine", driver=None) as pg,
        KafkaContainer("apache/kafka:3.9.0").with_kraft() as kafka,
    ):
        yield Infrastructure(
            pg.get_connection_url(), kafka.get_bootstrap_server(), "testcontainers"
        )


def unique_prefix() -> str:
    return "t" + secrets.token_hex(4)


def isolated_env(infra: Infrastructure, prefix: str | None = None) -> dict[str, str]:
    """Environment for a service under test: its own schemas and topics."""
    prefix = prefix or unique_prefix()
    return {
        "SUISHIN_DATABASE_URL": infra.database_url,
        "SUISHIN_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "SUISHIN_SCHEMA_PREFIX": f"{prefix}_",
        "SUISHIN_TOPIC_PREFIX": f"{prefix}.",
        "SUISHIN_LOG_JSON": "false",
        "SUISHIN_RELAY_POLL_INTERVAL": "0.1",
    }


def isolated_settings(
    cls: type[S], infra: Infrastructure, prefix: str | None = None, **overrides: Any
) -> S:
    env = isolated_env(infra, prefix)
    values: dict[str, Any] = {
        "database_url": env["SUISHIN_DATABASE_URL"],
        "kafka_bootstrap": env["SUISHIN_KAFKA_BOOTSTRAP"],
        "schema_prefix": env["SUISHIN_SCHEMA_PREFIX"],
        "topic_prefix": env["SUISHIN_TOPIC_PREFIX"],
        "log_json": False,
    }
    if "relay_poll_interval" in getattr(cls, "model_fields", {}):
        values["relay_poll_interval"] = 0.1
    values.update(overrides)
    return cls(**values)


async def wait_until(
    predicate: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll an async predicate until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


Message = (
    tuple[bytes | None, bytes | None] | tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
)


async def produce(
    bootstrap: str,
    topic: str,
    messages: Sequence[Message],
    headers: list[tuple[str, bytes]] | None = None,
    *,
    signing_key: str | None = DEV_INTERNAL_KEY,
) -> None:
    """Publish ``(key, value)`` or ``(key, value, headers)`` records (a value may be None: a
    tombstone) as one batch, in order, and wait until all are acknowledged. Records are signed
    as a service would sign them with ``signing_key`` (the dev key of the test settings), and
    left unsigned with ``signing_key=None`` (a forger)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()

    def headers_for(m: Message) -> list[tuple[str, bytes]] | None:
        own = m[2] if len(m) == 3 else headers
        if signing_key is None or m[1] is None:
            return own
        return [*(own or []), (SIGNATURE_HEADER, sign(signing_key, m[1]).encode())]

    try:
        futures = [
            await producer.send(topic, value=m[1], key=m[0], headers=headers_for(m))
            for m in messages
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class TopicReader:
    """Reads a whole topic from the beginning without a consumer group (no join delay)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        partitions = await _partitions_for(self._consumer, self.topic)
        tps = [TopicPartition(self.topic, p) for p in partitions]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[ConsumerRecord[bytes, bytes]]:
        batch = await self._consumer.getmany(timeout_ms=100)
        for records in batch.values():
            self.records.extend(records)
        return self.records

    async def wait_for(
        self, count: int, timeout: float = 30.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        async def enough() -> bool:
            return len(await self.poll()) >= count

        await wait_until(enough, timeout=timeout, message=f"{count} records on {self.topic}")
        return self.records


async def _partitions_for(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(600):  # up to 30 s: a broker that just restarted creates topics lazily
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)
    raise AssertionError(f"topic {topic} has no partitions")


@contextlib.asynccontextmanager
async def started(runtime: Any) -> AsyncIterator[Any]:
    """Start a ServiceRuntime in-process for a test and stop it afterwards."""
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


class GraphQLWSClient:
    """A minimal graphql-transport-ws client, as a front end's subscription would connect."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, bearer: str | None) -> AsyncIterator[GraphQLWSClient]:
        from websockets.asyncio.client import connect

        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            payload = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ack["type"] == "connection_ack", ack
            yield cls(ws)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        sid = secrets.token_hex(4)
        message = {
            "id": sid,
            "type": "subscribe",
            "payload": {"query": query, "variables": variables or {}},
        }
        await self.ws.send(json.dumps(message))
        return sid

    async def next(self, timeout: float = 20.0) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] in ("next", "error", "complete"):
                return dict(message)

    async def refusal(self, sid: str) -> str:
        """Everything the server says about subscription ``sid`` until it ends it."""
        said = []
        while True:
            message = await self.next()
            if message.get("id") != sid:
                continue
            said.append(json.dumps(message, ensure_ascii=False))
            if message["type"] in ("error", "complete"):
                return "\n".join(said)
