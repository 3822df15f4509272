"""A consumer batch is decided in memory and written set-based: many events for many recipients
in one batch give exactly what the same events give one at a time, a redelivered batch gives
nothing more, and the number of statements does not grow with the batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
import pytest_asyncio

from suishin.contracts import topics
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.kit.clock import FixedClock
from suishin.notifications import commands
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain import triggers
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.runtime import NotificationsRuntime, runtime_of
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.storage.directory import SnapshotCache

pytestmark = pytest.mark.integration

WED = datetime(2025, 6, 11, 10, 0, tzinfo=JST)
BATCHED = ("batcha", "batchb", "batchc")
SINGLY = ("singlea", "singleb", "singlec")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(infra: Infrastructure, ev: SimpleNamespace) -> AsyncIterator[SimpleNamespace]:
    settings = isolated_settings(NotificationsSettings, infra)
    runtime, _app = build(settings, clock=FixedClock(WED), consume=False, background=False)
    async with started(runtime):
        for tenant in BATCHED + SINGLY + ("counting",):
            data = ev.directory_data(tenant)
            # a subscriber besides the rules, and a person who only wants digests
            data["people"][4]["subscriptions"] = [{"event_types": ["indicator.status_changed"]}]
            data["people"][4]["preferences"] = {"cadence": "weekly"}
            await import_directory(runtime.pool, Directory.model_validate(data))
        service: NotificationsRuntime = runtime_of(runtime)
        yield SimpleNamespace(runtime=runtime, service=service)


def scenario(ev: SimpleNamespace, tenant: str, ids: list[UUID]) -> list[Envelope[Any]]:
    """Per ward: 12 indicators off track (two of them twice: a repeat of the open alert, one
    event delivered twice), one recovers later in the batch, one goes stale, one reports an
    unknown department, one comes back at risk (a notice to the subscriber only)."""
    off = [ev.indicator(tenant=tenant, indicator_id=i) for i in ids[:12]]
    repeat = ev.indicator(tenant=tenant, indicator_id=ids[0], before=IndicatorStatus.AT_RISK)
    recovered = ev.indicator(
        tenant=tenant,
        indicator_id=ids[1],
        to=IndicatorStatus.ON_TRACK,
        before=IndicatorStatus.OFF_TRACK,
    )
    stale = ev.indicator(tenant=tenant, indicator_id=ids[12], to=IndicatorStatus.STALE)
    unknown_department = ev.indicator(tenant=tenant, indicator_id=ids[13], departments=("X課",))
    at_risk = ev.indicator(tenant=tenant, indicator_id=ids[14], to=IndicatorStatus.AT_RISK)
    return [*off, repeat, off[5], recovered, stale, unknown_department, at_risk]


async def snapshot(svc: SimpleNamespace, tenants: tuple[str, ...]) -> dict[str, Any]:
    """What the wards got, with tenant names and generated ids taken out, for comparison."""
    pool = svc.runtime.pool

    def who(recipient: str) -> str:
        return recipient.split("@")[0]

    notes = await pool.fetch(
        """select n.recipient_id, n.kind, n.severity, n.subject, n.period, n.title,
                  n.alert_id is not null as alerted, n.rule_id is not null as ruled,
                  array(select d.channel || ':' || d.status || ':' ||
                               coalesce(d.next_attempt_at::text, d.digest_due_at::text, '-')
                        from deliveries d where d.notification_id = n.id
                        order by d.channel) as deliveries
           from notifications n where n.tenant = any($1::text[])""",
        list(tenants),
    )
    alerts = await pool.fetch(
        """select kind, subject, severity, state, escalate_at, resolved_at is not null as ended
           from alerts where tenant = any($1::text[])""",
        list(tenants),
    )
    outcomes = await pool.fetch(
        "select event_type, outcome, detail from routing_outcomes where tenant = any($1::text[])",
        list(tenants),
    )
    announced = await pool.fetchval(
        """select count(*) from outbox where headers->>'event_type' = 'notification.delivered'
           and convert_from(body, 'UTF8') like any($1::text[])""",
        [f'%"tenant":"{t}"%' for t in tenants],
    )
    return {
        "notifications": sorted(
            (who(r["recipient_id"]), *(str(r[k]) for k in list(r.keys())[1:])) for r in notes
        ),
        "alerts": sorted(tuple(str(v) for v in r.values()) for r in alerts),
        "outcomes": sorted(
            (r["event_type"], r["outcome"], r["detail"].split(" ")[0].split("@")[0])
            for r in outcomes
        ),
        "announced": announced,
        "count": len(notes),
    }


async def test_a_batch_gives_exactly_what_the_events_give_one_at_a_time(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    handler = svc.service.handlers[topics.INDICATOR_STATUS_CHANGED]
    batch: list[Envelope[Any]] = []
    singly: list[Envelope[Any]] = []
    for a, b in zip(BATCHED, SINGLY, strict=True):
        ids = [uuid4() for _ in range(15)]
        batch += scenario(ev, a, ids)
        singly += scenario(ev, b, ids)
    batch.append(ev.indicator(tenant="nowhere"))  # a tenant without a directory
    await handler(batch)
    for event in singly:
        await handler([event])

    got = await snapshot(svc, BATCHED)
    # Per ward: 12 off track to the owner (reporter), the 事務局 and the 本部 subscriber, whose
    # e-mails wait for the weekly digest; the repeat and the duplicate add nothing; the recovery
    # tells those three again; overdue to the owner and the subscriber; the unknown department
    # to the 事務局 and the subscriber; at risk (no rule) to the subscriber only.
    per_ward = 12 * 3 + 3 + 2 + 2 + 1
    assert got["count"] == 3 * per_ward
    assert got["announced"] == 3 * per_ward
    kinds = [n[1] for n in got["notifications"]]
    assert kinds.count("indicator_recovered") == 3 * 3  # reporter, 事務局, subscriber
    assert kinds.count("report_overdue") == 3 * 2
    assert sum(1 for n in got["notifications"] if n[0] == "former") == 0  # rotated out
    digests = [n for n in got["notifications"] if n[0] == "honbu"]
    assert digests and all("email:digest:" in n[-1] or "email:dropped:" in n[-1] for n in digests)
    # The recovered indicator's alert e-mails (held for grouping or the digest) are not sent.
    dropped = [n for n in got["notifications"] if "email:dropped:-" in n[-1]]
    assert sorted({n[0] for n in dropped}) == ["honbu", "jimukyoku", "reporter"]
    assert len(dropped) == 3 * 3 and {n[1] for n in dropped} == {"indicator_off_track"}
    states = [(a[0], a[3]) for a in got["alerts"]]
    assert states.count(("indicator_off_track", "open")) == 3 * 12  # with the unknown dept.
    assert states.count(("indicator_off_track", "resolved")) == 3
    assert states.count(("report_overdue", "open")) == 3
    outcomes = [o[1] for o in got["outcomes"]]
    assert outcomes.count("deduplicated") == 3 and outcomes.count("alert_resolved") == 3
    assert await svc.runtime.pool.fetchval(
        "select count(*) from routing_outcomes where tenant = 'nowhere' and outcome = $1",
        "unknown_tenant",
    )

    # The same events, one batch each, in other wards: the same notices, alerts and outcomes.
    assert await snapshot(svc, SINGLY) == got

    # A redelivered batch (and the single events again) change nothing.
    counts = "select (select count(*) from notifications), (select count(*) from deliveries), " \
        "(select count(*) from alerts), (select count(*) from routing_outcomes), " \
        "(select count(*) from outbox)"  # fmt: skip
    before = await svc.runtime.pool.fetchrow(counts)
    await handler(batch)
    await handler(list(reversed(singly)))
    assert await svc.runtime.pool.fetchrow(counts) == before


async def test_the_statements_of_a_batch_do_not_grow_with_its_size(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    service = svc.service

    async def statements(conn: Any, size: int, cache: Any = None) -> tuple[int, int]:
        signals = [
            triggers.from_indicator(ev.indicator(tenant="counting", indicator_id=uuid4()))
            for _ in range(size)
        ]
        seen: list[Any] = []
        async with conn.transaction():
            conn.add_query_logger(seen.append)
            try:
                outcomes = await commands.apply_signals(
                    conn, service.router, signals, WED, service.digest_schedule, cache
                )
            finally:
                conn.remove_query_logger(seen.append)
        return len(seen), sum(len(o.notifications) for o in outcomes)

    # One connection throughout: the first use of a statement on a connection introspects its
    # types, so a batch on another connection of the pool would count those queries too.
    async with service.pool.acquire() as conn:
        await statements(conn, 3)
        small, large = await statements(conn, 3), await statements(conn, 120)
        cache = SnapshotCache()
        first, cached = await statements(conn, 3, cache), await statements(conn, 120, cache)
    # 3 off track signals: reporter, 事務局 and the subscriber each
    assert small[1] == first[1] == 9 and large[1] == cached[1] == 360
    # snapshots (8 tables), open alerts, then alerts, notifications with their deliveries and
    # the outbox
    assert small[0] == large[0] == 12
    # with the service's cache: the version (1 query) and nothing else of the unchanged tenant
    assert first[0] == 13 and cached[0] == 5


async def test_a_batch_writes_its_alerts_notifications_and_deliveries_in_one_insert_each(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    """What the server runs, counted by statement triggers: an ``executemany`` would run one
    insert per alert. The alerts' arrays and facts come back as the signals gave them."""
    service = svc.service
    plan_ids = [uuid4(), uuid4()]
    signals = []
    for n in range(40):
        event = ev.indicator(
            tenant="counting",
            indicator_id=uuid4(),
            departments=("戸籍住民課", "IT推進課")[: n % 2 + 1],
        )
        payload = event.payload.model_copy(update={"plan_ids": plan_ids[: n % 3]})
        signals.append(triggers.from_indicator(event.model_copy(update={"payload": payload})))
    async with service.pool.acquire() as conn:
        await conn.execute(
            """create table if not exists inserts_seen (tbl text);
               create or replace function count_insert() returns trigger language plpgsql as $$
               begin insert into inserts_seen values (tg_table_name); return null; end $$;
               create or replace trigger count_alerts after insert on alerts
                   for each statement execute function count_insert();
               create or replace trigger count_notifications after insert on notifications
                   for each statement execute function count_insert();
               create or replace trigger count_deliveries after insert on deliveries
                   for each statement execute function count_insert();"""
        )
        try:
            async with conn.transaction():
                outcomes = await commands.apply_signals(
                    conn, service.router, signals, WED, service.digest_schedule
                )
            seen = await conn.fetch("select tbl, count(*) from inserts_seen group by tbl")
            alerts = {
                r["subject"]: r
                for r in await conn.fetch(
                    """select subject, department_codes, plan_ids, facts from alerts
                       where subject = any($1::text[])""",
                    [s.subject for s in signals],
                )
            }
            delivered = await conn.fetchval(
                "select count(*) from deliveries where notification_id = any($1::uuid[])",
                [n for o in outcomes for n in o.notifications],
            )
        finally:
            await conn.execute(
                """drop trigger count_alerts on alerts;
                   drop trigger count_notifications on notifications;
                   drop trigger count_deliveries on deliveries;
                   drop table inserts_seen; drop function count_insert()"""
            )
    assert {r["tbl"]: r["count"] for r in seen} == {
        "alerts": 1,
        "notifications": 1,
        "deliveries": 1,
    }
    assert len(alerts) == 40
    for signal in signals:
        stored = alerts[signal.subject]
        codes = {"戸籍住民課": "koseki", "IT推進課": "it"}
        assert stored["department_codes"] == [codes[d] for d in signal.department_codes]
        assert stored["plan_ids"] == list(signal.plan_ids)
        assert stored["facts"] == signal.facts
    notified = sum(len(o.notifications) for o in outcomes)
    assert notified == 40 * 3 and delivered >= notified
