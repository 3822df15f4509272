"""Fault matrix: what the platform stores when things go wrong, counted in PostgreSQL.

    uv run python bench/faults.py [--reports 600] [--rate 300] [--faults dup,reorder,...]

Starts the platform like ``suishin up`` with an embedded PostgreSQL and broker of its own (on
free ports, in a temporary data directory; the broker and database are killed and restarted, so
they are never external ones), loads the 板橋区 DX2025 後期 plan and directory, and runs each fault
with an independent aiokafka producer (acks=all) sending ``indicator.reported`` reports over
every indicator of the plan, one after the other:

- ``dup``: every report sent three times;
- ``reorder``: reports sent in random order (the current value must still be the one recorded
  last);
- ``poison``: ``--poison-every``-th message a bad one (malformed JSON, unsupported
  schema_version, invalid payload, unknown indicator; ``--poison all`` adds a tombstone, JSON
  nested 100,000 deep, a header that is not UTF-8 and a ``schema_version`` that is a list);
  each must reach the dead-letter topic (``<topic>.dlq``), which is read back to count them and
  their ``x-dlq-reason`` per kind;
- ``kill-service``: the indicators service SIGKILLed a third of the way through the stream, then
  restarted;
- ``postgres``: PostgreSQL stopped a third of the way through, started again 3 s later;
- ``broker``: the memory-only broker SIGKILLed a third of the way through and started again,
  empty, while the producer keeps sending;
- ``broker-durable``: the same, with the producer posting batches to the durable ingest
  endpoint (``POST /ingest/indicator-reports``, answered after the PostgreSQL commit) instead.

For each fault it waits until the platform has settled (nothing more stored for a while), with
no manual step, and counts per report acknowledged (by the broker, or by the endpoint): stored
once, lost, duplicated; whether every current value is the report recorded last among those
stored; and whether the platform recovered by itself (every acknowledged report that the
broker still holds, or that the endpoint confirmed, applied; current values right). Reports
that only a lost broker held are counted as lost: nothing can bring them back.

Prints a table; ``--json PATH`` also writes every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from suishin.cli.demo import demo_settings, import_plans
from suishin.cli.notifications_commands import load_directories
from suishin.cli.stack import Stack
from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.contracts.planfile import load_plan_file
from suishin.contracts.topics import dead_letter_topic
from suishin.devstack.embedded import port_open
from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings
from suishin.notifications.settings import NotificationsSettings

Say = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "datasets" / "itabashi-dx2025-late.yaml"
DIRECTORY = ROOT / "datasets" / "directory" / "itabashi.yaml"
TENANT = "itabashi"
PERIOD = "FY2024"
FAULTS = ("dup", "reorder", "poison", "kill-service", "postgres", "broker", "broker-durable")


@dataclass
class Config:
    reports: int = 600
    rate: float = 300.0
    faults: tuple[str, ...] = FAULTS
    poison: str = "safe"
    poison_every: int = 10
    settle: float = 5.0
    timeout: float = 120.0
    seed: int = 7


@dataclass
class Outcome:
    fault: str
    sent: int = 0
    acknowledged: int = 0
    stored_once: int = 0
    lost: int = 0
    duplicated: int = 0
    only_on_lost_broker: int = 0
    dropped_after_restart: int = 0
    current_wrong: int = 0
    poison_sent: int = 0
    dead_lettered: int = 0
    dead_letter_reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    recovered_by_itself: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def free_port_block(size: int = 8) -> int:
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        if not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


class Platform:
    """The running stack as the fault runner sees it: producer, database, endpoint."""

    def __init__(self, stack: Stack, config: Config) -> None:
        self.stack = stack
        self.config = config
        self.settings: PlatformSettings = demo_settings(stack)
        self.topic = self.settings.topic(topics.INDICATOR_REPORTED)
        self.plan = load_plan_file(PLAN)
        self.keys = [i.key for i in self.plan.indicators if not i.sub_series]
        self.run = secrets.token_hex(3)
        indicators = next(s for s in stack.specs if s.name == "indicators")
        self.ingest_url = f"{indicators.base_url}/ingest/indicator-reports"
        self.token = issue_token(
            self.settings, subject="faults@itabashi", tenant=TENANT, roles=["admin"]
        )
        self.producer: AIOKafkaProducer | None = None

    async def load(self) -> None:
        await import_plans([(PLAN, self.plan)], self.settings, lambda _m: None)
        fields = {"database_url", "kafka_bootstrap", "schema_prefix", "topic_prefix"}
        await load_directories(
            [DIRECTORY], NotificationsSettings(**self.settings.model_dump(include=fields))
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_idempotence=False,
            acks="all",
            linger_ms=2,
            request_timeout_ms=10_000,
        )
        await self.producer.start()

    async def close(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()

    def reports(self, fault: str, count: int) -> list[Envelope[IndicatorReported]]:
        """``count`` reports over every indicator, recorded in this order (occurred_at)."""
        return [
            new_event(
                IndicatorReported(
                    indicator_key=self.keys[n % len(self.keys)],
                    period=PERIOD,
                    value=Decimal(n + 1),
                    source="fault-matrix",
                    idempotency_key=f"{self.run}-{fault}-{n}",
                ),
                tenant=TENANT,
                aggregate_id=self.keys[n % len(self.keys)],
                producer="fault-matrix",
            )
            for n in range(count)
        ]

    async def send(self, value: bytes | None, key: bytes, headers: Any = None) -> bool:
        assert self.producer is not None
        try:
            await asyncio.wait_for(
                self.producer.send_and_wait(self.topic, value, key=key, headers=headers), 15
            )
            return True
        except Exception:
            return False

    async def stream(
        self,
        events: Sequence[Envelope[IndicatorReported]],
        *,
        copies: int = 1,
        fault_at: float | None = None,
        fault: Callable[[], Coroutine[Any, Any, None]] | None = None,
        poison: Callable[[int], tuple[bytes, bytes | None, list[tuple[str, bytes]] | None] | None]
        | None = None,
    ) -> tuple[dict[str, float], int]:
        """Send at ``config.rate``; run ``fault`` once ``fault_at`` of them are out. Returns the
        acknowledgement time of each report (by idempotency key) and the messages sent."""
        acked: dict[str, float] = {}
        pending: set[asyncio.Task[None]] = set()
        sent = 0
        start = time.monotonic()
        fault_task: asyncio.Task[None] | None = None

        async def one(value: bytes | None, key: bytes, ikey: str | None, headers: Any) -> None:
            if await self.send(value, key, headers) and ikey is not None:
                acked.setdefault(ikey, time.monotonic())

        for n, event in enumerate(events):
            if fault is not None and fault_task is None and n >= len(events) * (fault_at or 0):
                fault_task = asyncio.create_task(fault())
            delay = start + sent / self.config.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if poison is not None and (bad := poison(n)) is not None:
                task = asyncio.create_task(one(bad[1], bad[0], None, bad[2]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            body = event.to_bytes()
            for _ in range(copies):
                task = asyncio.create_task(
                    one(body, event.key, event.payload.idempotency_key, None)
                )
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
        await asyncio.gather(*pending)
        if fault_task is not None:
            await fault_task
        return acked, sent

    async def post(
        self, events: Sequence[Envelope[IndicatorReported]], fault_at: float, fault: Any
    ) -> tuple[dict[str, float], int]:
        """Post batches of 20 to the durable endpoint; a batch that fails is posted again."""
        acked: dict[str, float] = {}
        batches = [events[i : i + 20] for i in range(0, len(events), 20)]
        fault_task: asyncio.Task[None] | None = None
        start = time.monotonic()
        posted = 0
        async with httpx.AsyncClient(timeout=30) as client:
            for i, batch in enumerate(batches):
                if fault_task is None and i >= len(batches) * fault_at:
                    fault_task = asyncio.create_task(fault())
                delay = start + posted / self.config.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = [json.loads(e.to_bytes()) for e in batch]
                for _attempt in range(60):
                    try:
                        response = await client.post(
                            self.ingest_url,
                            json=body,
                            headers={"authorization": f"Bearer {self.token}"},
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.5)
                        continue
                    if response.status_code == 200:
                        for result in response.json()["results"]:
                            if result["status"] in ("accepted", "duplicate"):
                                acked.setdefault(result["idempotency_key"], time.monotonic())
                        break
                    await asyncio.sleep(0.5)
                posted += len(batch)
        if fault_task is not None:
            await fault_task
        return acked, posted

    async def db(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(self.settings.database_url)
        await conn.execute(f'set search_path to "{self.settings.schema_name("indicators")}"')
        return conn

    async def stored(self, fault: str) -> dict[str, int]:
        """Rows per idempotency key of ``fault`` (0 when the database is away)."""
        try:
            conn = await self.db()
        except Exception:
            return {}
        try:
            rows = await conn.fetch(
                "select idempotency_key, count(*) as n from measurements"
                " where idempotency_key like $1 group by 1",
                f"{self.run}-{fault}-%",
            )
        finally:
            await conn.close()
        return {r["idempotency_key"]: int(r["n"]) for r in rows}

    async def current(self) -> dict[str, Decimal]:
        conn = await self.db()
        try:
            rows = await conn.fetch(
                "select i.key, m.value from measurements m"
                " join indicators i on i.id = m.indicator_id"
                " where m.is_current and m.period = $1 and i.tenant = $2",
                PERIOD,
                TENANT,
            )
        finally:
            await conn.close()
        return {r["key"]: r["value"] for r in rows}

    async def settle(self, fault: str, expected: set[str]) -> dict[str, int]:
        """Wait until every expected report is stored, or nothing more arrives for a while."""
        deadline = time.monotonic() + self.config.timeout
        last_count, last_change = -1, time.monotonic()
        while True:
            stored = await self.stored(fault)
            if expected <= set(stored):
                return stored
            if len(stored) != last_count:
                last_count, last_change = len(stored), time.monotonic()
            quiet = time.monotonic() - last_change
            if quiet > max(self.config.settle, 15.0) or time.monotonic() > deadline:
                return stored
            await asyncio.sleep(0.25)

    async def read_topic(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record the broker's log of ``topic`` holds now."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False
        )
        await consumer.start()
        held: list[ConsumerRecord[bytes, bytes]] = []
        try:
            if topic not in await consumer.topics():
                return held
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
                if not behind:
                    break
                batch = await consumer.getmany(timeout_ms=500)
                if not batch:
                    break
                for records in batch.values():
                    held.extend(records)
        finally:
            await consumer.stop()
        return held

    async def held_by_broker(self, fault: str) -> set[str]:
        """Idempotency keys of ``fault`` that the broker's log holds now."""
        held: set[str] = set()
        for record in await self.read_topic(self.topic):
            with contextlib.suppress(Exception):
                key = json.loads(record.value or b"")["payload"]["idempotency_key"]
                if key.startswith(f"{self.run}-{fault}-"):
                    held.add(key)
        return held

    async def dead_letters(self, expected: int) -> dict[str, dict[str, int]]:
        """``x-dlq-reason`` counts per poison kind on the dead-letter topic (the poison messages
        of this run are keyed ``poison-<run>-<kind>``), once ``expected`` are there or after
        ``config.settle`` s (at least 15 s) with no new one."""
        prefix = f"poison-{self.run}-".encode()
        deadline = time.monotonic() + self.config.timeout
        last_count, last_change = -1, time.monotonic()
        while True:
            reasons: dict[str, dict[str, int]] = {}
            count = 0
            for record in await self.read_topic(dead_letter_topic(self.topic)):
                if record.key is None or not record.key.startswith(prefix):
                    continue
                kind = record.key[len(prefix) :].decode()
                headers = dict(record.headers or ())
                reason = headers.get("x-dlq-reason", b"?").decode(errors="replace")
                per_kind = reasons.setdefault(kind, {})
                per_kind[reason] = per_kind.get(reason, 0) + 1
                count += 1
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            quiet = time.monotonic() - last_change
            if (
                count >= expected
                or quiet > max(self.config.settle, 15.0)
                or time.monotonic() > deadline
            ):
                return reasons
            await asyncio.sleep(0.5)


# --- the faults --------------------------------------------------------------------------------


PoisonMaker = Callable[[], tuple[bytes | None, Any]]


def poison_kinds(which: str) -> list[tuple[str, PoisonMaker]]:
    def envelope(**changes: Any) -> bytes:
        event = new_event(
            IndicatorReported(
                indicator_key="no-such-indicator",
                period=PERIOD,
                value=Decimal(1),
                source="fault-matrix",
                idempotency_key=secrets.token_hex(8),
            ),
            tenant=TENANT,
            aggregate_id="x",
            producer="fault-matrix",
        )
        data = json.loads(event.to_bytes())
        data.update(changes)
        return json.dumps(data).encode()

    kinds: list[tuple[str, PoisonMaker]] = [
        ("malformed_json", lambda: (b"{not json", None)),
        ("schema_version", lambda: (envelope(schema_version=99), None)),
        ("invalid_payload", lambda: (envelope(payload={"indicator_key": ""}), None)),
        ("unknown_indicator", lambda: (envelope(), None)),
    ]
    if which == "all":
        kinds += [
            ("tombstone", lambda: (None, None)),
            ("deep_json", lambda: (b"[" * 100_000 + b"]" * 100_000, None)),
            ("header_not_utf8", lambda: (envelope(), [("x-bad", b"\xff\xfe")])),
            ("schema_version_list", lambda: (envelope(schema_version=[1]), None)),
        ]
    return kinds


async def run_fault(platform: Platform, name: str, say: Say) -> Outcome:
    config = platform.config
    outcome = Outcome(name)
    started = time.monotonic()
    events = platform.reports(name, config.reports)
    stack = platform.stack
    lost_broker_at: list[float] = []

    async def kill_service() -> None:
        await asyncio.to_thread(stack.kill_service, "indicators")
        await asyncio.to_thread(stack.restart_service, "indicators")

    async def stop_postgres() -> None:
        assert stack.postgres is not None
        await asyncio.to_thread(stack.postgres.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(stack.postgres.start)

    async def kill_broker() -> None:
        broker = stack.broker
        assert broker is not None and broker.process is not None
        broker.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(broker.process.wait)
        broker.process = None
        lost_broker_at.append(time.monotonic())
        await asyncio.to_thread(broker.start)

    if name == "dup":
        acked, outcome.sent = await platform.stream(events, copies=3)
    elif name == "reorder":
        shuffled = list(events)
        random.Random(config.seed).shuffle(shuffled)
        acked, outcome.sent = await platform.stream(shuffled)
    elif name == "poison":
        kinds = poison_kinds(config.poison)

        def poison(n: int) -> tuple[bytes, bytes | None, Any] | None:
            if n % config.poison_every:
                return None
            kind, make = kinds[(n // config.poison_every) % len(kinds)]
            value, headers = make()
            return f"poison-{platform.run}-{kind}".encode(), value, headers

        acked, outcome.sent = await platform.stream(events, poison=poison)
        outcome.poison_sent = outcome.sent - len(events)
        outcome.notes.append(f"{outcome.poison_sent} poison messages")
    elif name == "kill-service":
        acked, outcome.sent = await platform.stream(events, fault_at=1 / 3, fault=kill_service)
    elif name == "postgres":
        acked, outcome.sent = await platform.stream(events, fault_at=1 / 3, fault=stop_postgres)
    elif name == "broker":
        acked, outcome.sent = await platform.stream(events, fault_at=1 / 3, fault=kill_broker)
    elif name == "broker-durable":
        acked, outcome.sent = await platform.post(events, 1 / 3, kill_broker)
    else:
        raise SystemExit(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    outcome.acknowledged = len(acked)

    expected = set(acked)
    if name == "broker":
        # The platform's promise: everything the (new) broker holds gets applied. What the lost
        # broker had acknowledged and no consumer had applied yet is gone with it.
        held = await platform.held_by_broker(name)
        expected = {k for k in acked if k in held} | set(await platform.stored(name))
    stored = await platform.settle(name, expected)
    if name == "broker":
        cut = lost_broker_at[0] if lost_broker_at else float("inf")
        missing = {k for k in acked if k not in stored}
        outcome.only_on_lost_broker = sum(1 for k in missing if acked[k] <= cut)
        outcome.dropped_after_restart = sum(1 for k in missing if acked[k] > cut)
    outcome.stored_once = sum(1 for k in acked if stored.get(k) == 1)
    outcome.duplicated = sum(n - 1 for n in stored.values() if n > 1)
    outcome.lost = sum(1 for k in acked if k not in stored)
    # The current value of each indicator: its last recorded report among those stored.
    last: dict[str, Decimal] = {}
    for event in events:
        if event.payload.idempotency_key in stored:
            assert event.payload.value is not None
            last[event.payload.indicator_key] = event.payload.value
    current = await platform.current()
    outcome.current_wrong = sum(1 for k, v in last.items() if current.get(k) != v)
    if name == "poison":
        outcome.dead_letter_reasons = await platform.dead_letters(outcome.poison_sent)
        outcome.dead_lettered = sum(sum(r.values()) for r in outcome.dead_letter_reasons.values())
        for kind, reasons in sorted(outcome.dead_letter_reasons.items()):
            say(f"    dead-lettered {kind}: {reasons}")
    outcome.recovered_by_itself = (
        expected <= set(stored)
        and outcome.duplicated == 0
        and outcome.current_wrong == 0
        and outcome.dead_lettered == outcome.poison_sent
    )
    outcome.seconds = round(time.monotonic() - started, 1)
    say(
        f"  {name:<15} sent {outcome.sent:>5}  stored once {outcome.stored_once:>5}  "
        f"lost {outcome.lost:>4}  duplicated {outcome.duplicated}  "
        f"recovered by itself {'yes' if outcome.recovered_by_itself else 'NO'}"
    )
    return outcome


async def measure(stack: Stack, config: Config, say: Say) -> list[Outcome]:
    platform = Platform(stack, config)
    await platform.load()
    say(f"loaded {PLAN.name}: {len(platform.keys)} indicators; faults: {', '.join(config.faults)}")
    try:
        return [await run_fault(platform, name, say) for name in config.faults]
    finally:
        await platform.close()


def run(
    config: Config,
    *,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    say: Say = print,
) -> dict[str, Any]:
    """Start a platform of its own, run the faults, stop everything; return every figure."""
    env = dict(os.environ if env is None else env)
    for name in ("SUISHIN_DATABASE_URL", "SUISHIN_KAFKA_BOOTSTRAP"):
        env.pop(name, None)  # the database and the broker are killed: they must be our own
    base = free_port_block()
    # base + 0..3 and + 5 are the gateway, the services and the portal (web); see default_specs
    env["SUISHIN_PG_PORT"] = str(base + 6)
    env["SUISHIN_BROKER_PORT"] = str(base + 7)
    env["SUISHIN_SMTP_PORT"] = str(base + 4)
    env.setdefault("SUISHIN_LOG_JSON", "false")
    owned = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="suishin-faults-")) if data_dir is None else data_dir
    stack = Stack(root / "platform", base_port=base, env=env, say=lambda m: say(m.strip()))
    result: dict[str, Any] = {"config": asdict(config)}
    try:
        started = time.monotonic()
        stack.start_infrastructure()
        stack.start_services(timeout=180)
        result["startup_s"] = round(time.monotonic() - started, 1)
        outcomes = asyncio.run(measure(stack, config, say))
        result["faults"] = [asdict(o) for o in outcomes]
    finally:
        stack.stop()
        if owned:
            shutil.rmtree(root, ignore_errors=True)
    return result


def report(result: dict[str, Any]) -> str:
    header = (
        "| fault | sent | acknowledged | stored once | lost | duplicated | "
        "current wrong | recovered by itself | s |"
    )
    lines = [header, "|" + "---|" * 9]
    for o in result["faults"]:
        lost = str(o["lost"])
        if o["only_on_lost_broker"] or o["dropped_after_restart"]:
            lost += (
                f" (held only by the lost broker: {o['only_on_lost_broker']}; "
                f"dropped by the new broker at its start: {o['dropped_after_restart']})"
            )
        lines.append(
            f"| {o['fault']} | {o['sent']} | {o['acknowledged']} | {o['stored_once']} | {lost} "
            f"| {o['duplicated']} | {o['current_wrong']} "
            f"| {'yes' if o['recovered_by_itself'] else 'NO'} | {o['seconds']} |"
        )
    for o in result["faults"]:
        if o["poison_sent"]:
            lines.append("")
            lines.append(
                f"{o['fault']}: {o['dead_lettered']} of {o['poison_sent']} poison messages on the"
                " dead-letter topic; per kind, x-dlq-reason: count"
            )
            for kind, reasons in sorted(o["dead_letter_reasons"].items()):
                counts = ", ".join(f"{r}: {n}" for r, n in sorted(reasons.items()))
                lines.append(f"- {kind}: {counts}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    defaults = Config()
    parser.add_argument("--reports", type=int, default=defaults.reports, help="per fault")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="reports/s")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated")
    parser.add_argument("--poison", choices=("safe", "all"), default=defaults.poison)
    parser.add_argument("--poison-every", type=int, default=defaults.poison_every)
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="s per fault")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--data-dir", type=Path, help="keep the platform's data and logs here")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the faults make it shout
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    config = Config(
        reports=args.reports,
        rate=args.rate,
        faults=faults,
        poison=args.poison,
        poison_every=args.poison_every,
        timeout=args.timeout,
        seed=args.seed,
    )
    result = run(config, data_dir=args.data_dir)
    print()
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    sys.exit(0 if all(o["recovered_by_itself"] for o in result["faults"]) else 1)


if __name__ == "__main__":
    main()
