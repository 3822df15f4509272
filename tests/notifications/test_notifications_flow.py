"""Through the real broker: an off-track indicator reaches the right people once, by inbox and
e-mail; duplicates add nothing; bad input is recorded and the consumer keeps going."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import topics
from suishin.contracts.enums import IndicatorStatus
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.kit.auth import issue_token
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 11, 10, 0, tzinfo=JST)  # a Wednesday morning, outside quiet hours


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(
    infra: Infrastructure, smtp_server: tuple[int, Any], ev: SimpleNamespace
) -> AsyncIterator[SimpleNamespace]:
    port, sink = smtp_server
    settings = isolated_settings(
        NotificationsSettings,
        infra,
        smtp_port=port,
        smtp_timeout=2.0,
        grouping_window_seconds=0,
        dispatcher_poll_interval=0.1,
    )
    runtime, app = build(settings, clock=FixedClock(NOW))
    async with started(runtime):
        await import_directory(runtime.pool, ev.directory())
        yield SimpleNamespace(runtime=runtime, app=app, sink=sink, settings=settings)


async def send(svc: SimpleNamespace, infra: Infrastructure, *events: Any, raw: bytes = b"") -> None:
    messages = [(e.key, e.to_bytes()) for e in events]
    if raw:
        messages.append((b"x", raw))
    await produce(
        infra.kafka_bootstrap, svc.runtime.topic(topics.INDICATOR_STATUS_CHANGED), messages
    )


async def recipients_of(svc: SimpleNamespace, event_id: Any) -> list[str]:
    rows = await svc.runtime.pool.fetch(
        "select recipient_id from notifications where source_event_id = $1 order by 1", event_id
    )
    return [r["recipient_id"] for r in rows]


async def outcome_of(svc: SimpleNamespace, event_id: Any) -> list[str]:
    rows = await svc.runtime.pool.fetch(
        "select outcome from routing_outcomes where source_event_id = $1 order by id", event_id
    )
    return [r["outcome"] for r in rows]


def mails_to(svc: SimpleNamespace, address: str) -> list[bytes]:
    return [content for _, rcpts, content in svc.sink.messages if address in rcpts]


async def graphql(
    svc: SimpleNamespace, query: str, variables: dict[str, Any] | None = None, **who: Any
) -> dict[str, Any]:
    token = issue_token(svc.settings, **who)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    return dict(response.json())


async def test_off_track_reaches_owners_and_secretariat_once_by_inbox_and_mail(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace
) -> None:
    event = ev.indicator(to=IndicatorStatus.OFF_TRACK)
    await send(svc, infra, event)

    async def two_mails() -> bool:
        return bool(
            mails_to(svc, "reporter@itabashi.example.jp")
            and mails_to(svc, "jimukyoku@itabashi.example.jp")
        )

    await wait_until(two_mails, timeout=60, message="e-mails to the owner and the secretariat")
    # The 所管課 member valid today and the 事務局; not the CIO, not the person rotated out.
    assert await recipients_of(svc, event.event_id) == ["jimukyoku@itabashi", "reporter@itabashi"]
    mail = mails_to(svc, "reporter@itabashi.example.jp")
    assert len(mail) == 1
    text = mail[0].decode()
    assert "Subject: =?utf-8?" in text  # Japanese subject, encoded

    # Duplicates of the event, then a later event of the same indicator (same partition).
    marker = ev.indicator(
        to=IndicatorStatus.NO_DATA,
        before=IndicatorStatus.OFF_TRACK,
        indicator_id=event.payload.indicator_id,
    )
    await send(svc, infra, event, event)
    await send(svc, infra, marker)

    async def marker_seen() -> list[str]:
        return await outcome_of(svc, marker.event_id)

    assert await wait_until(marker_seen, timeout=60) == ["no_rule"]
    assert await recipients_of(svc, event.event_id) == ["jimukyoku@itabashi", "reporter@itabashi"]
    pending = await svc.runtime.pool.fetchval(
        "select count(*) from deliveries where status in ('pending', 'sending')"
    )
    assert pending == 0
    assert len(mails_to(svc, "reporter@itabashi.example.jp")) == 1
    assert len(mails_to(svc, "jimukyoku@itabashi.example.jp")) == 1

    # Inbox entries are announced promptly on notification.delivered (the gateway pushes them).
    async with TopicReader(
        infra.kafka_bootstrap, svc.runtime.topic(topics.NOTIFICATION_DELIVERED)
    ) as reader:
        records = await reader.wait_for(4)
    announced = [json.loads(r.value)["payload"] for r in records]
    inbox = [a for a in announced if a["channel"] == "inbox"]
    assert sorted(a["recipient_id"] for a in inbox) == ["jimukyoku@itabashi", "reporter@itabashi"]
    assert all(a["kind"] == "indicator_off_track" and a["severity"] == "warning" for a in inbox)

    # The inbox through GraphQL; acknowledging stops the escalation.
    me = {"subject": "reporter@itabashi", "tenant": "itabashi", "roles": ["reporter"]}
    data = await graphql(
        svc,
        """{ unreadCount myInbox(first: 10) { totalCount edges { cursor node {
               id kind severity title link read requiresAcknowledgement
               deliveries { channel status attempts attemptLog { outcome } } } } } }""",
        **me,
    )
    assert "errors" not in data, data
    inbox_page = data["data"]["myInbox"]
    assert data["data"]["unreadCount"] == 1 and inbox_page["totalCount"] == 1
    node = inbox_page["edges"][0]["node"]
    assert node["kind"] == "indicator_off_track" and node["severity"] == "WARNING"
    assert node["title"].startswith("【警告】指標「マイナンバーカード交付枚数」")
    assert node["link"] == f"Indicator:{event.payload.indicator_id}"
    channels = {d["channel"]: d for d in node["deliveries"]}
    assert channels["email"]["status"] == "delivered"
    assert channels["email"]["attemptLog"] == [{"outcome": "delivered"}]
    assert channels["inbox"]["status"] == "delivered"

    ack = await graphql(
        svc,
        """mutation($id: ID!) { acknowledge(notificationId: $id, comment: "確認しました。") {
               notification { acknowledgedAt acknowledgementComment read }
               errors { code message messageEn } } }""",
        {"id": node["id"]},
        **me,
    )
    result = ack["data"]["acknowledge"]
    assert result["errors"] == []
    assert result["notification"]["acknowledgementComment"] == "確認しました。"
    alert = await svc.runtime.pool.fetchrow(
        "select state, escalate_at, acknowledged_by from alerts where alert_key like $1",
        f"indicator_off_track|Indicator:{event.payload.indicator_id}|%",
    )
    assert alert["state"] == "acknowledged" and alert["escalate_at"] is None
    assert alert["acknowledged_by"] == "reporter@itabashi"
    again = await graphql(
        svc,
        """mutation($id: ID!) { acknowledge(notificationId: $id) { errors { code } } }""",
        {"id": node["id"]},
        **me,
    )
    assert again["data"]["acknowledge"]["errors"] == [{"code": "ALREADY_ACKNOWLEDGED"}]

    # Another ward's token sees none of it; the 事務局's tools are refused to a reporter.
    other = await graphql(
        svc,
        "{ unreadCount myInbox { totalCount } }",
        subject="reporter@itabashi",
        tenant="nerima",
        roles=["reporter"],
    )
    assert other["data"] == {"unreadCount": 0, "myInbox": {"totalCount": 0}}
    refused = await graphql(svc, "{ routingRules { name } }", **me)
    assert refused["data"] is None and "admin" in refused["errors"][0]["message"]

    # Back on track: whoever was alerted hears it recovered.
    recovered = ev.indicator(
        to=IndicatorStatus.ON_TRACK,
        before=IndicatorStatus.OFF_TRACK,
        indicator_id=event.payload.indicator_id,
    )
    await send(svc, infra, recovered)

    async def recovered_to() -> list[str]:
        return await recipients_of(svc, recovered.event_id)

    assert await wait_until(recovered_to, timeout=60) == [
        "jimukyoku@itabashi",
        "reporter@itabashi",
    ]
    kinds = await svc.runtime.pool.fetch(
        "select distinct kind from notifications where source_event_id = $1", recovered.event_id
    )
    assert [k["kind"] for k in kinds] == ["indicator_recovered"]
    state = await svc.runtime.pool.fetchval(
        "select state from alerts where alert_key like $1",
        f"indicator_off_track|Indicator:{event.payload.indicator_id}|%",
    )
    assert state == "resolved"


async def test_bad_input_is_recorded_and_the_consumer_keeps_going(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace
) -> None:
    unknown_tenant = ev.indicator(tenant="nerima")
    nobody = ev.indicator(to=IndicatorStatus.STALE, departments=("総務課",))
    owners_unknown = ev.indicator(departments=("存在しない課",))
    good = ev.indicator(departments=("戸籍",))  # an alias of 戸籍住民課
    await send(svc, infra, unknown_tenant, nobody, owners_unknown, raw=b"{not json")
    await send(svc, infra, good)

    async def good_done() -> list[str]:
        return await recipients_of(svc, good.event_id)

    assert await wait_until(good_done, timeout=60) == ["jimukyoku@itabashi", "reporter@itabashi"]
    assert await outcome_of(svc, unknown_tenant.event_id) == ["unknown_tenant"]
    # An escalating rule that resolves to nobody: recorded as undeliverable, and the alert opens
    # due for escalation at once (the next level of the chain hears of it), not dropped.
    assert await outcome_of(svc, nobody.event_id) == ["no_recipients", "escalated_unreached"]
    assert await recipients_of(svc, nobody.event_id) == []
    # Unknown owning department: the secretariat still hears of it; the owner part is recorded.
    assert await recipients_of(svc, owners_unknown.event_id) == ["jimukyoku@itabashi"]
    async with TopicReader(
        infra.kafka_bootstrap, svc.runtime.topic(topics.INDICATOR_STATUS_CHANGED) + ".dlq"
    ) as dlq:
        records = await dlq.wait_for(1)
    assert dict(records[0].headers)["x-dlq-reason"] == b"malformed_json"


async def test_a_forged_internal_event_takes_no_effect_and_is_dead_lettered(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace
) -> None:
    """Anyone who reaches the broker can produce to measure.evaluated; only events signed by a
    service (x-suishin-signature) are applied, the rest go to the dead-letter topic."""
    topic = svc.runtime.topic(topics.MEASURE_EVALUATED)
    [consumer] = [c for c in svc.runtime.consumers if c.name.endswith(topics.MEASURE_EVALUATED)]
    processed = consumer.processed
    forged = ev.measure_evaluated(years=3)  # would be a critical alert
    genuine = ev.measure_evaluated(years=3)
    # Same key, same partition: the genuine event is applied after the forged one was seen.
    await produce(infra.kafka_bootstrap, topic, [(forged.key, forged.to_bytes())], signing_key=None)
    await produce(infra.kafka_bootstrap, topic, [(forged.key, genuine.to_bytes())])

    async def genuine_done() -> list[str]:
        if consumer.processed < processed + 2:
            return []
        return await recipients_of(svc, genuine.event_id) + await outcome_of(svc, genuine.event_id)

    assert await wait_until(genuine_done, timeout=60)
    assert await outcome_of(svc, forged.event_id) == []
    assert await recipients_of(svc, forged.event_id) == []
    async with TopicReader(infra.kafka_bootstrap, topic + ".dlq") as dlq:
        records = await dlq.wait_for(1)
    [record] = [r for r in records if json.loads(r.value)["event_id"] == str(forged.event_id)]
    assert dict(record.headers)["x-dlq-reason"] == b"unauthenticated_producer"
