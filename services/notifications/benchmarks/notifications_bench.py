"""Benchmark of the notifications event path on the embedded PostgreSQL of this machine.

    uv run python services/notifications/benchmarks/notifications_bench.py
    uv run python services/notifications/benchmarks/notifications_bench.py --profile

Calls the ``indicator.status_changed`` handler directly (no broker) with batches of events, as
the consumer does, and counts the SQL statements each batch sends. Workload: ``--tenants``
synthetic wards, each with ``--departments`` departments that have one 課長 each, a 事務局 and
a CIO, and the default rules (off track → owning department + 事務局). Phases:

1. off track: every event a fresh indicator off track → one alert, two inbox entries, two
   e-mails, two ``notification.delivered`` events;
2. the same batches again (a redelivery): nothing more;
3. recovered: every indicator back on track → alert resolved, a "recovered" notice to both.

``--profile`` runs phase 1 under pyinstrument (``uv pip install pyinstrument``) and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from suishin.contracts import topics
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope, Figures, IndicatorStatusChanged, new_event
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.runtime import runtime_of
from suishin.notifications.settings import NotificationsSettings

WED = datetime(2025, 6, 11, 10, 0, tzinfo=JST)  # a business day, outside quiet hours


class StatementCounter:
    """Counts every statement sent by any asyncpg connection (query loggers on all of them)."""

    def __init__(self) -> None:
        self.count = 0
        original = asyncpg.connection.Connection.__init__
        counter = self

        def init(conn: Any, *args: Any, **kwargs: Any) -> None:
            original(conn, *args, **kwargs)
            conn.add_query_logger(counter.log)

        asyncpg.connection.Connection.__init__ = init  # type: ignore[method-assign]

    def log(self, _record: Any) -> None:
        self.count += 1


def directory(tenant: str, departments: int) -> Directory:
    people: list[dict[str, Any]] = [
        {"id": f"cio@{tenant}", "name": "CIO", "email": f"cio@{tenant}.example.jp",
         "assignments": [{"post": "CIO"}]},
        {"id": f"jimukyoku@{tenant}", "name": "事務局", "email": f"jimukyoku@{tenant}.example.jp",
         "assignments": [{"department": "d00", "post": "事務局"}]},
    ]  # fmt: skip
    for d in range(departments):
        people.append(
            {
                "id": f"kacho{d:02d}@{tenant}",
                "name": f"課長 {d}",
                "email": f"kacho{d:02d}@{tenant}.example.jp",
                "assignments": [{"department": f"d{d:02d}", "post": "課長"}],
            }
        )
    return Directory.model_validate(
        {
            "tenant": tenant,
            "name": tenant,
            "escalation": [{"post": "事務局"}, {"post": "CIO"}],
            "departments": [{"code": f"d{d:02d}", "name": f"第{d}課"} for d in range(departments)],
            "posts": [
                {"code": "CIO", "name": "CIO"},
                {"code": "事務局", "name": "事務局"},
                {"code": "課長", "name": "課長"},
            ],
            "people": people,
            "rules": [
                {
                    "name": "off track",
                    "kinds": ["indicator_off_track"],
                    "targets": [{"department": "$owner", "post": "課長"}, {"post": "事務局"}],
                    "escalate": True,
                },
                {
                    "name": "overdue",
                    "kinds": ["report_overdue"],
                    "targets": [{"department": "$owner", "post": "課長"}],
                },
            ],
        }
    )


def event(
    tenant: str, indicator: UUID, department: str, to: IndicatorStatus, before: IndicatorStatus
) -> Envelope[IndicatorStatusChanged]:
    return new_event(
        IndicatorStatusChanged(
            indicator_id=indicator,
            indicator_key=f"k-{indicator}",
            title="電子申請件数",
            period="FY2025",
            fiscal_year=2025,
            from_status=before,
            to_status=to,
            figures=Figures(actual=Decimal("10"), target=Decimal("100"), comparator="gte"),
            rule="cumulative_prorated",
            reason="bench",
            department_codes=[department],
        ),
        tenant=tenant,
        aggregate_id=str(indicator),
        producer="bench",
    )


async def run_phase(
    name: str,
    handler: Any,
    batches: Sequence[list[Envelope[Any]]],
    pool: asyncpg.Pool,
    counter: StatementCounter,
) -> None:
    before = await pool.fetchval("select count(*) from notifications")
    statements = counter.count
    t = time.perf_counter()
    for batch in batches:
        await handler(batch)
    elapsed = time.perf_counter() - t
    statements = counter.count - statements - 1  # minus the count below
    after = await pool.fetchval("select count(*) from notifications")
    events = sum(len(b) for b in batches)
    print(
        f"{name:<12} {events:>6} events in {len(batches)} batches: {elapsed:6.2f} s, "
        f"{events / elapsed:8.0f} events/s, {(after - before):>6} notifications, "
        f"{(statements + 1) / len(batches):6.1f} statements per batch"
    )


async def main(args: argparse.Namespace) -> None:
    counter = StatementCounter()
    rng = random.Random(7)
    with test_infrastructure() as infra:
        settings = isolated_settings(NotificationsSettings, infra)
        runtime, _app = build(settings, clock=FixedClock(WED), consume=False, background=False)
        async with started(runtime):
            tenants = [f"bench{t:02d}" for t in range(1, args.tenants + 1)]
            for tenant in tenants:
                await import_directory(runtime.pool, directory(tenant, args.departments))
            handler = runtime_of(runtime).handlers[topics.INDICATOR_STATUS_CHANGED]
            subjects = [
                (rng.choice(tenants), uuid4(), f"d{rng.randrange(args.departments):02d}")
                for _ in range(args.events)
            ]
            off = [
                event(t, i, d, IndicatorStatus.OFF_TRACK, IndicatorStatus.ON_TRACK)
                for t, i, d in subjects
            ]
            back = [
                event(t, i, d, IndicatorStatus.ON_TRACK, IndicatorStatus.OFF_TRACK)
                for t, i, d in subjects
            ]
            size = args.batch

            def chunks(events: list[Envelope[Any]]) -> list[list[Envelope[Any]]]:
                return [events[i : i + size] for i in range(0, len(events), size)]

            # warm up (templates, prepared statements) on a tenant of its own
            await import_directory(runtime.pool, directory("warmup", 2))
            await handler(
                [
                    event("warmup", uuid4(), "d00", IndicatorStatus.OFF_TRACK, s)
                    for s in (IndicatorStatus.ON_TRACK,) * 20
                ]
            )
            print(
                f"{args.tenants} tenants x {args.departments} departments, "
                f"batches of {size}, statements counted on every connection"
            )
            if args.profile:
                from pyinstrument import Profiler

                with Profiler(async_mode="enabled") as profiler:
                    await run_phase("off track", handler, chunks(off), runtime.pool, counter)
                profiler.print(show_all=False)
            else:
                await run_phase("off track", handler, chunks(off), runtime.pool, counter)
            await run_phase("redelivered", handler, chunks(off), runtime.pool, counter)
            await run_phase("recovered", handler, chunks(back), runtime.pool, counter)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--departments", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    asyncio.run(main(parser.parse_args()))
