"""Where the embedded broker's CPU goes at a steady rate: producing, fetching, and how many
consumers fetch.

    uv run python bench/broker_cpu.py                      # 500 reports/s, 15 s per scenario
    uv run python bench/broker_cpu.py --rate 500 --seconds 15 --json broker.json

Each scenario starts a fresh embedded broker (tansu, as ``suishin up`` does) with the platform's
partition count, publishes ``--rate`` records/s to a busy topic with ``bench/e2e.py``'s producer
settings (linger 2 ms) and 10 records/s to each of five low-rate topics (as status changes,
evaluations, workflow events and deliveries flow at that rate), and reads the broker's CPU time
(utime + stime) and the requests it received (TCP segments received on its port, read with
``ss``; one Kafka request is one segment on loopback) over ``--seconds``:

1. ``produce only``: nobody consumes;
2. ``+ busy consumer``: one consumer of the busy topic with the platform's quick fetch wait
   (``SUISHIN_CONSUMER_QUICK_FETCH_WAIT_MS``), as the indicators service;
3. ``+ 5 low-rate consumers``: plus one consumer per low-rate topic, each its own group, as the
   notifications service ran before it had one consumer group;
4. ``+ 1 consumer of 5 topics``: plus ONE consumer of the five low-rate topics, one group.

Prints each scenario's broker CPU (% of one core), requests/s, and the ratio to ``produce
only``; the difference between scenarios is the cost of the consumers' fetches.

    uv run python bench/broker_cpu.py --history 100,1000,5000,20000

``--history`` measures instead what a record costs the broker against how many batches its
partition already holds (tansu keeps every batch of a memory-only topic, and a fetch that finds
records lists all of the partition's batches): a fresh broker, one topic of one partition
filled with one-record batches up to each level, then ``--trips`` records produced one at a
time without a consumer, and as many produced and fetched one at a time (each fetch finds one
record). Prints the broker's CPU per produce and per fetch, and the time from produce to the
consumer, at each level.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from suishin.devstack.embedded import EmbeddedBroker
from suishin.kit.settings import PlatformSettings

BUSY = "bench.busy"
HISTORY = "bench.history"
LOW = [f"bench.low{i}" for i in range(5)]
LOW_RATE = 10.0
VALUE = json.dumps({"payload": {"value": 1.0, "comment": "x" * 600}}).encode()


@dataclass(frozen=True)
class Scenario:
    name: str
    busy_consumer: bool
    low_consumers: int  # 0, 1 (one consumer of every low-rate topic) or len(LOW)


SCENARIOS = [
    Scenario("produce only", False, 0),
    Scenario("+ busy consumer", True, 0),
    Scenario("+ 5 low-rate consumers", True, len(LOW)),
    Scenario("+ 1 consumer of 5 topics", True, 1),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _segments_received(port: int) -> int:
    """TCP segments the broker received on its port, over all its current connections."""
    out = subprocess.run(
        ["ss", "-tinH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    total = 0
    for token in out.split():
        if token.startswith("segs_in:"):
            total += int(token.split(":", 1)[1])
    return total


async def _consume(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=1000)


async def _publish(producer: AIOKafkaProducer, topic: str, rate: float, seconds: float) -> None:
    start = time.monotonic()
    futures = []
    for seq in range(int(rate * seconds)):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        futures.append(await producer.send(topic, value=VALUE, key=str(seq % 1237).encode()))
    await asyncio.gather(*futures)


async def _fresh_broker(topics: list[NewTopic]) -> EmbeddedBroker:
    """A new embedded broker on a free port, with ``topics`` created."""
    broker = EmbeddedBroker(port=_free_port())
    broker.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(topics)
        finally:
            await admin.close()
    except BaseException:
        broker.stop()
        raise
    return broker


async def measure(
    scenario: Scenario, rate: float, seconds: float, *, settle: float = 3.0
) -> dict[str, Any]:
    settings = PlatformSettings()
    broker = await _fresh_broker([NewTopic(t, settings.topic_partitions, 1) for t in [BUSY, *LOW]])
    consumers: list[AIOKafkaConsumer] = []
    tasks: list[asyncio.Task[None]] = []
    producer: AIOKafkaProducer | None = None
    try:
        assert broker.pid is not None
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap,
            enable_idempotence=False,
            linger_ms=2,
            max_batch_size=256 * 1024,
        )
        await producer.start()
        groups: list[list[str]] = []
        if scenario.busy_consumer:
            groups.append([BUSY])
        if scenario.low_consumers == 1:
            groups.append(LOW)
        elif scenario.low_consumers:
            groups.extend([t] for t in LOW)
        for i, group in enumerate(groups):
            consumer = AIOKafkaConsumer(
                *group,
                bootstrap_servers=broker.bootstrap,
                group_id=f"bench-{i}",
                auto_offset_reset="latest",
                fetch_max_wait_ms=settings.consumer_quick_fetch_wait_ms,
            )
            await consumer.start()
            consumers.append(consumer)
            tasks.append(asyncio.create_task(_consume(consumer)))
        await asyncio.sleep(settle)  # the consumers joined and fetch
        cpu, segments = _cpu_seconds(broker.pid), _segments_received(broker.port)
        began = time.time()
        await asyncio.gather(
            _publish(producer, BUSY, rate, seconds),
            *(_publish(producer, t, LOW_RATE, seconds) for t in LOW),
        )
        elapsed = time.time() - began
        cpu = _cpu_seconds(broker.pid) - cpu
        segments = _segments_received(broker.port) - segments
        return {
            "scenario": scenario.name,
            "consumers": len(groups),
            "broker_cpu_s": round(cpu, 2),
            "broker_pct_of_core": round(100 * cpu / elapsed, 1),
            "requests_per_s": round(segments / elapsed, 1),
            "seconds": round(elapsed, 1),
        }
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in consumers:
            await consumer.stop()
        if producer is not None:
            await producer.stop()
        broker.stop()


async def measure_history(levels: Sequence[int], trips: int = 300) -> list[dict[str, Any]]:
    """The broker's CPU per produce and per fetch, and produce → consumed, at each level of
    one-record batches held by the partition (see the module's ``--history``)."""
    settings = PlatformSettings()
    broker = await _fresh_broker([NewTopic(HISTORY, 1, 1)])
    producer: AIOKafkaProducer | None = None
    consumer: AIOKafkaConsumer | None = None
    try:
        assert broker.pid is not None
        # no linger: every record of the fill is a batch of its own
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
        await producer.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.consumer_quick_fetch_wait_ms,
        )
        await consumer.start()
        partition = TopicPartition(HISTORY, 0)
        consumer.assign([partition])
        consumer.pause(partition)  # no fetch while filling and producing alone
        held, rows = 0, []
        for level in sorted(levels):
            while held < level:
                await producer.send_and_wait(HISTORY, VALUE)
                held += 1
            at_start = held  # the level, or more when the previous level's trips passed it
            cpu = _cpu_seconds(broker.pid)
            for _ in range(trips):
                await producer.send_and_wait(HISTORY, VALUE)
            produce_cpu = (_cpu_seconds(broker.pid) - cpu) / trips
            held += trips
            await consumer.seek_to_end(partition)
            await consumer.position(partition)
            consumer.resume(partition)
            cpu, began = _cpu_seconds(broker.pid), time.perf_counter()
            for _ in range(trips):
                sent = await producer.send_and_wait(HISTORY, VALUE)
                record = await consumer.getone(partition)
                if record.offset != sent.offset:  # each fetch must find the record just sent
                    raise RuntimeError(f"fetched offset {record.offset}, sent {sent.offset}")
            wall = (time.perf_counter() - began) / trips
            trip_cpu = (_cpu_seconds(broker.pid) - cpu) / trips
            consumer.pause(partition)
            held += trips
            rows.append(
                {
                    "batches_held": at_start,
                    "produce_cpu_ms": round(1000 * produce_cpu, 3),
                    "fetch_cpu_ms": round(1000 * max(trip_cpu - produce_cpu, 0.0), 3),
                    "produce_to_consumed_ms": round(1000 * wall, 2),
                }
            )
        return rows
    finally:
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()
        broker.stop()


def report_history(rows: list[dict[str, Any]]) -> str:
    lines = [
        "broker CPU per record against the one-record batches its partition holds "
        f"(load {os.getloadavg()[0]:.2f})",
        f"  {'batches held':>12s} {'produce CPU ms':>15s} {'fetch CPU ms':>13s} "
        f"{'produce → consumed ms':>22s}",
    ]
    for r in rows:
        lines.append(
            f"  {r['batches_held']:12d} {r['produce_cpu_ms']:15.3f} {r['fetch_cpu_ms']:13.3f} "
            f"{r['produce_to_consumed_ms']:22.2f}"
        )
    return "\n".join(lines)


def report(rows: list[dict[str, Any]], rate: float) -> str:
    base = rows[0]["broker_cpu_s"] or 1.0
    lines = [
        f"broker CPU at {rate:g} records/s on the busy topic + {len(LOW)} × {LOW_RATE:g}/s "
        f"(load {os.getloadavg()[0]:.2f})",
        f"  {'scenario':28s} {'consumers':>9s} {'CPU s':>7s} {'% core':>7s} "
        f"{'requests/s':>11s} {'× produce only':>15s}",
    ]
    for r in rows:
        lines.append(
            f"  {r['scenario']:28s} {r['consumers']:9d} {r['broker_cpu_s']:7.2f} "
            f"{r['broker_pct_of_core']:7.1f} {r['requests_per_s']:11.1f} "
            f"{r['broker_cpu_s'] / base:15.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="records/s on the busy topic")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--history",
        help="instead: cost per record at these batches held, comma-separated (e.g. 100,20000)",
    )
    parser.add_argument("--trips", type=int, default=300, help="records per --history level")
    args = parser.parse_args(argv)
    if args.history:
        levels = [int(n) for n in args.history.split(",")]
        history = asyncio.run(measure_history(levels, args.trips))
        print(report_history(history))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"history": history}, f, indent=2)
        return
    rows = [asyncio.run(measure(s, args.rate, args.seconds)) for s in SCENARIOS]
    print(report(rows, args.rate))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rate": args.rate, "scenarios": rows}, f, indent=2)


if __name__ == "__main__":
    main()
