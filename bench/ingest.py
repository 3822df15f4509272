"""Ingest benchmark: ``indicator.reported`` events through the real broker into the indicators
service, until every report is stored, evaluated and its status changes are published.

    uv run python bench/ingest.py --events 20000 [--indicators 300] [--rate 0]

Starts the embedded PostgreSQL and broker on free ports (or uses SUISHIN_DATABASE_URL /
SUISHIN_KAFKA_BOOTSTRAP), runs the indicators runtime in this process (batch consumer, outbox
relay), defines ``--indicators`` monthly indicators, then publishes ``--events`` reports with
aiokafka — as fast as possible (``--rate 0``, a burst) or at a steady rate (events/s).

Prints:
- publish rate, and sustained ingest: events / (last stored - first published), plus the
  consumer's own rate between its first and last stored report;
- the time until every report is evaluated (stored with its statuses re-computed, same
  transaction) and the outbox is drained (every status change published);
- latency per event from publish (the event's ``occurred_at``) to stored-and-evaluated (the
  measurement's ``received_at``, taken inside the batch transaction): p50 / p99 / max. In a
  burst this includes the time an event waits behind the backlog; use ``--rate`` for latency
  at a steady load;
- peak RSS of this process (runtime + producer; PostgreSQL and the broker are separate
  processes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from suishin.contracts import ids, topics
from suishin.contracts.enums import Comparator
from suishin.contracts.events import IndicatorReported, new_event
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.indicators.app import build
from suishin.indicators.commands import apply_definitions
from suishin.indicators.domain.definitions import IndicatorDefinition, LinkInput, TargetInput
from suishin.indicators.domain.model import Cadence, Granularity
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.clock import FixedClock

TENANT = "benchku"
CLOCK = datetime(2025, 1, 20, tzinfo=UTC)  # FY2024 running; months April-December reportable
MONTHS = [f"2024-{m:02d}" for m in range(4, 13)]


def definitions(n: int) -> list[IndicatorDefinition]:
    return [
        IndicatorDefinition(
            tenant=TENANT,
            key=f"bench.i{i:04d}",
            title=f"ベンチマーク指標{i}",
            period_start_fy=2024,
            period_end_fy=2025,
            unit="件",
            granularity=Granularity.MONTH,
            cadence=Cadence.MONTHLY,
            owner_departments=(f"課{i % 20}",),
            links=(LinkInput(node_id=ids.node_id(TENANT, "bench", str(i % 50))),),
            targets=(
                TargetInput(2024, value=Decimal(1200), comparator=Comparator.AT_LEAST),
                TargetInput(2025, value=Decimal(1500), comparator=Comparator.AT_LEAST),
            ),
            origin="graphql",
        )
        for i in range(n)
    ]


def report(run: str, seq: int, indicators: int) -> tuple[bytes, bytes]:
    key = f"bench.i{seq % indicators:04d}"
    event = new_event(
        IndicatorReported(
            indicator_key=key,
            period=MONTHS[(seq // indicators) % len(MONTHS)],
            value=Decimal(random.randint(60, 140)),
            unit="件",
            source="bench",
            idempotency_key=f"{run}-{seq}",
        ),
        tenant=TENANT,
        aggregate_id=key,
        producer="bench",
    )
    return event.key, event.to_bytes()


async def count_stored(runtime: IndicatorsRuntime, run: str) -> int:
    n = await runtime.pool.fetchval(
        "select count(*) from measurements where idempotency_key like $1", f"{run}-%"
    )
    return int(n)


async def pending_outbox(runtime: IndicatorsRuntime) -> int:
    return int(
        await runtime.pool.fetchval("select count(*) from outbox where published_at is null")
    )


async def publish(
    bootstrap: str, topic: str, run: str, events: int, indicators: int, rate: float
) -> tuple[float, float]:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        started_at = time.perf_counter()
        futures = []
        for seq in range(events):
            if rate > 0:
                due = started_at + seq / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            key, value = report(run, seq, indicators)
            futures.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*futures)
        return started_at, time.perf_counter()
    finally:
        await producer.stop()


async def wait_for(predicate: Any, timeout: float, what: str) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await predicate():
            return time.perf_counter()
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace) -> None:
    with test_infrastructure() as infra:
        settings = isolated_settings(
            IndicatorsSettings,
            infra,
            stale_sweep_enabled=False,
            consumer_max_records=args.batch,
            pool_max_size=4,
        )
        runtime, _app = build(settings, clock=FixedClock(CLOCK))
        async with started(runtime):
            async with runtime.pool.acquire() as conn, conn.transaction():
                await apply_definitions(
                    conn, definitions(args.indicators), now=CLOCK, reason="bench", revised_by=None
                )
            topic = runtime.topic(topics.INDICATOR_REPORTED)
            # Warm up: the consumer group joins and the first batch is applied.
            await publish(infra.kafka_bootstrap, topic, "warmup", 1, args.indicators, 0)
            await wait_for(lambda: count_stored(runtime, "warmup"), 120, "the consumer to join")
            await wait_for(lambda: _zero(pending_outbox(runtime)), 60, "the warm-up outbox")

            run = f"run{int(time.time())}"
            first, last_published = await publish(
                infra.kafka_bootstrap, topic, run, args.events, args.indicators, args.rate
            )

            async def all_stored() -> bool:
                return await count_stored(runtime, run) >= args.events

            stored = await wait_for(all_stored, args.timeout, "every report to be stored")
            drained = await wait_for(
                lambda: _zero(pending_outbox(runtime)), args.timeout, "the outbox to drain"
            )
            rows = await runtime.pool.fetch(
                """select extract(epoch from received_at - occurred_at) as latency,
                          received_at from measurements where idempotency_key like $1""",
                f"{run}-%",
            )
            changes = await runtime.pool.fetchval(
                "select count(*) from status_history where changed_at >= $1",
                min(r["received_at"] for r in rows),
            )
        latencies = [float(r["latency"]) * 1000 for r in rows]
        received = sorted(r["received_at"] for r in rows)
        consumer_span = (received[-1] - received[0]).total_seconds()
        publish_span = last_published - first
        print(f"events                 {args.events} over {args.indicators} indicators")
        print(
            f"mode                   {'steady ' + str(args.rate) + '/s' if args.rate else 'burst'}"
        )
        publish_rate = args.events / publish_span
        print(f"publish                {publish_span:.2f} s  ({publish_rate:,.0f} events/s)")
        print(
            f"sustained ingest       {args.events / (stored - first):,.0f} events/s "
            f"(first publish -> last stored, {stored - first:.2f} s)"
        )
        if consumer_span > 0:
            consumer_rate = args.events / consumer_span
            print(f"consumer rate          {consumer_rate:,.0f} events/s (first -> last stored)")
        print(f"all evaluated          {stored - first:.2f} s after the first publish")
        print(
            f"outbox drained         {drained - first:.2f} s after the first publish "
            f"({changes} status changes published)"
        )
        print(
            f"latency publish->eval  p50 {statistics.median(latencies):.0f} ms, "
            f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS (this process) {rss:.0f} MiB")
        print(f"backend                {infra.backend}")


async def _zero(value: Any) -> bool:
    return await value == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--indicators", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0, help="events/s; 0 = as fast as possible")
    parser.add_argument("--batch", type=int, default=1000, help="consumer max records per batch")
    parser.add_argument("--timeout", type=float, default=600)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
