"""Through the real broker: the progress-report workflow (one ordered topic, several event
types) and plan milestones reach the right people; an overdue report and its submission in
order resolve the alert, and an overdue after the submission opens nothing; poison on the new
topics goes to their dead-letter topics and the consumers keep going."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
import pytest_asyncio

from suishin.contracts import topics
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 3, 10, 0, tzinfo=JST)  # a Wednesday morning


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
        yield SimpleNamespace(runtime=runtime, app=app, sink=sink)


async def send(svc: SimpleNamespace, infra: Infrastructure, topic: str, *messages: Any) -> None:
    await produce(
        infra.kafka_bootstrap,
        svc.runtime.topic(topic),
        [m if isinstance(m, tuple) else (m.key, m.to_bytes()) for m in messages],
    )


async def told(svc: SimpleNamespace, event_id: UUID) -> list[tuple[str, str]]:
    rows = await svc.runtime.pool.fetch(
        """select recipient_id, kind from notifications where source_event_id = $1
           order by recipient_id, kind""",
        event_id,
    )
    return [(r["recipient_id"], r["kind"]) for r in rows]


async def test_workflow_events_on_one_topic_are_dispatched_by_type(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace
) -> None:
    m = uuid4()
    overdue = ev.report("overdue", measure_id=m)
    submitted = ev.report("submitted", measure_id=m)
    returned = ev.report("returned", measure_id=m, actor="jimukyoku@itabashi", comment="追記を")
    late = ev.report("overdue", measure_id=m)  # after the submission: opens nothing
    slipped = ev.report("slipped", measure_id=m)
    await send(svc, infra, topics.PROGRESS_REPORT_WORKFLOW, overdue, submitted, returned)
    await send(svc, infra, topics.PROGRESS_REPORT_WORKFLOW, late, slipped)

    async def slipped_done() -> list[tuple[str, str]]:
        return await told(svc, slipped.event_id)

    assert await wait_until(slipped_done, timeout=60) == [
        ("jimukyoku@itabashi", "schedule_slipped")
    ]
    assert await told(svc, overdue.event_id) == [("reporter@itabashi", "report_overdue")]
    assert await told(svc, submitted.event_id) == [
        ("jimukyoku@itabashi", "report_submitted"),
        ("reporter@itabashi", "report_recovered"),
    ]
    assert await told(svc, returned.event_id) == [("reporter@itabashi", "report_returned")]
    assert await told(svc, late.event_id) == []
    alerts = await svc.runtime.pool.fetch(
        "select state from alerts where subject = $1", f"Measure:{m}"
    )
    assert [a["state"] for a in alerts] == ["resolved"]

    # the inbox entries go out by e-mail too
    async def mailed() -> bool:
        return any(
            "reporter@itabashi.example.jp" in rcpts and str(m).encode() in content
            for _, rcpts, content in svc.sink.messages
        ) or bool(
            await svc.runtime.pool.fetchval(
                """select count(*) from deliveries d join notifications n
                   on n.id = d.notification_id where n.source_event_id = $1
                   and d.channel = 'email' and d.status = 'delivered'""",
                returned.event_id,
            )
        )

    assert await wait_until(mailed, timeout=60)


async def test_milestones_arrive_through_the_broker(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace
) -> None:
    milestone = ev.milestone(departments=("戸籍住民課",), days_left=0)
    await send(svc, infra, topics.PLAN_MILESTONE_DUE, milestone)

    async def done() -> list[tuple[str, str]]:
        return await told(svc, milestone.event_id)

    assert await wait_until(done, timeout=60) == [
        ("jimukyoku@itabashi", "milestone_due"),
        ("reporter@itabashi", "milestone_due"),
    ]


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        (topics.PROGRESS_REPORT_WORKFLOW, "unexpected_event_type"),
        (topics.PROGRESS_REPORT_WORKFLOW, "invalid_payload"),
        (topics.PROGRESS_REPORT_WORKFLOW, "malformed_json"),
        (topics.PLAN_MILESTONE_DUE, "unexpected_event_type"),
        (topics.PLAN_MILESTONE_DUE, "malformed_json"),
    ],
)
async def test_poison_on_the_new_topics_is_dead_lettered_and_the_consumer_keeps_going(
    svc: SimpleNamespace, infra: Infrastructure, ev: SimpleNamespace, topic: str, reason: str
) -> None:
    marker = str(uuid4())
    if reason == "unexpected_event_type":  # an event of another topic
        wrong = ev.indicator(title=marker)
        raw = wrong.to_bytes()
        if topic == topics.PLAN_MILESTONE_DUE:  # a workflow event on the milestone topic
            raw = ev.report("due_soon", measure_id=uuid4()).to_bytes()
            raw = raw.replace(b'"title":"', f'"title":"{marker}'.encode(), 1)
    elif reason == "invalid_payload":
        body = json.loads(ev.report("overdue", measure_id=uuid4()).to_bytes())
        body["payload"]["days_overdue"] = 0  # at least 1
        body["payload"]["title"] = marker
        raw = json.dumps(body).encode()
    else:
        raw = b'{"not json ' + marker.encode()
    good = (
        ev.report("due_soon", measure_id=uuid4())
        if topic == topics.PROGRESS_REPORT_WORKFLOW
        else ev.milestone()
    )
    await send(svc, infra, topic, (b"x", raw), good)

    async def good_done() -> list[tuple[str, str]]:
        return await told(svc, good.event_id)

    assert await wait_until(good_done, timeout=60)
    async with TopicReader(infra.kafka_bootstrap, svc.runtime.topic(topic) + ".dlq") as dlq:

        async def found() -> list[Any]:
            return [r for r in await dlq.wait_for(1) if marker.encode() in (r.value or b"")]

        [record] = await wait_until(found, timeout=60)
    assert dict(record.headers)["x-dlq-reason"] == reason.encode()
