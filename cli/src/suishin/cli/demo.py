"""Demo data for ``suishin up``: the reference plans, the ward directories, the 板橋区 DX2025
前期 actuals (sent through Kafka like an external system would) and demo users' tokens.

Everything here is idempotent: plan and directory imports change nothing the second time, and
the actuals carry deterministic idempotency keys, so restarting ``suishin up`` on the same data
directory loads nothing twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from aiokafka import AIOKafkaProducer

from suishin.cli import indicators_commands  # noqa: F401  (registers its import step)
from suishin.cli.plans_commands import IMPORT_STEPS, ImportContext
from suishin.cli.tokens import ROLE_PRESETS
from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.indicators.domain.model import sub_series_key
from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings

if TYPE_CHECKING:
    from suishin.cli.stack import Stack

Say = Callable[[str], None]

ACTUALS_PLAN = "itabashi-dx2025-early.yaml"  # the 前期 results the ward published


@dataclass(frozen=True)
class DemoUser:
    subject: str
    tenant: str
    preset: str
    departments: tuple[str, ...] = ()


def datasets_dir() -> Path:
    return Path(os.environ.get("SUISHIN_DATASETS_DIR", "datasets"))


def demo_settings(stack: Stack) -> PlatformSettings:
    env = stack.service_env()
    return PlatformSettings(
        database_url=stack.database_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        schema_prefix=env.get("SUISHIN_SCHEMA_PREFIX", ""),
        topic_prefix=env.get("SUISHIN_TOPIC_PREFIX", ""),
        jwt_secret=env.get("SUISHIN_JWT_SECRET", PlatformSettings().jwt_secret),
    )


def plan_files(directory: Path) -> list[tuple[Path, PlanFile]]:
    """Every plan file, predecessors first (by tenant, then start of the plan period)."""
    loaded = [(path, load_plan_file(path)) for path in sorted(directory.glob("*.yaml"))]
    return sorted(loaded, key=lambda item: (item[1].tenant.slug, item[1].plan.period.start))


async def import_plans(
    files: list[tuple[Path, PlanFile]], settings: PlatformSettings, say: Say
) -> None:
    for path, plan_file in files:
        summaries = []
        for step in IMPORT_STEPS:
            ctx = ImportContext(plan_file, str(path), settings, lambda *_: None)
            summaries.append(f"{step.name}: {await step.run(ctx)}")
        say(f"  {path.name:<36} " + "; ".join(summaries))


def actual_events(plan_file: PlanFile) -> list[Envelope[IndicatorReported]]:
    """The plan file's published actuals as `indicator.reported` events."""
    events = []
    for indicator in plan_file.indicators:
        for actual in indicator.actuals:
            if actual.value is None and not actual.text:
                continue
            series = f":{actual.sub_series}" if actual.sub_series else ""
            unit = (
                next((s.unit for s in indicator.sub_series if s.key == actual.sub_series), None)
                or indicator.unit
            )
            payload = IndicatorReported(
                # a sub-series is its own indicator, keyed "<indicator>/<sub-series>"
                indicator_key=sub_series_key(indicator.key, actual.sub_series)
                if actual.sub_series
                else indicator.key,
                period=actual.period,
                value=actual.value,
                text_value=None if actual.value is not None else actual.text,
                unit=unit,
                source=actual.source or "demo: published 前期 results",
                idempotency_key=f"demo:{indicator.key}:{actual.period}{series}",
                reported_by="demo",
            )
            events.append(
                new_event(
                    payload,
                    tenant=plan_file.tenant.slug,
                    aggregate_id=payload.indicator_key,
                    producer="suishin-demo",
                )
            )
    return events


async def publish(settings: PlatformSettings, events: Iterable[Envelope[IndicatorReported]]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
    )
    await producer.start()
    try:
        topic = settings.topic(topics.INDICATOR_REPORTED)
        futures = [await producer.send(topic, value=e.to_bytes(), key=e.key) for e in events]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def wait_for_ingest(indicators_url: str, count: int, timeout: float = 120.0) -> None:
    """Wait until the indicators service has consumed ``count`` more reported events."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            metrics = (await client.get(f"{indicators_url}/metrics")).text
            processed = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("suishin_consumer_processed_total")
                and topics.INDICATOR_REPORTED in line
            )
            if processed >= count:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the indicators service did not consume {count} demo actuals in time")


def demo_users(directory_files: list[Path]) -> list[DemoUser]:
    import yaml

    users = []
    for path in directory_files:
        data = yaml.safe_load(path.read_text("utf-8"))
        tenant = data["tenant"]
        for person in data.get("people", []):
            subject = person["id"]
            role = subject.split("@", 1)[0]
            if role not in ROLE_PRESETS:
                continue
            departments = (
                tuple(a["department"] for a in person.get("assignments", []) if a.get("department"))
                if role == "reporter"
                else ()
            )
            users.append(DemoUser(subject, tenant, role, departments))
    return users


def print_tokens(
    users: list[DemoUser], settings: PlatformSettings, data_dir: Path, say: Say
) -> None:
    lines = []
    for user in users:
        preset = ROLE_PRESETS[user.preset]
        token = issue_token(
            settings,
            subject=user.subject,
            tenant=user.tenant,
            roles=list(preset.roles),
            departments=list(user.departments),
            posts=list(preset.posts),
            ttl_seconds=7 * 24 * 3600,
        )
        dept = f" ({', '.join(user.departments)})" if user.departments else ""
        lines.append(f"{user.subject}{dept}\n  Authorization: Bearer {token}")
    path = data_dir / "demo-tokens.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"demo users ({len(users)}); tokens valid 7 days are in {path}:")
    for user in users:
        dept = f" ({', '.join(user.departments)})" if user.departments else ""
        say(f"  {user.subject:<22} {user.preset:<10}{dept}")
    say("  print one with: uv run suishin token --tenant itabashi --role cio")


def load_demo(stack: Stack, say: Say = print) -> None:
    directory = datasets_dir()
    if not directory.is_dir():
        say(f"demo data: {directory} not found (run from the repository root); skipped")
        return
    asyncio.run(_load(stack, directory, say))


async def _load(stack: Stack, directory: Path, say: Say) -> None:
    from suishin.cli.notifications_commands import load_directories
    from suishin.notifications.settings import NotificationsSettings

    settings = demo_settings(stack)
    started = time.monotonic()
    say("loading demo data ...")
    files = plan_files(directory)
    await import_plans(files, settings, say)

    directory_files = sorted((directory / "directory").glob("*.yaml"))
    notif_settings = NotificationsSettings(
        database_url=settings.database_url,
        kafka_bootstrap=settings.kafka_bootstrap,
        schema_prefix=settings.schema_prefix,
        topic_prefix=settings.topic_prefix,
    )
    for tenant, counts in (await load_directories(directory_files, notif_settings)).items():
        say(f"  directory {tenant:<10} " + ", ".join(f"{k} {v}" for k, v in counts.items()))

    early = next((pf for path, pf in files if path.name == ACTUALS_PLAN), None)
    if early is not None:
        events = actual_events(early)
        indicators = next(s for s in stack.specs if s.name == "indicators")
        await publish(settings, events)
        await wait_for_ingest(indicators.base_url, len(events))
        say(f"  reported {len(events)} published actuals of 板橋区 DX2025 前期 through Kafka")
    print_tokens(demo_users(directory_files), settings, stack.data_dir, say)
    say(f"demo data loaded in {time.monotonic() - started:.1f}s")
