"""The process runtime of one service: pool, migrations, broker, outbox relay, HTTP endpoints.

A service builds a :class:`ServiceRuntime`, registers its consumers and background jobs, and
serves :meth:`ServiceRuntime.http_app` with uvicorn: ``/graphql`` (its subgraph), ``/healthz``
(alive), ``/readyz`` (database and broker reachable, no consumer stalled) and ``/metrics``
(Prometheus text, or OpenMetrics when asked; see kit.metrics), behind the platform's HTTP
middleware (kit.http: tracing, correlation id, latency, compression).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import asyncpg
import strawberry
from prometheus_client.core import Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from suishin.contracts.events import Payload
from suishin.kit import http, tracing
from suishin.kit import metrics as m
from suishin.kit.broker import (
    BrokerPublisher,
    ensure_topics,
    kafka_client_options,
    make_broker,
    platform_topics,
)
from suishin.kit.brokerwatch import EPOCH_TOPIC, BrokerWatch, EpochReader
from suishin.kit.consumer import (
    BatchConsumer,
    ConsumerGroup,
    Handler,
    committed_offsets,
    subscribe,
)
from suishin.kit.graphql import ServiceGraphQL
from suishin.kit.logging import configure_logging
from suishin.kit.migrations import open_migrated_pool
from suishin.kit.outbox import OutboxRelay
from suishin.kit.server import run_server
from suishin.kit.settings import ServiceSettings
from suishin.kit.signing import needs_signature, record_is_signed
from suishin.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        migrations: Path | Traversable | None,
        schema_name: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.schema = settings.schema_name(schema_name or name)
        self.migrations = migrations
        self.broker = make_broker(settings, client_id=name)
        self.group = ConsumerGroup(
            {},
            group_id=self.group_id,
            offsets=committed_offsets(settings.kafka_bootstrap, kafka_client_options(settings)),
        )
        self._background: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self.brokerwatch: BrokerWatch | None = None
        self.started = False
        self._figures: dict[str, Any] = {}  # read at scrape time (refresh_metrics)
        tracing.configure_tracing(name)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    @property
    def consumers(self) -> list[BatchConsumer[Any]]:
        """The service's consumers, in the order they were added (one per topic)."""
        return list(self.group.consumers.values())

    @property
    def group_id(self) -> str:
        """The consumer group of all this service's consumers (kit.consumer.ConsumerGroup).
        Named under the ``<service>.`` prefix the Kafka ACLs grant the service (and KEDA),
        like the per-topic groups before it."""
        return f"{self.settings.topic_prefix}{self.name}.consumers"

    def previous_group_id(self, topic: str) -> str:
        """The group that consumed ``topic`` before issue 16 (one group per topic); its
        committed offsets are carried over to :attr:`group_id`."""
        return f"{self.settings.topic_prefix}{self.name}.{topic}"

    def add_consumer(
        self,
        topic: str,
        payload_type: type[Payload],
        handler: Handler[Any],
        *,
        consumer_name: str | None = None,
    ) -> BatchConsumer[Any]:
        """Consume ``topic`` (an unprefixed contracts name) in batches; see kit.consumer. The
        service's consumers share one Kafka consumer and group, subscribed when it starts."""
        if self.group.subscriber is not None:
            raise RuntimeError("consumers are added before the service starts")
        consumer: BatchConsumer[Any] = BatchConsumer(
            name=consumer_name or f"{self.name}:{topic}",
            broker=self.broker,
            payload_type=payload_type,
            handler=handler,
            max_retries=self.settings.handler_max_retries,
            stall_after=self.settings.consumer_stall_seconds,
            authentic=self._authentic if needs_signature(topic) else None,
            service=self.name,
            topic=self.topic(topic),
        )
        self.group.consumers[self.topic(topic)] = consumer
        self.group.previous[self.topic(topic)] = self.previous_group_id(topic)
        return consumer

    def _subscribe(self) -> None:
        """One FastStream subscriber for all the consumers (before the broker starts)."""
        if not self.group.consumers or self.group.subscriber is not None:
            return
        subscribe(
            self.broker,
            self.group,
            max_records=self.settings.consumer_max_records,
            batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
            heartbeat_interval_ms=self.settings.consumer_heartbeat_ms,
            idle_fetch_wait_ms=self.settings.consumer_idle_fetch_wait_ms,
            quick_fetch_wait_ms=self.settings.consumer_quick_fetch_wait_ms,
        )

    def _authentic(self, record: Any) -> bool:
        return record_is_signed(self.settings.internal_key, record.value, record.headers)

    def add_background(self, job: Callable[[], Awaitable[None]]) -> None:
        """A coroutine run for the life of the process (scheduled checks, digests, ...)."""
        self._background.append(job)

    async def start(self) -> None:
        self.settings.check_production()
        self._pool = await open_migrated_pool(
            self.settings.database_url,
            self.schema,
            self.migrations,
            min_size=self.settings.pool_min_size,
            max_size=self.settings.pool_max_size,
        )
        await self._ensure_topics()
        self._subscribe()
        await self.broker.start()
        self.relay = OutboxRelay(
            self._pool,
            self.schema,
            BrokerPublisher(self.broker, signing_key=self.settings.internal_key),
            batch_size=self.settings.relay_batch_size,
            poll_interval=self.settings.relay_poll_interval,
            retention=timedelta(days=self.settings.outbox_retention_days),
            listen_dsn=self.settings.database_url,
            topic_prefix=self.settings.topic_prefix,
            on_failure=self._ensure_topics,
        )
        await self._start_brokerwatch()
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        self._tasks.append(asyncio.create_task(self._pace_fetches(), name=f"{self.name}-fetch"))
        for job in self._background:
            self._tasks.append(asyncio.create_task(_forever(job), name=f"{self.name}-job"))
        self.started = True
        log.info("service started", extra={"service": self.name, "schema": self.schema})

    async def _pace_fetches(self) -> None:
        """Once a second: once the consumers' topics went quiet, the long fetch wait."""
        while True:
            self.group.fetch_wait.tick()
            await asyncio.sleep(1.0)

    async def _ensure_topics(self) -> None:
        await ensure_topics(
            self.settings.kafka_bootstrap,
            platform_topics(self.settings),
            client_options=kafka_client_options(self.settings),
        )

    async def _start_brokerwatch(self) -> None:
        """Notice a broker that lost its log (at start: since this service last ran) and recover:
        topics, consumer positions, outbox republished. See kit.brokerwatch."""
        relay = self.relay
        self.brokerwatch = BrokerWatch(
            pool=self.pool,
            reader=EpochReader(
                self.settings.kafka_bootstrap,
                self.topic(EPOCH_TOPIC),
                client_id=f"{self.name}-brokerwatch",
                client_options=kafka_client_options(self.settings),
            ),
            consumers=lambda: [
                c for s in self.broker.subscribers if (c := getattr(s, "consumer", None))
            ],
            ensure=self._ensure_topics,
            on_replay=relay.look if relay is not None else lambda: None,
            interval=self.settings.broker_watch_interval,
            name=self.name,
        )
        try:  # before the relay publishes anything to this broker
            async with asyncio.timeout(15):
                await self.brokerwatch.check()
        except Exception as exc:
            log.warning("broker epoch not checked at start", extra={"error": repr(exc)})
        self._tasks.append(
            asyncio.create_task(self.brokerwatch.run(), name=f"{self.name}-brokerwatch")
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self.group.close()
        if self.brokerwatch is not None:
            await self.brokerwatch.close()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.started = False

    async def ready(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            checks["database"] = await self.pool.fetchval("select 1") == 1
        except Exception as exc:
            checks["database"] = repr(exc)
        try:
            checks["broker"] = bool(await self.broker.ping(timeout=2.0))
        except Exception as exc:
            checks["broker"] = repr(exc)
        # stalled: records wait and nothing moves (see kit.consumer); asked all at once, as
        # each consumer's broker requests may queue behind its long poll (kit.fetchwait)
        healths = await asyncio.gather(*(c.health() for c in self.consumers))
        for c, health in zip(self.consumers, healths, strict=True):
            checks[f"consumer {c.name}"] = (
                True
                if health["stalled"] is None
                else f"stalled ({health['stalled']}) with {health['lag']} records waiting"
            )
        return checks

    async def refresh_metrics(self) -> None:
        """Read what a scrape reports but no counter holds: consumer lag and progress, the
        outbox's pending rows and the age of the oldest."""
        figures: dict[str, Any] = {"consumers": {}}
        healths = await asyncio.gather(*(c.health() for c in self.consumers))
        for c, health in zip(self.consumers, healths, strict=True):
            figures["consumers"][c.name] = health
        if self.relay is not None:
            with contextlib.suppress(Exception):
                row = await self.pool.fetchrow(
                    """select count(*) as pending,
                              coalesce(extract(epoch from now() - min(created_at)), 0) as age
                       from outbox where published_at is null"""
                )
                if row is not None:
                    figures["outbox"] = (int(row["pending"]), float(row["age"]))
        self._figures = figures

    def metric_families(self) -> Iterator[Metric]:
        """This runtime's figures, added to the process registry's on its /metrics."""
        service = {"service": self.name}
        if self.relay is not None:
            yield m.counter(
                "suishin_outbox_published",
                "Outbox rows published to Kafka",
                service,
                self.relay.published_total,
            )
        if self.brokerwatch is not None:
            yield m.counter(
                "suishin_broker_losses_recovered",
                "Broker losses detected and recovered from (kit.brokerwatch)",
                service,
                self.brokerwatch.losses,
            )
        if "outbox" in self._figures:
            pending, age = self._figures["outbox"]
            yield m.gauge(
                "suishin_outbox_pending", "Outbox rows not yet published", service, pending
            )
            yield m.gauge(
                "suishin_outbox_oldest_age_seconds",
                "Age of the oldest unpublished outbox row (0 when none)",
                service,
                age,
            )
        health_of = self._figures.get("consumers", {})
        for c in self.consumers:
            labels = {"service": self.name, "consumer": c.name}
            yield m.counter(
                "suishin_consumer_processed", "Records handled by a consumer", labels, c.processed
            )
            yield m.counter(
                "suishin_consumer_dead_lettered",
                "Records a consumer sent to a dead-letter topic",
                labels,
                c.dead_lettered,
            )
            health = health_of.get(c.name)
            if health is None:
                continue
            if health["lag"] is not None:
                yield m.gauge(
                    "suishin_consumer_lag",
                    "Records waiting in the consumer's partitions (end minus committed offsets)",
                    labels,
                    health["lag"],
                )
            yield m.gauge(
                "suishin_consumer_seconds_since_progress",
                "Seconds since the consumer last applied a batch (or had nothing waiting)",
                labels,
                health["seconds_since_progress"],
            )
            yield m.gauge(
                "suishin_consumer_stalled",
                "1 when records wait and the consumer makes no progress (see /readyz)",
                labels,
                int(bool(health["stalled"])),
            )

    async def metrics(self, accept: str | None = None) -> str:
        """What ``/metrics`` serves (OpenMetrics when ``accept`` asks for it)."""
        body, _ = await m.exposition(accept, self)
        return body.decode()

    def http_app(
        self, graphql_schema: strawberry.Schema | None, *, extra_routes: list[Any] | None = None
    ) -> Starlette:
        async def healthz(_: Request) -> Response:
            return JSONResponse({"status": "ok", "service": self.name})

        async def readyz(_: Request) -> Response:
            if not self.started:
                return JSONResponse({"status": "starting"}, status_code=503)
            checks = await self.ready()
            ok = all(v is True for v in checks.values())
            problems = [f"{k}: {v}" for k, v in checks.items() if v is not True]
            return JSONResponse(
                {"status": "ready" if ok else "degraded", "problems": problems, "checks": checks},
                status_code=200 if ok else 503,
            )

        async def metrics(request: Request) -> Response:
            body, content_type = await m.exposition(request.headers.get("accept"), self)
            return Response(body, media_type=content_type)

        routes: list[Any] = [
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *(extra_routes or []),
        ]
        if graphql_schema is not None:
            graphql_app = ServiceGraphQL(graphql_schema, self)
            routes.append(Route("/graphql", graphql_app, methods=["GET", "POST"]))
            routes.append(WebSocketRoute("/graphql", graphql_app))

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = Starlette(routes=routes, lifespan=lifespan)
        return http.instrument(app, self.name, [r.path for r in routes])


async def _forever(job: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job failed; restarting in 1s")
            await asyncio.sleep(1)


def serve(runtime: ServiceRuntime, app: Starlette) -> None:
    """Run the service until SIGINT/SIGTERM (used by ``python -m suishin.<service>``)."""
    configure_logging(
        runtime.name, runtime.settings.log_level, json_lines=runtime.settings.log_json
    )
    run_server(app, host=runtime.settings.host, port=runtime.settings.port)


__all__ = ["ServiceRuntime", "serve"]
