"""Subscriptions over graphql-transport-ws, fed from Kafka, with tenant and recipient filters.

Two gateway replicas run (uvicorn on free ports, real broker): each must push every event to its
own clients, and a client only ever sees events of its municipality and, for the inbox, its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
import uvicorn
from websockets.exceptions import ConnectionClosed

from suishin.contracts.enums import IndicatorStatus, Severity
from suishin.contracts.events import (
    Figures,
    IndicatorStatusChanged,
    NotificationDelivered,
    new_event,
)
from suishin.devstack.embedded import free_port
from suishin.devstack.testing import GraphQLWSClient as Client
from suishin.devstack.testing import Infrastructure, isolated_settings, produce, wait_until
from suishin.gateway.app import build
from suishin.gateway.settings import GatewaySettings
from suishin.kit.auth import issue_token

pytestmark = pytest.mark.integration


class Replica:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.app = build(settings)
        self.port = free_port()
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, lifespan="on", log_config=None
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())

        async def up() -> bool:
            return self.server.started

        await wait_until(up, timeout=30, message="gateway replica started")

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task

    @property
    def subscribers(self) -> int:
        return len(self.app.state.hub.subscribers)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def replicas(infra: Infrastructure) -> AsyncIterator[tuple[Replica, Replica]]:
    prefix = "tlive" + uuid.uuid4().hex[:6]
    first = Replica(isolated_settings(GatewaySettings, infra, prefix=prefix))
    second = Replica(isolated_settings(GatewaySettings, infra, prefix=prefix))
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.stop()
        await second.stop()


def token(settings: GatewaySettings, tenant: str, subject: str, *roles: str) -> str:
    return issue_token(settings, subject=subject, tenant=tenant, roles=list(roles or ("viewer",)))


INBOX = "subscription { notificationReceived { id kind title severity link occurredAt } }"
STATUS = """
subscription($indicatorId: ID) {
  indicatorStatusChanged(indicatorId: $indicatorId) {
    indicatorId title toStatus fromStatus figures { actual target unit } measureIds
  }
}"""


def delivered(tenant: str, recipient: str, title: str, channel: str = "inbox") -> bytes:
    payload = NotificationDelivered(
        notification_id=uuid.uuid4(),
        recipient_id=recipient,
        channel=channel,  # type: ignore[arg-type]
        status="delivered",
        attempts=1,
        severity=Severity.WARNING,
        kind="indicator_off_track",
        title=title,
        link="Indicator:x",
    )
    return new_event(
        payload, tenant=tenant, aggregate_id=str(payload.notification_id), producer="test"
    ).to_bytes()


def status_changed(tenant: str, indicator: uuid.UUID, title: str) -> bytes:
    payload = IndicatorStatusChanged(
        indicator_id=indicator,
        indicator_key="k",
        title=title,
        period="FY2024",
        fiscal_year=2024,
        from_status=IndicatorStatus.ON_TRACK,
        to_status=IndicatorStatus.OFF_TRACK,
        figures=Figures(actual=Decimal("3"), target=Decimal("10"), unit="件"),
        rule="linear",
        reason="目標を下回っています",
        measure_ids=[uuid.uuid4()],
    )
    return new_event(
        payload,
        tenant=tenant,
        aggregate_id=str(indicator),
        producer="test",
        occurred_at=datetime.now(UTC),
    ).to_bytes()


async def send(settings: GatewaySettings, topic: str, *bodies: bytes) -> None:
    await produce(settings.kafka_bootstrap, settings.topic(topic), [(None, b) for b in bodies])


async def settle(replica: Replica, count: int) -> None:
    async def subscribed() -> bool:
        return replica.subscribers >= count

    await wait_until(subscribed, timeout=20, message=f"{count} subscribers")


async def test_inbox_reaches_only_its_recipient_on_every_replica(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    s = first.settings
    alice = token(s, "itabashi", "alice")
    bob = token(s, "itabashi", "bob")
    bunkyo_alice = token(s, "bunkyo", "alice")
    async with (
        Client.open(first.ws_url, alice) as a1,
        Client.open(second.ws_url, alice) as a2,
        Client.open(first.ws_url, bob) as b,
        Client.open(second.ws_url, bunkyo_alice) as other_ward,
    ):
        for client in (a1, a2, b, other_ward):
            await client.subscribe(INBOX)
        await settle(first, 2)
        await settle(second, 2)
        await send(
            s,
            "notification.delivered",
            delivered("bunkyo", "alice", "文京区の通知"),
            delivered("itabashi", "alice", "メールのみ", channel="email"),
            delivered("itabashi", "bob", "ボブへ"),
            delivered("itabashi", "alice", "アリスへ"),
        )
        for client in (a1, a2):  # both replicas push it to alice, and nothing else
            message = await client.next()
            event = message["payload"]["data"]["notificationReceived"]
            assert event["title"] == "アリスへ"
            assert event["severity"] == "WARNING"
        bob_event = (await b.next())["payload"]["data"]["notificationReceived"]
        assert bob_event["title"] == "ボブへ"
        other = (await other_ward.next())["payload"]["data"]["notificationReceived"]
        assert other["title"] == "文京区の通知"
        # Nothing more is queued for anyone: the next event each sees is the next one sent.
        await send(s, "notification.delivered", delivered("itabashi", "alice", "次"))
        assert (await a1.next())["payload"]["data"]["notificationReceived"]["title"] == "次"


async def test_dashboard_status_changes_are_tenant_filtered(
    replicas: tuple[Replica, Replica],
) -> None:
    first, _ = replicas
    s = first.settings
    watched, other = uuid.uuid4(), uuid.uuid4()
    async with (
        Client.open(first.ws_url, token(s, "itabashi", "cio", "executive")) as dashboard,
        Client.open(first.ws_url, token(s, "itabashi", "viewer")) as one_indicator,
        Client.open(first.ws_url, token(s, "nerima", "cio", "executive")) as nerima,
    ):
        await dashboard.subscribe(STATUS)
        await one_indicator.subscribe(STATUS, {"indicatorId": str(watched)})
        await nerima.subscribe(STATUS)
        await settle(first, 3)
        await send(
            s,
            "indicator.status_changed",
            status_changed("itabashi", other, "他の指標"),
            status_changed("itabashi", watched, "見ている指標"),
        )
        # Two indicators are two aggregates (two partition keys): no order between them.
        seen = {
            event["title"]: event
            for event in [
                (await dashboard.next())["payload"]["data"]["indicatorStatusChanged"]
                for _ in range(2)
            ]
        }
        assert set(seen) == {"他の指標", "見ている指標"}
        watched_seen = seen["見ている指標"]
        assert watched_seen["toStatus"] == "OFF_TRACK" and watched_seen["fromStatus"] == "ON_TRACK"
        assert watched_seen["figures"] == {"actual": "3", "target": "10", "unit": "件"}
        only = (await one_indicator.next())["payload"]["data"]["indicatorStatusChanged"]
        assert only["indicatorId"] == str(watched)
        # Nerima's dashboard sees none of Itabashi's changes, only its own.
        await send(s, "indicator.status_changed", status_changed("nerima", other, "練馬区"))
        assert (await nerima.next())["payload"]["data"]["indicatorStatusChanged"][
            "title"
        ] == "練馬区"


async def test_subscriptions_refuse_anonymous_and_bad_tokens(
    replicas: tuple[Replica, Replica],
) -> None:
    first, _ = replicas
    async with Client.open(first.ws_url, None) as anonymous:
        sid = await anonymous.subscribe(INBOX)
        assert "UNAUTHENTICATED" in await anonymous.refusal(sid)
        sid = await anonymous.subscribe(STATUS)
        assert "UNAUTHENTICATED" in await anonymous.refusal(sid)
    async with Client.open(first.ws_url, token(first.settings, "itabashi", "p", "public")) as pub:
        sid = await pub.subscribe(STATUS)
        assert "FORBIDDEN" in await pub.refusal(sid)
    forged = issue_token(
        first.settings.model_copy(update={"jwt_secret": "not-the-secret-" * 4}),
        subject="mallory",
        tenant="itabashi",
        roles=["admin"],
    )
    with pytest.raises((ConnectionClosed, AssertionError)):
        async with Client.open(first.ws_url, forged) as client:
            await client.subscribe(INBOX)
            await client.next(timeout=5)


async def test_a_subscription_ends_when_its_token_expires(
    replicas: tuple[Replica, Replica],
) -> None:
    first, _ = replicas
    s = first.settings
    short = issue_token(s, subject="carol", tenant="itabashi", roles=["viewer"], ttl_seconds=3)
    async with Client.open(first.ws_url, short) as client:
        before_count = first.subscribers
        sid = await client.subscribe(INBOX)
        await settle(first, before_count + 1)
        await send(s, "notification.delivered", delivered("itabashi", "carol", "期限前"))
        before = await client.next()
        assert before["payload"]["data"]["notificationReceived"]["title"] == "期限前"
        said = await client.refusal(sid)  # ends by itself, without any further event
        assert "TOKEN_EXPIRED" in said and "サインイン" in said
        # The expired connection cannot start another one either.
        again = await client.subscribe(INBOX)
        assert "TOKEN_EXPIRED" in await client.refusal(again)


async def test_forged_events_are_never_pushed(replicas: tuple[Replica, Replica]) -> None:
    first, _ = replicas
    s = first.settings
    async with Client.open(first.ws_url, token(s, "itabashi", "dave")) as client:
        before_count = first.subscribers
        await client.subscribe(INBOX)
        await settle(first, before_count + 1)
        topic = s.topic("notification.delivered")
        forged = delivered("itabashi", "dave", "偽物")
        genuine = delivered("itabashi", "dave", "本物")
        # One key, one partition: the forged event comes first and is skipped.
        await produce(s.kafka_bootstrap, topic, [(b"k", forged)], signing_key=None)
        await produce(s.kafka_bootstrap, topic, [(b"k", genuine)])
        event = (await client.next())["payload"]["data"]["notificationReceived"]
        assert event["title"] == "本物"


async def test_the_live_hub_follows_a_broker_that_restarted_empty(infra: Infrastructure) -> None:
    """tansu answers a fetch past the end of its new, empty log with nothing: without noticing,
    the hub would wait until the new log outgrew its old positions and push nothing meanwhile."""
    from suishin.devstack.embedded import EmbeddedBroker
    from suishin.gateway.live import LiveHub

    broker = EmbeddedBroker(port=free_port())
    broker.start()
    hub = LiveHub(isolated_settings(GatewaySettings, infra, kafka_bootstrap=broker.bootstrap))
    try:
        await hub.start()
        history = [delivered("itabashi", "alice", f"before-{n}") for n in range(600)]
        await send(hub.settings, "notification.delivered", *history)
        await wait_until(lambda: _true(hub.received >= 600), timeout=60, message="the history")
        received: list[str] = []

        async def listen() -> None:
            async for event in hub.events("notification.delivered", lambda _e: True):
                received.append(event.payload.title)

        listener = asyncio.create_task(listen())
        await wait_until(lambda: _true(bool(hub.subscribers)), message="the subscriber")

        broker.stop()  # memory only: the hub's positions (~100 per partition) point past the end
        broker.start()

        async def pushed_after_restart() -> bool:
            await send(hub.settings, "notification.delivered", delivered("itabashi", "a", "after"))
            return "after" in received

        await wait_until(pushed_after_restart, timeout=60, interval=0.3, message="a live push")
        listener.cancel()
    finally:
        await hub.stop()
        broker.stop()


async def _true(value: bool) -> bool:
    return value


async def test_the_live_hub_fetches_with_the_consumer_fetch_wait_settings(
    infra: Infrastructure,
) -> None:
    """SUISHIN_CONSUMER_IDLE_FETCH_WAIT_MS / _QUICK_ FETCH_WAIT_MS reach the hub's consumer, as
    they reach the services' consumers (kit.fetchwait)."""
    from suishin.gateway.live import LiveHub
    from suishin.kit.fetchwait import current_wait_ms

    settings = isolated_settings(
        GatewaySettings,
        infra,
        consumer_idle_fetch_wait_ms=333,
        consumer_quick_fetch_wait_ms=7,
    )
    hub = LiveHub(settings)
    try:
        await hub.start()
        assert current_wait_ms(hub._consumer) == 333  # starts idle
        hub.fetch_wait.saw_records()
        assert current_wait_ms(hub._consumer) == 7
        hub.fetch_wait.last_records = float("-inf")  # quiet for long enough
        hub.fetch_wait.tick()
        assert current_wait_ms(hub._consumer) == 333
    finally:
        await hub.stop()
