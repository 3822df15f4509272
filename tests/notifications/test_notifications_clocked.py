"""Time-dependent behaviour with an injectable clock: quiet hours, grouping, digests,
escalation, silences; failures of templates, SMTP servers and webhooks. The consumers and loops
are driven step by step (the broker path is covered by test_notifications_flow)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suishin.contracts import topics
from suishin.contracts.enums import IndicatorStatus
from suishin.devstack.embedded import free_port
from suishin.devstack.testing import Infrastructure, isolated_settings, started, wait_until
from suishin.kit.auth import issue_token
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.rendering import Renderer
from suishin.notifications.runtime import NotificationsRuntime, runtime_of
from suishin.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration

WED = datetime(2025, 6, 11, 10, 0, tzinfo=JST)
SECRET = "whsec-test-0123456789"


def jst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


# --- servers -------------------------------------------------------------------------------


class Refuser:
    def __init__(self, code: str) -> None:
        self.code = code

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self.code


@contextlib.asynccontextmanager
async def hanging_smtp() -> AsyncIterator[int]:
    """Accepts connections and never says a word."""
    waiting: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        waiting.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for w in waiting:
            w.close()
        server.close()


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[SimpleNamespace]:
    received: list[dict[str, Any]] = []

    async def ok(request: Request) -> Response:
        received.append(
            {
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": await request.body(),
            }
        )
        return JSONResponse({"ok": True})

    async def fail(_: Request) -> Response:
        return JSONResponse({"error": "boom"}, status_code=500)

    async def slow(_: Request) -> Response:
        await asyncio.sleep(5)
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/ok/{fmt}", ok, methods=["POST"]),
            Route("/fail", fail, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def up() -> bool:
        return bool(server.started)

    await wait_until(up, timeout=10, interval=0.01, message="webhook receiver")
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}", received=received)
    finally:
        server.should_exit = True
        await task
        sock.close()


# --- the service -----------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(
    infra: Infrastructure, smtp_server: tuple[int, Any], ev: SimpleNamespace
) -> AsyncIterator[SimpleNamespace]:
    port, sink = smtp_server
    settings = isolated_settings(
        NotificationsSettings,
        infra,
        smtp_port=port,
        smtp_timeout=0.5,
        webhook_timeout=0.5,
        grouping_window_seconds=60,
        delivery_max_attempts=2,
        delivery_backoff_base=60,
        escalation_business_days=3,
    )
    clock = FixedClock(WED)
    runtime, app = build(settings, clock=clock, consume=False, background=False)
    async with started(runtime), webhook_receiver() as hooks:
        data = ev.directory_data(
            webhooks=[
                {"id": "generic", "url": f"{hooks.url}/ok/generic", "secret": SECRET},
                {
                    "id": "slack",
                    "url": f"{hooks.url}/ok/slack",
                    "format": "slack",
                    "secret": SECRET,
                },
                {
                    "id": "teams",
                    "url": f"{hooks.url}/ok/teams",
                    "format": "teams",
                    "secret": SECRET,
                },
                {"id": "fails", "url": f"{hooks.url}/fail", "secret": SECRET},
                {"id": "slow", "url": f"{hooks.url}/slow", "secret": SECRET},
            ]
        )
        data["rules"].append(
            {
                "name": "measure alerts to chat",
                "kinds": ["measure_failing"],
                "webhooks": ["generic", "slack", "teams", "fails", "slow"],
            }
        )
        await import_directory(runtime.pool, Directory.model_validate(data))
        yield SimpleNamespace(
            runtime=runtime,
            app=app,
            sink=sink,
            settings=settings,
            clock=clock,
            service=runtime_of(runtime),
            hooks=hooks,
        )


def service(svc: SimpleNamespace) -> NotificationsRuntime:
    s: NotificationsRuntime = svc.service
    return s


async def handle_indicator(svc: SimpleNamespace, *events: Any) -> None:
    await service(svc).handlers[topics.INDICATOR_STATUS_CHANGED](list(events))


async def handle_measure(svc: SimpleNamespace, *events: Any) -> None:
    await service(svc).handlers[topics.MEASURE_EVALUATED](list(events))


async def email_of(svc: SimpleNamespace, event_id: Any, recipient: str) -> dict[str, Any]:
    row = await svc.runtime.pool.fetchrow(
        """select d.* from deliveries d join notifications n on n.id = d.notification_id
           where n.source_event_id = $1 and n.recipient_id = $2 and d.channel = 'email'""",
        event_id,
        recipient,
    )
    assert row is not None, f"no e-mail delivery for {recipient}"
    return dict(row)


def mails(svc: SimpleNamespace, address: str, containing: str) -> list[str]:
    out = []
    for _, rcpts, content in svc.sink.messages:
        text = content.decode()
        if address in rcpts and containing in text:
            out.append(text)
    return out


async def graphql(svc: SimpleNamespace, query: str, variables: dict[str, Any], **who: Any) -> Any:
    token = issue_token(svc.settings, **who)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=svc.app), base_url="http://test"
    ) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.json()


# --- quiet hours, grouping -------------------------------------------------------------------


async def test_quiet_hours_hold_warnings_until_morning_but_not_critical(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-06-11T23:00:00"))
    warning = ev.indicator()
    critical = ev.measure_evaluated(failing=True, years=2)
    await handle_indicator(svc, warning)
    await handle_measure(svc, critical)
    held = await email_of(svc, warning.event_id, "reporter@itabashi")
    # Next morning at the end of the quiet window, plus the grouping window.
    assert held["next_attempt_at"] == jst("2025-06-12T07:31:00")
    await service(svc).dispatcher.run_once()
    assert (await email_of(svc, warning.event_id, "reporter@itabashi"))["status"] == "pending"
    assert (await email_of(svc, critical.event_id, "cio@itabashi"))["status"] == "delivered"
    svc.clock.set(jst("2025-06-12T07:31:00"))
    await service(svc).dispatcher.run_once()
    assert (await email_of(svc, warning.event_id, "reporter@itabashi"))["status"] == "delivered"


async def test_saturday_alerts_wait_for_monday_and_group_into_one_mail(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-06-14T11:00:00"))  # Saturday
    first = ev.indicator(title="オンライン申請件数")
    await handle_indicator(svc, first)
    svc.clock.set(jst("2025-06-14T11:00:30"))
    second = ev.indicator(title="RPA導入業務数")
    await handle_indicator(svc, second)
    a = await email_of(svc, first.event_id, "reporter@itabashi")
    b = await email_of(svc, second.event_id, "reporter@itabashi")
    assert a["next_attempt_at"] == b["next_attempt_at"] == jst("2025-06-16T07:31:00")
    svc.clock.set(jst("2025-06-16T07:31:00"))
    await service(svc).dispatcher.run_once()
    grouped = mails(svc, "reporter@itabashi.example.jp", "X-Suishin-Notifications")
    both = [m for m in grouped if str(a["notification_id"]) in m and str(b["notification_id"]) in m]
    assert len(both) == 1


# --- digests ---------------------------------------------------------------------------------


async def test_weekly_digest_collects_warnings_and_goes_out_on_monday(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    me = {"subject": "honbu@itabashi", "tenant": "itabashi", "roles": ["executive"]}
    changed = await graphql(
        svc,
        """mutation { updateMyPreferences(input: {cadence: WEEKLY}) {
               preferences { cadence emailEnabled } errors { code } } }""",
        {},
        **me,
    )
    assert changed["data"]["updateMyPreferences"]["preferences"]["cadence"] == "WEEKLY"
    svc.clock.set(jst("2025-06-18T10:00:00"))  # Wednesday
    one, two = ev.measure_evaluated(), ev.measure_evaluated()
    urgent = ev.measure_evaluated(years=3)
    await handle_measure(svc, one, two, urgent)
    waiting = await email_of(svc, one.event_id, "honbu@itabashi")
    assert waiting["status"] == "digest"
    assert waiting["digest_due_at"] == jst("2025-06-23T08:30:00")  # next Monday
    # Critical alerts ignore the cadence.
    assert (await email_of(svc, urgent.event_id, "honbu@itabashi"))["status"] == "pending"
    assert (await service(svc).scheduler_pass())["digests"] == 0
    svc.clock.set(jst("2025-06-23T08:30:00"))
    assert (await service(svc).scheduler_pass())["digests"] == 1
    await service(svc).dispatcher.run_once()
    digest = mails(svc, "honbu@itabashi.example.jp", "=?utf-8?")
    assert any("X-Suishin-Notifications" in m and m.count(",") >= 1 for m in digest)
    for event in (one, two):
        assert (await email_of(svc, event.event_id, "honbu@itabashi"))["status"] == "delivered"
    log = await graphql(
        svc,
        """query($id: ID!) { deliveryLog(notificationId: $id) { channel status carriedBy
               attemptLog { outcome } } }""",
        {"id": str(waiting["notification_id"])},
        **me,
    )
    by_channel = {d["channel"]: d for d in log["data"]["deliveryLog"] if d["carriedBy"] is None}
    assert by_channel["email"]["attemptLog"] == [{"outcome": "delivered"}]


# --- escalation ------------------------------------------------------------------------------


async def test_unacknowledged_alert_escalates_to_secretariat_then_cio_on_business_days(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-07-17T10:00:00"))  # Thursday; Monday 7/21 is 海の日
    event = ev.indicator(to=IndicatorStatus.STALE, title="電子申請手続数")
    await handle_indicator(svc, event)
    alert = await svc.runtime.pool.fetchrow(
        "select * from alerts where source_event_id = $1", event.event_id
    )
    assert alert["kind"] == "report_overdue"
    assert alert["escalate_at"] == jst("2025-07-23T10:00:00")  # Fri, (holiday), Tue, Wed

    svc.clock.set(jst("2025-07-22T18:00:00"))
    await service(svc).scheduler_pass()
    count = "select recipient_id, severity from notifications where alert_id = $1 and kind = $2"
    assert await svc.runtime.pool.fetch(count, alert["id"], "escalation") == []

    svc.clock.set(jst("2025-07-23T10:00:00"))
    await service(svc).scheduler_pass()
    rows = await svc.runtime.pool.fetch(count, alert["id"], "escalation")
    assert [(r["recipient_id"], r["severity"]) for r in rows] == [("jimukyoku@itabashi", "warning")]

    svc.clock.set(jst("2025-07-28T10:00:00"))  # three business days later
    await service(svc).scheduler_pass()
    rows = await svc.runtime.pool.fetch(count + " order by severity", alert["id"], "escalation")
    assert ("cio@itabashi", "critical") in [(r["recipient_id"], r["severity"]) for r in rows]
    done = await svc.runtime.pool.fetchrow("select * from alerts where id = $1", alert["id"])
    assert done["escalation_level"] == 2 and done["escalate_at"] is None


async def test_acknowledged_alert_does_not_escalate(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-09-01T10:00:00"))
    event = ev.indicator(title="Web会議実施数")
    await handle_indicator(svc, event)
    notice = await svc.runtime.pool.fetchrow(
        "select id, alert_id from notifications where source_event_id = $1 and recipient_id = $2",
        event.event_id,
        "reporter@itabashi",
    )
    result = await graphql(
        svc,
        """mutation($id: ID!) { acknowledge(notificationId: $id, comment: "対応中です") {
               errors { code } } }""",
        {"id": str(notice["id"])},
        subject="reporter@itabashi",
        tenant="itabashi",
        roles=["reporter"],
    )
    assert result["data"]["acknowledge"]["errors"] == []
    svc.clock.set(jst("2025-09-30T10:00:00"))
    await service(svc).scheduler_pass()
    escalations = await svc.runtime.pool.fetchval(
        "select count(*) from notifications where alert_id = $1 and kind = 'escalation'",
        notice["alert_id"],
    )
    assert escalations == 0


# --- silences, dedup -------------------------------------------------------------------------


async def test_silence_holds_warnings_until_it_expires_but_never_critical(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-10-01T10:00:00"))
    first = ev.indicator(title="コンビニ交付率")
    admin = {"subject": "jimukyoku@itabashi", "tenant": "itabashi", "roles": ["admin"]}
    created = await graphql(
        svc,
        """mutation($s: String!, $until: DateTime!) { createSilence(input: {
               reason: "システム移行期間", subject: $s, expiresAt: $until,
               kinds: ["indicator_off_track"]}) { silence { id active } errors { code } } }""",
        {
            "s": f"Indicator:{first.payload.indicator_id}",
            "until": jst("2025-10-02T10:00:00").isoformat(),
        },
        **admin,
    )
    assert created["data"]["createSilence"]["silence"]["active"] is True
    bad = await graphql(
        svc,
        """mutation($until: DateTime!) { createSilence(input: {reason: " ", expiresAt: $until})
               { silence { id } errors { code message messageEn field } } }""",
        {"until": jst("2025-10-02T10:00:00").isoformat()},
        **admin,
    )
    assert bad["data"]["createSilence"]["errors"][0]["code"] == "REASON_REQUIRED"
    await handle_indicator(svc, first)
    outcomes = await svc.runtime.pool.fetch(
        "select outcome from routing_outcomes where source_event_id = $1", first.event_id
    )
    assert {r["outcome"] for r in outcomes} == {"silenced"}
    critical = ev.measure_evaluated(years=2)
    silence_all = await graphql(
        svc,
        """mutation($until: DateTime!) { createSilence(input: {reason: "全停止", expiresAt: $until})
               { errors { code } } }""",
        {"until": jst("2025-10-02T10:00:00").isoformat()},
        **admin,
    )
    assert silence_all["data"]["createSilence"]["errors"] == []
    await handle_measure(svc, critical)
    reached = await svc.runtime.pool.fetchval(
        "select count(*) from notifications where source_event_id = $1 and recipient_id = $2",
        critical.event_id,
        "cio@itabashi",
    )
    assert reached == 1
    svc.clock.set(jst("2025-10-02T10:00:00"))  # expired
    later = ev.indicator(indicator_id=first.payload.indicator_id, period="FY2026")
    await handle_indicator(svc, later)
    count = await svc.runtime.pool.fetchval(
        "select count(*) from notifications where source_event_id = $1", later.event_id
    )
    assert count == 2


async def test_the_same_alert_is_not_sent_twice_while_open(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-10-06T10:00:00"))
    first = ev.indicator(title="AIチャットボット周知回数")
    again = ev.indicator(
        indicator_id=first.payload.indicator_id, before=IndicatorStatus.AT_RISK
    )  # a new event, the same alert
    await handle_indicator(svc, first)
    await handle_indicator(svc, again)
    assert (
        await svc.runtime.pool.fetchval(
            "select count(*) from notifications where source_event_id = $1", again.event_id
        )
        == 0
    )
    outcomes = await svc.runtime.pool.fetch(
        "select outcome from routing_outcomes where source_event_id = $1", again.event_id
    )
    assert [r["outcome"] for r in outcomes] == ["deduplicated"]


# --- failures --------------------------------------------------------------------------------


async def test_a_broken_template_falls_back_and_a_broken_mail_template_fails_visibly(
    svc: SimpleNamespace, ev: SimpleNamespace, tmp_path: Path
) -> None:
    (tmp_path / "ja").mkdir()
    (tmp_path / "ja" / "indicator_off_track.j2").write_text(
        "{% block title %}{{ f.missing.field }}{% endblock %}{% block body %}x{% endblock %}"
    )
    (tmp_path / "ja" / "email.j2").write_text("{{ n.body | no_such_filter }}")
    (tmp_path / "ja" / "email_group.j2").write_text("{% for %}")
    s = service(svc)
    original = s.renderer
    broken = Renderer(tmp_path)
    s.renderer = s.dispatcher.renderer = broken
    try:
        svc.clock.set(jst("2025-11-05T10:00:00"))
        event = ev.indicator(title="テンプレート検証")
        await handle_indicator(svc, event)
        row = await svc.runtime.pool.fetchrow(
            "select * from notifications where source_event_id = $1 and recipient_id = $2",
            event.event_id,
            "reporter@itabashi",
        )
        assert row["title"] == "【indicator_off_track】テンプレート検証"
        assert "ja/indicator_off_track.j2" in row["render_error"]
        svc.clock.set(jst("2025-11-05T10:01:00"))
        await s.dispatcher.run_once()
        mail = await email_of(svc, event.event_id, "reporter@itabashi")
        assert mail["status"] == "failed" and mail["attempts"] == 1
        assert mail["last_error"].startswith("template_error:")
    finally:
        s.renderer = s.dispatcher.renderer = original


async def test_refusing_and_hanging_smtp_servers_retry_then_fail_visibly(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    s = service(svc)
    smtp_port = s.dispatcher.smtp.port
    refusing = Controller(Refuser("550 5.1.1 no such user"), hostname="127.0.0.1", port=free_port())
    refusing.start()
    try:
        s.dispatcher.smtp.port = refusing.port
        svc.clock.set(jst("2025-11-10T10:00:00"))
        refused = ev.indicator(title="SMTP拒否")
        await handle_indicator(svc, refused)
        svc.clock.set(jst("2025-11-10T10:01:00"))
        await s.dispatcher.run_once()
        mail = await email_of(svc, refused.event_id, "reporter@itabashi")
        assert mail["status"] == "failed" and mail["attempts"] == 1  # 5xx: permanent
        assert "550" in mail["last_error"]
    finally:
        refusing.stop()
    async with hanging_smtp() as port:
        s.dispatcher.smtp.port = port
        try:
            svc.clock.set(jst("2025-11-11T10:00:00"))
            hung = ev.indicator(title="SMTP無応答")
            await handle_indicator(svc, hung)
            svc.clock.set(jst("2025-11-11T10:01:00"))
            await s.dispatcher.run_once()
            mail = await email_of(svc, hung.event_id, "reporter@itabashi")
            assert mail["status"] == "pending" and "timeout" in mail["last_error"].lower()
            assert mail["next_attempt_at"] > svc.clock.now()
            svc.clock.set(mail["next_attempt_at"])
            await s.dispatcher.run_once()
            mail = await email_of(svc, hung.event_id, "reporter@itabashi")
            assert mail["status"] == "failed" and mail["attempts"] == 2
        finally:
            s.dispatcher.smtp.port = smtp_port
    attempts = await svc.runtime.pool.fetch(
        "select outcome from delivery_attempts where delivery_id = $1 order by attempt",
        mail["id"],
    )
    assert [a["outcome"] for a in attempts] == ["retry", "failed"]
    announced = await svc.runtime.pool.fetch(
        "select body from outbox where topic = 'notification.delivered'"
    )
    finals = [json.loads(r["body"])["payload"] for r in announced]
    assert any(
        p["notification_id"] == str(mail["notification_id"])
        and p["channel"] == "email"
        and p["status"] == "failed"
        and p["attempts"] == 2
        for p in finals
    )


def independent_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    timestamp = headers["x-suishin-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["x-suishin-signature"])


async def test_webhooks_are_signed_formatted_and_retried(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2025-12-01T10:00:00"))
    event = ev.measure_evaluated()
    await handle_measure(svc, event)
    await service(svc).dispatcher.run_once()
    received = {r["path"]: r for r in svc.hooks.received}
    assert set(received) == {"/ok/generic", "/ok/slack", "/ok/teams"}
    for r in received.values():
        assert independent_verify(SECRET, r["headers"], r["body"])
        assert not independent_verify("wrong-secret", r["headers"], r["body"])
    generic = json.loads(received["/ok/generic"]["body"])
    assert generic["kind"] == "measure_failing" and generic["tenant"] == "itabashi"
    assert "blocks" in json.loads(received["/ok/slack"]["body"])
    assert json.loads(received["/ok/teams"]["body"])["@type"] == "MessageCard"

    rows = await svc.runtime.pool.fetch(
        """select d.recipient_id, d.status, d.last_error, d.next_attempt_at from deliveries d
           join notifications n on n.id = d.notification_id
           where n.source_event_id = $1 and d.channel = 'webhook'""",
        event.event_id,
    )
    state = {r["recipient_id"]: r for r in rows}
    assert state["webhook:generic"]["status"] == "delivered"
    assert state["webhook:fails"]["status"] == "pending"
    assert "HTTP 500" in state["webhook:fails"]["last_error"]
    assert state["webhook:slow"]["status"] == "pending"
    assert "timeout" in state["webhook:slow"]["last_error"]
    svc.clock.set(jst("2025-12-01T10:05:00"))
    await service(svc).dispatcher.run_once()
    rows = await svc.runtime.pool.fetch(
        """select d.recipient_id, d.status, d.attempts from deliveries d
           join notifications n on n.id = d.notification_id
           where n.source_event_id = $1 and d.channel = 'webhook'""",
        event.event_id,
    )
    final = {r["recipient_id"]: (r["status"], r["attempts"]) for r in rows}
    assert final["webhook:fails"] == ("failed", 2)
    assert final["webhook:slow"] == ("failed", 2)
