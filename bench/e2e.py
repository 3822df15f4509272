"""End-to-end benchmark: the whole platform as processes, like ``suishin up``.

    uv run python bench/e2e.py --rate 500 --duration 30 [--burst 20000] [--json result.json]

Starts PostgreSQL and the broker (embedded, on free ports below the ephemeral range, in a
temporary data directory; or the ones SUISHIN_DATABASE_URL / SUISHIN_KAFKA_BOOTSTRAP name, then
with a schema and topic prefix of its own), the three services, the gateway and the SMTP sink
with ``suishin.cli.stack.Stack``. Then:

1. Workload (not timed): the 板橋区 DX2025 後期 plan and the 板橋区 directory, plus ``--tenants``
   synthetic wards, each a plan of ``--measures`` measures (2-4 workloads each, owned by 15
   departments under 5 基本方針) and a directory (a 課長 per department, 事務局, CIO, a 本部
   member, the same routing rules as 板橋区). Every indicator is reported once for FY2024, on
   target ("last year's results are in"), and the pipeline is left to go idle.
2. Throughput (``--events``, a burst): reports published as fast as possible. Every
   ``--alert-every``-th report drives a fresh indicator off track for FY2025 (an alert: inbox
   entries for the owning department's 課長 and the 事務局, and for the CIO and the 本部 member
   when the measure turns 未達成); the others re-report FY2024 on target (stored and
   evaluated; no status change). *Done* means: every report stored and evaluated, every event
   that followed (status changes, grades, notifications) consumed, every outbox drained, i.e.
   each consumer's processed count has reached its topic's end offsets and no outbox row is
   pending, twice in a row. Its time is the later of the last report stored and the last inbox
   notification announced (``notification.delivered`` published by the notifications outbox).
   Sustained rate = events / (done - first publish). Then, in the same run, on the same broker
   and PostgreSQL, the minimal idempotent loop (consume a batch → parse → dedup insert in one
   transaction → commit offsets) over as many reports of its own topic; the end-to-end rate is
   printed as a ratio of the loop's (the issue 16 target: ≥ 30 %).
3. Latency (``--rate`` events/s for ``--duration`` s, same mix): the 事務局 of every ward is
   connected to the gateway's ``notificationReceived`` subscription (graphql-transport-ws) like a
   portal would be. For every alert, latency = the push arriving at the 事務局's client minus
   the report's publish time; also the time the inbox entry was stored (notification row
   committed) and a breakdown per hop from the services' own timestamps (p50 / p95 / p99 of
   each hop; "stored" is the measurement's insert time, "published" the relay's transaction
   start for that outbox row, "notification stored" the notifications consumer's transaction
   start, "pushed" the client's receive time).
4. Memory: RSS (VmRSS) of each process after startup, after the burst, after the run, and its
   peak (VmHWM);
   PostgreSQL as the PSS sum of its processes. CPU seconds per process per phase.

Prints a table; ``--json PATH`` also writes every figure. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from suishin.cli.demo import demo_settings, import_plans
from suishin.cli.notifications_commands import load_directories
from suishin.cli.stack import Stack
from suishin.contracts import ids, topics
from suishin.contracts.enums import Aggregation, Comparator
from suishin.contracts.events import IndicatorReported, new_event
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.embedded import port_open
from suishin.devstack.testing import GraphQLWSClient
from suishin.kit.auth import issue_token
from suishin.kit.server import freeze_heap
from suishin.kit.settings import PlatformSettings
from suishin.notifications.settings import NotificationsSettings

Say = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"
REAL_PLAN = DATASETS / "itabashi-dx2025-late.yaml"
REAL_DIRECTORY = DATASETS / "directory" / "itabashi.yaml"
BASE_YEAR, ALERT_YEAR = 2024, 2025  # plan years; both are over, so evaluations are final
SERVICES = ("plans", "indicators", "notifications", "gateway")


@dataclass
class Config:
    events: int = 20_000
    """Reports in the throughput burst (0: skip it)."""
    rate: float = 500.0
    """Reports per second in the latency phase."""
    duration: float = 30.0
    """Seconds of the latency phase (0: skip it)."""
    alert_every: int = 50
    """Every n-th report drives a fresh indicator off track (0: none)."""
    tenants: int = 10
    """Synthetic wards besides 板橋区."""
    measures: int = 40
    """Measures per synthetic ward (2-4 workloads each)."""
    seed: int = 20240401
    timeout: float = 600.0
    """Seconds to wait for the pipeline to go idle after each phase."""


# --- workload ----------------------------------------------------------------------------------

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("政策企画課", "政策経営部"),
    ("財政課", "政策経営部"),
    ("情報政策課", "政策経営部"),
    ("総務課", "総務部"),
    ("人事課", "総務部"),
    ("戸籍住民課", "区民部"),
    ("税務課", "区民部"),
    ("福祉政策課", "福祉部"),
    ("子ども政策課", "子ども家庭部"),
    ("健康推進課", "健康生きがい部"),
    ("環境政策課", "環境部"),
    ("都市計画課", "都市整備部"),
    ("産業振興課", "産業経済部"),
    ("教育総務課", "教育委員会事務局"),
    ("学務課", "教育委員会事務局"),
)
SECRETARIAT = "情報政策課"
POLICIES = (
    "行政手続のオンライン化",
    "業務の改善・効率化",
    "デジタルデバイド対策",
    "データの利活用",
    "推進体制の強化",
)
MEASURES = (
    "電子申請の拡充",
    "キャッシュレス決済の推進",
    "RPA・AIによる業務改善",
    "ペーパーレス会議の推進",
    "テレワーク環境の整備",
    "マイナンバーカードの普及",
    "コンビニ交付の拡大",
    "窓口の予約・案内のデジタル化",
    "スマートフォン教室の開催",
    "オープンデータの公開",
    "学習用端末の活用",
    "職員のデジタル人材育成",
    "情報セキュリティ研修",
    "公式SNS・アプリによる発信",
    "施設予約システムの刷新",
    "地域ポイントの導入支援",
)
WORKLOADS: tuple[tuple[str, str, int], ...] = (
    ("対象手続数", "手続", 120),
    ("利用件数", "件", 30_000),
    ("削減時間", "時間", 1_500),
    ("実施回数", "回", 40),
    ("参加者数", "人", 800),
    ("導入部署数", "課", 30),
    ("公開データセット数", "件", 200),
    ("研修受講者数", "人", 1_200),
)
GRADES = [
    {"code": "achieved_plus", "label": "達成＋", "description": "計画の事業量を上回る実績"},
    {"code": "achieved", "label": "達成", "description": "事業量の全部若しくは大部分を達成"},
    {"code": "not_achieved", "label": "未達成", "description": "事業量の大部分が未達成"},
]
GRADES[-1]["failing"] = True  # type: ignore[assignment]


@dataclass(frozen=True)
class Slot:
    """One indicator the benchmark reports for."""

    tenant: str
    key: str
    unit: str | None
    targets: dict[int, Decimal]

    @property
    def indicator_id(self) -> UUID:
        return ids.indicator_id(self.tenant, self.key)


@dataclass
class Workload:
    plans: list[tuple[Path, PlanFile]]
    directories: list[Path]
    slots: list[Slot]
    tenants: list[str]
    measures: int


def synthetic_plan(n: int, measures: int, rng: random.Random) -> PlanFile:
    slug = f"bench{n:02d}"
    name = f"ベンチマーク第{n:02d}区"
    bus = sorted({bu for _, bu in DEPARTMENTS})
    departments: list[dict[str, Any]] = [{"code": bu, "name": bu, "kind": "bu"} for bu in bus]
    departments += [{"code": ka, "name": ka, "parent": bu} for ka, bu in DEPARTMENTS]
    groups: list[dict[str, Any]] = [
        {"code": f"基本方針{i + 1}", "kind": "group", "level": 0, "title": title, "children": []}
        for i, title in enumerate(POLICIES)
    ]
    indicators: list[dict[str, Any]] = []
    for m in range(measures):
        group = groups[m % len(groups)]
        number = len(group["children"]) + 1
        owners = rng.sample([ka for ka, _ in DEPARTMENTS], rng.choice((1, 1, 2)))
        path = f"{group['code']}/施策{m + 1}"
        items = []
        for w in range(rng.randint(2, 4)):
            title, unit, base = WORKLOADS[(m + w) % len(WORKLOADS)]
            t24 = Decimal(max(1, round(base * rng.uniform(0.5, 1.5))))
            t25 = (t24 * Decimal("1.1")).quantize(Decimal(1))
            items.append(
                {
                    "code": str(w + 1),
                    "kind": "item",
                    "level": 2,
                    "title": title,
                    "schedule": [
                        {"fiscal_year": BASE_YEAR, "label": f"{t24}{unit}以上", "phase": "running"},
                        {
                            "fiscal_year": ALERT_YEAR,
                            "label": f"{t25}{unit}以上",
                            "phase": "expanding",
                        },
                    ],
                }
            )
            indicators.append(
                {
                    "key": f"m{m + 1:03d}.w{w + 1}",
                    "title": f"{MEASURES[m % len(MEASURES)]} {title}",
                    "nodes": [f"{path}/{w + 1}"],
                    "unit": unit,
                    "targets": [
                        {"fiscal_year": BASE_YEAR, "comparator": "gte", "value": str(t24)},
                        {"fiscal_year": ALERT_YEAR, "comparator": "gte", "value": str(t25)},
                    ],
                }
            )
        group["children"].append(
            {
                "code": f"施策{m + 1}",
                "kind": "measure",
                "level": 1,
                "title": f"{MEASURES[m % len(MEASURES)]}（{number}）",
                "owners": owners,
                "status": "継続",
                "children": items,
            }
        )
    return PlanFile.model_validate(
        {
            "tenant": {"slug": slug, "name": name},
            "grading_scale": {"rule": "itabashi-dx2025-late", "grades": GRADES},
            "departments": departments,
            "bodies": [{"code": "DX推進本部", "name": "DX推進本部", "secretariat": SECRETARIAT}],
            "posts": [
                {"code": "CIO", "name": "情報統括責任者"},
                {"code": "事務局", "name": "DX推進本部 事務局", "department": SECRETARIAT},
            ],
            "plan": {
                "key": "dx-2024",
                "title": f"{name}DX推進計画 実施計画（令和6〜7年度）",
                "kind": "実施計画",
                "period": {"start": BASE_YEAR, "end": ALERT_YEAR},
                "level_labels": ["基本方針", "施策", "事業量"],
            },
            "nodes": groups,
            "indicators": indicators,
        }
    )


def synthetic_directory(slug: str, name: str) -> dict[str, Any]:
    since = "2024-04-01"
    people: list[dict[str, Any]] = [
        {
            "id": f"cio@{slug}",
            "name": "副区長（CIO）",
            "email": f"cio@{slug}.example.jp",
            "assignments": [
                {"post": "CIO", "valid_from": since},
                {"body": "DX推進本部", "title": "本部員（CIO）", "valid_from": since},
            ],
        },
        {
            "id": f"jimukyoku@{slug}",
            "name": "事務局（情報政策課）",
            "email": f"jimukyoku@{slug}.example.jp",
            "assignments": [{"department": SECRETARIAT, "post": "事務局", "valid_from": since}],
        },
        {
            "id": f"honbu@{slug}",
            "name": "政策経営部長",
            "email": f"honbu@{slug}.example.jp",
            "assignments": [{"body": "DX推進本部", "title": "本部員", "valid_from": since}],
            "preferences": {"cadence": "weekly"},
        },
    ]
    for i, (ka, _bu) in enumerate(DEPARTMENTS):
        people.append(
            {
                "id": f"ka{i + 1:02d}@{slug}",
                "name": f"{ka}長",
                "email": f"ka{i + 1:02d}@{slug}.example.jp",
                "assignments": [
                    {"department": ka, "post": "課長", "title": "課長", "valid_from": since}
                ],
            }
        )
    return {
        "tenant": slug,
        "name": name,
        "digest": {"weekly_weekday": 0, "weekly_time": "08:30"},
        "escalation": [{"post": "事務局"}, {"post": "CIO"}],
        "departments": [{"code": ka, "name": ka, "bu": bu} for ka, bu in DEPARTMENTS],
        "bodies": [{"code": "DX推進本部", "name": "DX推進本部"}],
        "posts": [
            {"code": "CIO", "name": "情報統括責任者（CIO）"},
            {"code": "事務局", "name": "DX推進本部 事務局"},
            {"code": "課長", "name": "課長"},
        ],
        "people": people,
        "rules": [
            {
                "name": "指標の未達見込み → 所管課・事務局",
                "kinds": ["indicator_off_track"],
                "targets": [{"department": "$owner"}, {"post": "事務局"}],
                "escalate": True,
            },
            {
                "name": "施策の未達成 → DX推進本部・CIO",
                "kinds": ["measure_failing"],
                "targets": [{"body": "DX推進本部"}, {"post": "CIO"}],
            },
        ],
    }


def slots_of(plan_file: PlanFile) -> list[Slot]:
    """Indicators with a numeric 以上 target for both plan years (reportable as one value)."""
    found = []
    for indicator in plan_file.indicators:
        if indicator.sub_series or indicator.qualitative or indicator.milestone:
            continue
        if indicator.aggregation is not Aggregation.PER_YEAR:
            continue
        targets = {
            t.fiscal_year: Decimal(str(t.value))
            for t in indicator.targets
            if t.value is not None
            and t.comparator is Comparator.AT_LEAST
            and t.sub_series is None
            and t.from_fiscal_year is None
        }
        if BASE_YEAR in targets and ALERT_YEAR in targets and targets[ALERT_YEAR] > 1:
            found.append(Slot(plan_file.tenant.slug, indicator.key, indicator.unit, targets))
    return found


def build_workload(config: Config, directory: Path) -> Workload:
    rng = random.Random(config.seed)
    real = load_plan_file(REAL_PLAN)
    plans: list[tuple[Path, PlanFile]] = [(REAL_PLAN, real)]
    directories = [REAL_DIRECTORY]
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, config.tenants + 1):
        plan_file = synthetic_plan(n, config.measures, rng)
        slug = plan_file.tenant.slug
        path = directory / f"{slug}.yaml"
        path.write_text(
            yaml.safe_dump(synthetic_directory(slug, plan_file.tenant.name), allow_unicode=True),
            encoding="utf-8",
        )
        plans.append((directory / f"{slug}-plan", plan_file))
        directories.append(path)
    slots = [slot for _, pf in plans for slot in slots_of(pf)]
    measures = sum(
        1 for _, pf in plans for _, _, node in pf.iter_nodes() if node.kind.value == "measure"
    )
    return Workload(plans, directories, slots, [pf.tenant.slug for _, pf in plans], measures)


class Reports:
    """Builds `indicator.reported` events: background re-reports and off-track alerts."""

    def __init__(self, workload: Workload, config: Config, run: str) -> None:
        self.slots = workload.slots
        self.rng = random.Random(config.seed + 1)
        self.fresh = list(self.slots)
        self.rng.shuffle(self.fresh)
        self.alert_every = config.alert_every
        self.run = run

    def event(self, slot: Slot, fy: int, value: Decimal, key: str) -> tuple[bytes, bytes, float]:
        sent = time.time()
        envelope = new_event(
            IndicatorReported(
                indicator_key=slot.key,
                period=f"FY{fy}",
                value=value,
                unit=slot.unit,
                source="bench: 基幹系システム連携",
                idempotency_key=f"bench:{self.run}:{key}",
            ),
            tenant=slot.tenant,
            aggregate_id=slot.key,
            producer="bench",
            occurred_at=datetime.fromtimestamp(sent, UTC),
        )
        return envelope.key, envelope.to_bytes(), sent

    def on_target(self, slot: Slot, key: str) -> tuple[bytes, bytes, float]:
        target = slot.targets[BASE_YEAR]
        value = (target * Decimal(str(round(self.rng.uniform(1.0, 1.3), 3)))).quantize(1)
        return self.event(slot, BASE_YEAR, max(value, target), key)

    def is_alert(self, seq: int) -> bool:
        return self.alert_every > 0 and (seq + 1) % self.alert_every == 0

    def next(self, phase: str, seq: int) -> tuple[bytes, bytes, float, Slot | None]:
        """The seq-th report of a phase; the slot is given when it is an alert."""
        key = f"{phase}:{seq}"
        if self.is_alert(seq):
            slot = self.fresh.pop()
            low = (slot.targets[ALERT_YEAR] * Decimal("0.3")).quantize(1)
            return (*self.event(slot, ALERT_YEAR, low, key), slot)
        return (*self.on_target(self.rng.choice(self.slots), key), None)

    def alerts_in(self, count: int) -> int:
        return count // self.alert_every if self.alert_every > 0 else 0


# --- processes: memory and CPU -----------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kib(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _pss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


@dataclass
class Sample:
    rss_mib: float
    hwm_mib: float | None
    cpu_s: float


class Processes:
    """The platform's processes by name; PostgreSQL counts all of its processes (PSS)."""

    def __init__(self, stack: Stack) -> None:
        self.pids: dict[str, int] = {name: p.pid for name, p in stack.children.items()}
        if stack.sink is not None:
            self.pids["smtp sink"] = stack.sink.pid
        if stack.broker is not None and stack.broker.process is not None:
            self.pids["broker (tansu)"] = stack.broker.process.pid
        self.postmaster: int | None = None
        if stack.postgres is not None:
            pidfile = stack.postgres.pgdata / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError):
                self.postmaster = int(pidfile.read_text().split()[0])

    def sample(self) -> dict[str, Sample]:
        out = {
            name: Sample(
                _status_kib(pid, "VmRSS") / 1024,
                _status_kib(pid, "VmHWM") / 1024,
                _cpu_seconds(pid),
            )
            for name, pid in self.pids.items()
        }
        if self.postmaster is not None:
            tree = _tree(self.postmaster)
            out["postgresql (PSS, all)"] = Sample(
                sum(_pss_kib(p) for p in tree) / 1024, None, sum(_cpu_seconds(p) for p in tree)
            )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        out["bench client"] = Sample(
            _status_kib(os.getpid(), "VmRSS") / 1024,
            _status_kib(os.getpid(), "VmHWM") / 1024,
            usage.ru_utime + usage.ru_stime,
        )
        return out


# --- pipeline probes ---------------------------------------------------------------------------


class Pipeline:
    """Reads the platform's state: consumer progress, topic ends, outboxes, timestamps."""

    def __init__(self, stack: Stack, settings: PlatformSettings) -> None:
        self.stack = stack
        self.settings = settings
        self.urls = {s.name: s.base_url for s in stack.specs}
        self.schemas = {
            name: settings.schema_name(name) for name in ("plans", "indicators", "notifications")
        }
        self.db: asyncpg.Pool | None = None
        self.http = httpx.AsyncClient(timeout=10)
        self.kafka = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        self.partitions: dict[str, list[TopicPartition]] = {}

    async def __aenter__(self) -> Pipeline:
        self.db = await asyncpg.create_pool(self.settings.database_url, min_size=1, max_size=2)
        await self.kafka.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kafka.stop()
        await self.http.aclose()
        if self.db is not None:
            await self.db.close()

    def table(self, service: str, name: str) -> str:
        return f'"{self.schemas[service]}".{name}'

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        assert self.db is not None
        return list(await self.db.fetch(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        assert self.db is not None
        return await self.db.fetchval(sql, *args)

    async def end_offset(self, topic: str) -> int:
        name = self.settings.topic(topic)
        if name not in self.partitions:
            await self.kafka.topics()  # refresh metadata
            found = self.kafka.partitions_for_topic(name) or set()
            if not found:
                return 0
            self.partitions[name] = [TopicPartition(name, p) for p in sorted(found)]
        ends = await self.kafka.end_offsets(self.partitions[name])
        return int(sum(ends.values()))

    async def consumers(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(service, topic) -> (processed, dead-lettered) from each service's /metrics."""
        out: dict[tuple[str, str], tuple[int, int]] = {}
        for service in ("plans", "indicators", "notifications"):
            text = (await self.http.get(f"{self.urls[service]}/metrics")).text
            for line in text.splitlines():
                if not line.startswith(("suishin_consumer_processed", "suishin_consumer_dead")):
                    continue
                labels, value = line.rsplit(" ", 1)
                consumer = labels.split('consumer="', 1)[1].split('"', 1)[0]
                topic = consumer.split(":", 1)[1]
                done, dead = out.get((service, topic), (0, 0))
                if line.startswith("suishin_consumer_processed"):
                    done = int(float(value))
                else:
                    dead = int(float(value))
                out[(service, topic)] = (done, dead)
        return out

    async def pending(self) -> int:
        total = 0
        for service in self.schemas:
            total += int(
                await self.fetchval(
                    f"select count(*) from {self.table(service, 'outbox')} "
                    "where published_at is null"
                )
            )
        return total

    async def snapshot(self) -> tuple[bool, dict[str, int]]:
        """(idle, topic end offsets): every consumer at its topic's end, no outbox pending."""
        if await self.pending():
            return False, {}
        ends = {t: await self.end_offset(t) for t in topics.ALL_TOPICS}
        for (_, topic), (done, _) in (await self.consumers()).items():
            if done < ends.get(topic, 0):
                return False, ends
        return await self.pending() == 0, ends

    async def wait_idle(self, timeout: float) -> float:
        """Wait until two snapshots in a row are idle with the same topic ends.

        A snapshot scrapes three services' /metrics and asks the broker and PostgreSQL, so it
        is taken every :data:`IDLE_POLL_S`: the figures come from the services' own timestamps,
        not from when idleness is seen, and a faster poll only takes CPU from the platform it
        measures (every 100 ms, 0.2-0.4 CPU s of the client's and the services' during a
        20,000 burst; docs/benchmarks.md, eighth round)."""
        deadline = time.monotonic() + timeout
        previous: dict[str, int] | None = None
        while time.monotonic() < deadline:
            idle, ends = await self.snapshot()
            if idle and ends == previous:
                return time.time()
            previous = ends if idle else None
            await asyncio.sleep(IDLE_POLL_S)
        raise TimeoutError(f"the pipeline did not go idle within {timeout:.0f}s")

    async def dead_lettered(self) -> int:
        return sum(dead for _, dead in (await self.consumers()).values())

    async def stored_reports(self, prefix: str) -> tuple[int, float | None]:
        row = (
            await self.fetch(
                f"select count(*) as n, max(received_at) as last "
                f"from {self.table('indicators', 'measurements')} where idempotency_key like $1",
                prefix + "%",
            )
        )[0]
        return int(row["n"]), row["last"].timestamp() if row["last"] else None

    async def notifications_since(self, since: float) -> dict[str, Any]:
        at = datetime.fromtimestamp(since, UTC)
        rows = await self.fetch(
            f"select kind, count(*) as n from {self.table('notifications', 'notifications')} "
            "where created_at >= $1 group by kind",
            at,
        )
        announced = [
            row["published_at"]
            for row in await self.fetch(
                f"select body, published_at from {self.table('notifications', 'outbox')} "
                "where created_at >= $1 and topic like $2",
                at,
                f"%{topics.NOTIFICATION_DELIVERED}",
            )
            if json.loads(row["body"])["payload"]["channel"] == "inbox" and row["published_at"]
        ]
        last = max(announced, default=None)
        changes = await self.fetchval(
            f"select count(*) from {self.table('indicators', 'outbox')} "
            "where created_at >= $1 and topic like $2",
            at,
            f"%{topics.INDICATOR_STATUS_CHANGED}",
        )
        grades = await self.fetchval(
            f"select count(*) from {self.table('plans', 'outbox')} "
            "where created_at >= $1 and topic like $2",
            at,
            f"%{topics.MEASURE_EVALUATED}",
        )
        return {
            "by_kind": {r["kind"]: int(r["n"]) for r in rows},
            "inbox_entries": sum(int(r["n"]) for r in rows),
            "last_announced": last.timestamp() if last else None,
            "status_changes": int(changes),
            "measure_grades": int(grades),
        }

    async def hops(self, since: float, alerts: dict[UUID, float]) -> dict[UUID, dict[str, float]]:
        """Per alerted indicator: when each service stored or published its part."""
        at = datetime.fromtimestamp(since, UTC)
        out: dict[UUID, dict[str, float]] = {i: {} for i in alerts}
        period = f"FY{ALERT_YEAR}"
        for row in await self.fetch(
            f"select indicator_id, received_at from {self.table('indicators', 'measurements')} "
            "where received_at >= $1 and period = $2",
            at,
            period,
        ):
            key = row["indicator_id"]
            if key in out:
                out[key]["stored"] = row["received_at"].timestamp()
        for row in await self.fetch(
            f"select body, published_at from {self.table('indicators', 'outbox')} "
            "where created_at >= $1 and topic like $2",
            at,
            f"%{topics.INDICATOR_STATUS_CHANGED}",
        ):
            payload = json.loads(row["body"])["payload"]
            key = UUID(payload["indicator_id"])
            if key in out and payload["period"] == period and row["published_at"]:
                out[key]["status_published"] = row["published_at"].timestamp()
        notified: dict[UUID, UUID] = {}
        for row in await self.fetch(
            f"select id, link, created_at from {self.table('notifications', 'notifications')} "
            "where created_at >= $1 and kind = 'indicator_off_track' "
            "and recipient_id like 'jimukyoku@%'",
            at,
        ):
            key = UUID(row["link"].split(":", 1)[1])
            if key in out:
                out[key]["notification_stored"] = row["created_at"].timestamp()
                notified[row["id"]] = key
        for row in await self.fetch(
            f"select body, published_at from {self.table('notifications', 'outbox')} "
            "where created_at >= $1 and topic like $2",
            at,
            f"%{topics.NOTIFICATION_DELIVERED}",
        ):
            payload = json.loads(row["body"])["payload"]
            nid = UUID(payload["notification_id"])
            if nid in notified and payload["channel"] == "inbox" and row["published_at"]:
                out[notified[nid]]["notification_published"] = row["published_at"].timestamp()
        return out


# --- live inbox (what a portal sees) -----------------------------------------------------------


@dataclass
class LiveInbox:
    """The 事務局 of every ward, subscribed to ``notificationReceived`` through the gateway."""

    url: str
    settings: PlatformSettings
    tenants: Sequence[str]
    pushes: dict[UUID, float] = field(default_factory=dict)
    received: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def __aenter__(self) -> LiveInbox:
        query = "subscription { notificationReceived { kind link } }"
        for tenant in self.tenants:
            token = issue_token(
                self.settings,
                subject=f"jimukyoku@{tenant}",
                tenant=tenant,
                roles=["admin", "viewer"],
                posts=["事務局"],
            )
            client = await self._stack.enter_async_context(GraphQLWSClient.open(self.url, token))
            await client.subscribe(query)
            self._tasks.append(asyncio.create_task(self._listen(client)))
        return self

    async def _listen(self, client: GraphQLWSClient) -> None:
        while True:
            message = json.loads(await client.ws.recv())
            now = time.time()
            if message.get("type") != "next":
                continue
            self.received += 1
            node = message["payload"]["data"]["notificationReceived"]
            if node["kind"] == "indicator_off_track" and node["link"]:
                self.pushes.setdefault(UUID(node["link"].split(":", 1)[1]), now)

    async def wait_for(self, alerts: dict[UUID, float], timeout: float) -> None:
        """Until every alert was pushed (or ``timeout``: missing ones count as not pushed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(a in self.pushes for a in alerts):
                return
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stack.aclose()


# --- phases ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


IDLE_POLL_S = 0.5
"""How often :meth:`Pipeline.wait_idle` looks."""


def spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def publish_burst(
    producer: AIOKafkaProducer, topic: str, reports: Reports, count: int
) -> tuple[float, float, dict[UUID, float]]:
    built = [reports.next("burst", seq) for seq in range(count)]
    alerts = {slot.indicator_id: 0.0 for *_, slot in built if slot is not None}
    first = time.time()
    futures = [await producer.send(topic, value=value, key=key) for key, value, _, _ in built]
    await asyncio.gather(*futures)
    return first, time.time(), alerts


async def publish_steady(
    producer: AIOKafkaProducer, topic: str, reports: Reports, rate: float, duration: float
) -> tuple[float, float, dict[UUID, float], float]:
    count = int(rate * duration)
    alerts: dict[UUID, float] = {}
    futures = []
    start = time.time()
    late = 0.0
    for seq in range(count):
        due = start + seq / rate
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        key, value, sent, slot = reports.next("steady", seq)
        futures.append(await producer.send(topic, value=value, key=key))
        if slot is not None:
            alerts[slot.indicator_id] = sent
    await asyncio.gather(*futures)
    return start, time.time(), alerts, late


async def minimal_loop(
    settings: PlatformSettings, producer: AIOKafkaProducer, reports: Reports, count: int, run: str
) -> dict[str, Any]:
    """The ceiling of an idempotent consumer on this stack: ``count`` reports (the burst's
    payloads) published as fast as possible to a topic of their own, then consume a batch →
    parse every envelope → insert its event id into a dedup table (one ``unnest`` insert, one
    transaction) → commit the offsets. Rate = count / (last offsets committed − first publish),
    the same definition as the end-to-end figure."""
    topic = settings.topic(f"bench.loop.{run}")
    schema = f"{settings.schema_prefix}bench_loop_{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=settings.topic_partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    db = await asyncpg.connect(settings.database_url)
    await db.execute(
        f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".inbox '
        "(consumer text, event_id uuid, PRIMARY KEY (consumer, event_id))"
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"bench-loop-{run}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        events = [
            reports.on_target(reports.rng.choice(reports.slots), f"loop:{i}") for i in range(count)
        ]
        first = time.time()
        await asyncio.gather(*[await producer.send(topic, value=v, key=k) for k, v, _ in events])
        published = time.time()
        done = 0
        while done < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            ids_ = [
                UUID(json.loads(record.value)["event_id"])
                for records in batch.values()
                for record in records
                if record.value is not None
            ]
            if not ids_:
                continue
            async with db.transaction():
                await db.execute(
                    f'INSERT INTO "{schema}".inbox (consumer, event_id) '
                    "SELECT 'loop', unnest($1::uuid[]) ON CONFLICT DO NOTHING",
                    ids_,
                )
            await consumer.commit()
            done += len(ids_)
        last = time.time()
        stored = await db.fetchval(f'SELECT count(*) FROM "{schema}".inbox')
    finally:
        await consumer.stop()
        await db.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await db.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:  # an external Kafka keeps no benchmark topic
            with contextlib.suppress(Exception):
                await admin.delete_topics([topic])
        finally:
            await admin.close()
    return {
        "events": count,
        "stored": stored,
        "publish_s": round(published - first, 3),
        "done_s": round(last - first, 3),
        "events_per_s": round(count / (last - first)),
    }


async def measure(stack: Stack, workload: Workload, config: Config, say: Say) -> dict[str, Any]:
    settings = demo_settings(stack)
    processes = Processes(stack)
    memory: dict[str, dict[str, Sample]] = {"startup": processes.sample()}
    run = secrets.token_hex(3)
    result: dict[str, Any] = {"run": run}

    # 1. Workload (not timed).
    started = time.monotonic()
    await import_plans(workload.plans, settings, lambda _m: None)
    await load_directories(
        workload.directories,
        NotificationsSettings(
            database_url=settings.database_url,
            kafka_bootstrap=settings.kafka_bootstrap,
            schema_prefix=settings.schema_prefix,
            topic_prefix=settings.topic_prefix,
        ),
    )
    say(
        f"loaded {len(workload.tenants)} wards, {workload.measures} measures, "
        f"{len(workload.slots)} reportable indicators in {time.monotonic() - started:.1f}s"
    )
    reports = Reports(workload, config, run)
    topic = settings.topic(topics.INDICATOR_REPORTED)
    gateway = next(s for s in stack.specs if s.name == "gateway")
    ws_url = f"{gateway.base_url}/graphql".replace("http://", "ws://")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        async with (
            Pipeline(stack, settings) as pipeline,
            LiveInbox(ws_url, settings, workload.tenants) as live,
        ):
            started = time.monotonic()
            prime = [reports.on_target(slot, f"prime:{i}") for i, slot in enumerate(workload.slots)]
            await asyncio.gather(*[await producer.send(topic, value=v, key=k) for k, v, _ in prime])
            await pipeline.wait_idle(config.timeout)
            took = time.monotonic() - started
            say(f"FY{BASE_YEAR} reported for every indicator; idle after {took:.1f}s")
            memory["loaded"] = processes.sample()
            # the client's own full collections (up to 134 ms with the workload's objects) must
            # not be timed as the platform's latency: its heap is frozen, like the services'
            freeze_heap()

            # 2. Throughput.
            if config.events > 0:
                say(f"burst: {config.events} reports ...")
                first, last_sent, alerts = await publish_burst(
                    producer, topic, reports, config.events
                )
                idle_at = await pipeline.wait_idle(config.timeout)
                stored, last_stored = await pipeline.stored_reports(f"bench:{run}:burst:")
                notes = await pipeline.notifications_since(first)
                done = max(t for t in (last_stored, notes["last_announced"]) if t is not None)
                result["throughput"] = {
                    "events": config.events,
                    "alerts": len(alerts),
                    "publish_s": round(last_sent - first, 3),
                    "publish_per_s": round(config.events / (last_sent - first)),
                    "reports_stored": stored,
                    "all_stored_s": round((last_stored or first) - first, 3),
                    "done_s": round(done - first, 3),
                    "idle_detected_s": round(idle_at - first, 3),
                    "events_per_s": round(config.events / (done - first)),
                    **notes,
                }
                memory["after burst"] = processes.sample()
                say(
                    f"  {result['throughput']['events_per_s']:,} events/s end to end "
                    f"({notes['inbox_entries']} inbox entries)"
                )
                say(f"minimal idempotent loop: {config.events} reports ...")
                loop = await minimal_loop(settings, producer, reports, config.events, run)
                loop["end_to_end_ratio"] = round(
                    result["throughput"]["events_per_s"] / loop["events_per_s"], 3
                )
                result["minimal_loop"] = loop
                say(
                    f"  {loop['events_per_s']:,} events/s; end to end is "
                    f"{loop['end_to_end_ratio']:.1%} of it"
                )
                memory["after loop"] = processes.sample()

            # 3. Latency at a steady rate.
            if config.duration > 0 and config.rate > 0:
                say(f"steady: {config.rate:g} reports/s for {config.duration:g}s ...")
                start, end, alerts, late = await publish_steady(
                    producer, topic, reports, config.rate, config.duration
                )
                idle_at = await pipeline.wait_idle(config.timeout)
                await live.wait_for(alerts, timeout=30)
                hops = await pipeline.hops(start, alerts)
                stored, _ = await pipeline.stored_reports(f"bench:{run}:steady:")
                notes = await pipeline.notifications_since(start)
                count = int(config.rate * config.duration)
                push = [live.pushes[a] - sent for a, sent in alerts.items() if a in live.pushes]
                inbox = [
                    h["notification_stored"] - alerts[a]
                    for a, h in hops.items()
                    if "notification_stored" in h
                ]
                steps = (
                    ("report stored", "stored", None),
                    ("status change published", "status_published", "stored"),
                    ("notification stored", "notification_stored", "status_published"),
                    (
                        "notification.delivered published",
                        "notification_published",
                        "notification_stored",
                    ),
                )
                per_hop: dict[str, list[float]] = {}
                for label, to, frm in steps:
                    per_hop[label] = [
                        h[to] - (h[frm] if frm else alerts[a])
                        for a, h in hops.items()
                        if to in h and (frm is None or frm in h)
                    ]
                per_hop["pushed to the client by the gateway"] = [
                    live.pushes[a] - h["notification_published"]
                    for a, h in hops.items()
                    if a in live.pushes and "notification_published" in h
                ]
                breakdown = {
                    label: round(percentile(v, 0.5) * 1000, 1) if v else None
                    for label, v in per_hop.items()
                }
                hop_spread = {label: spread(v) for label, v in per_hop.items()}
                result["latency"] = {
                    "rate": config.rate,
                    "duration_s": config.duration,
                    "events": count,
                    "offered_per_s": round(count / (end - start)),
                    "max_publish_lag_ms": round(late * 1000, 1),
                    "reports_stored": stored,
                    "idle_after_last_publish_s": round(idle_at - end, 3),
                    "alerts": len(alerts),
                    "pushed": len(push),
                    "publish_to_live_push": spread(push),
                    "publish_to_inbox_stored": spread(inbox),
                    "median_hops_ms": breakdown,
                    "hops": hop_spread,
                    **notes,
                }
                memory["after steady"] = processes.sample()
            result["dead_lettered"] = await pipeline.dead_lettered()
            result["live_pushes_received"] = live.received
    finally:
        await producer.stop()
    memory["end"] = processes.sample()
    result["memory"] = {
        phase: {name: asdict(sample) for name, sample in samples.items()}
        for phase, samples in memory.items()
    }
    return result


# --- running it --------------------------------------------------------------------------------


def free_port_block(size: int = 8) -> int:
    """Consecutive free ports below the ephemeral range (as tests/e2e/conftest.py)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        if not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def run(
    config: Config,
    *,
    env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    say: Say = print,
) -> dict[str, Any]:
    """Start the platform, run the benchmark, stop everything; return every figure."""
    env = dict(os.environ if env is None else env)
    external = bool(env.get("SUISHIN_DATABASE_URL") or env.get("SUISHIN_KAFKA_BOOTSTRAP"))
    if external and not env.get("SUISHIN_SCHEMA_PREFIX") and not env.get("SUISHIN_TOPIC_PREFIX"):
        prefix = "bench" + secrets.token_hex(3)
        env["SUISHIN_SCHEMA_PREFIX"] = f"{prefix}_"
        env["SUISHIN_TOPIC_PREFIX"] = f"{prefix}."
    base = free_port_block()
    # base .. base+5: gateway, services, SMTP sink, portal (suishin up's layout)
    env.setdefault("SUISHIN_PG_PORT", str(base + 6))
    env.setdefault("SUISHIN_BROKER_PORT", str(base + 7))
    env.setdefault("SUISHIN_SMTP_PORT", str(base + 4))
    env.setdefault("SUISHIN_LOG_JSON", "false")
    owned = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="suishin-bench-")) if data_dir is None else data_dir
    workload = build_workload(config, root / "workload")
    needed = reports_needed(config)
    if needed > len(workload.slots):
        raise SystemExit(
            f"{needed} alerts need as many indicators; the workload has {len(workload.slots)}: "
            "raise --tenants or --measures, or lower --events/--duration"
        )
    stack = Stack(root / "platform", base_port=base, env=env, say=lambda m: say(m.strip()))
    result: dict[str, Any] = {
        "machine": machine(),
        "config": asdict(config),
        "infrastructure": "external" if external else "embedded",
    }
    try:
        started = time.monotonic()
        stack.start_infrastructure()
        stack.start_services(timeout=180)
        result["startup_s"] = round(time.monotonic() - started, 1)
        result.update(asyncio.run(measure(stack, workload, config, say)))
    finally:
        stack.stop()
        if owned:
            shutil.rmtree(root, ignore_errors=True)
    return result


def reports_needed(config: Config) -> int:
    """Fresh indicators the alerts use (each alert drives a different one off track)."""
    if config.alert_every <= 0:
        return 0
    return config.events // config.alert_every + int(config.rate * config.duration) // (
        config.alert_every
    )


# --- output ------------------------------------------------------------------------------------


def _ms(stats: dict[str, float] | None) -> str:
    if not stats:
        return "-"
    return (
        f"p50 {stats['p50_ms']:.0f} / p95 {stats['p95_ms']:.0f} / p99 {stats['p99_ms']:.0f} / "
        f"max {stats['max_ms']:.0f} ms (n={stats['n']:.0f})"
    )


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"machine      {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"load {m['load_average_at_start']}",
        f"platform     {result['infrastructure']} PostgreSQL + broker; started in "
        f"{result['startup_s']} s",
    ]
    t = result.get("throughput")
    if t:
        lines += [
            "",
            f"throughput   {t['events']} reports in a burst, {t['alerts']} of them alerts",
            f"  published          {t['publish_s']:.2f} s ({t['publish_per_s']:,} events/s)",
            f"  all stored         {t['all_stored_s']:.2f} s after the first publish",
            f"  done               {t['done_s']:.2f} s (idle seen at {t['idle_detected_s']:.2f} s)",
            f"  END TO END         {t['events_per_s']:,} events/s",
            f"  downstream         {t['status_changes']} status changes, {t['measure_grades']} "
            f"grades, {t['inbox_entries']} inbox entries {t['by_kind']}",
        ]
    loop = result.get("minimal_loop")
    if loop:
        lines += [
            f"  minimal idempotent loop (consume → parse → dedup insert → commit), same burst "
            f"on the same broker and PostgreSQL: {loop['events_per_s']:,} events/s "
            f"(done in {loop['done_s']:.2f} s)",
            f"  END TO END / LOOP  {loop['end_to_end_ratio']:.1%}",
        ]
    lat = result.get("latency")
    if lat:
        lines += [
            "",
            f"latency      {lat['rate']:g} reports/s for {lat['duration_s']:g} s "
            f"({lat['events']} reports, offered {lat['offered_per_s']}/s), {lat['alerts']} alerts",
            f"  publish → live push (事務局)   {_ms(lat['publish_to_live_push'])}",
            f"  publish → inbox entry stored   {_ms(lat['publish_to_inbox_stored'])}",
            f"  idle {lat['idle_after_last_publish_s']:.2f} s after the last publish; "
            f"{lat['inbox_entries']} inbox entries",
            "  median per hop (ms): "
            + ", ".join(f"{k} {v}" for k, v in lat["median_hops_ms"].items()),
        ]
        lines += [f"    {k:<34} {_ms(v)}" for k, v in lat.get("hops", {}).items() if v]
    memory = result["memory"]
    phases = list(memory)
    last = phases[-1]
    lines += [
        "",
        f"{'process':<22} {'RSS startup':>12} {'after burst':>12} {'RSS end':>9} {'peak':>9}  "
        "CPU s by phase",
    ]
    for name in memory["startup"]:
        start, end = memory["startup"][name], memory[last][name]
        peak = f"{end['hwm_mib']:.0f}" if end["hwm_mib"] is not None else "-"
        burst = memory.get("after burst", {}).get(name)
        after_burst = f"{burst['rss_mib']:>8.0f} MiB" if burst else f"{'-':>12}"
        cpu = []
        for before, after in itertools.pairwise(phases):
            used = memory[after][name]["cpu_s"] - memory[before][name]["cpu_s"]
            cpu.append(f"{after} {used:.1f}")
        lines.append(
            f"{name:<22} {start['rss_mib']:>9.0f} MiB {after_burst} {end['rss_mib']:>5.0f} MiB "
            f"{peak:>5} MiB  " + ", ".join(cpu)
        )
    lines.append(f"dead-lettered: {result['dead_lettered']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    defaults = Config()
    parser.add_argument("--events", "--burst", type=int, default=defaults.events, help="burst size")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="reports/s, steady")
    parser.add_argument("--duration", type=float, default=defaults.duration, help="seconds")
    parser.add_argument("--alert-every", type=int, default=defaults.alert_every)
    parser.add_argument("--tenants", type=int, default=defaults.tenants)
    parser.add_argument("--measures", type=int, default=defaults.measures)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--timeout", type=float, default=defaults.timeout)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--data-dir", type=Path, help="keep the platform's data here")
    args = parser.parse_args(argv)
    config = Config(
        events=args.events,
        rate=args.rate,
        duration=args.duration,
        alert_every=args.alert_every,
        tenants=args.tenants,
        measures=args.measures,
        seed=args.seed,
        timeout=args.timeout,
    )
    result = run(config, data_dir=args.data_dir)
    print()
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
