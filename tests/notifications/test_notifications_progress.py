"""The progress-report cycle and the alert life cycle, with an injectable clock, against the
real PostgreSQL: each workflow step reaches the posts concerned; an overdue report is one alert
per measure and period, escalated once per step and resolved by the submitted report (whose
recovery reaches everyone who got the alert); an overdue that arrives after the submission opens
nothing; a recovered measure tells the CIO and the 本部; e-mails held for quiet hours or a
digest are dropped when their alert was resolved before they went out; the plan's own words
(取組, 令和7年度 or FY2025) and the default owner when a plan names no department. The broker
path of the new topics is in test_notifications_progress_broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
import pytest_asyncio

from suishin.contracts import topics
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.kit.clock import FixedClock
from suishin.kit.db import transaction
from suishin.notifications import commands
from suishin.notifications.app import build
from suishin.notifications.directory import import_directory
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.shaping import JST
from suishin.notifications.runtime import NotificationsRuntime, runtime_of
from suishin.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration


def jst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


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
        grouping_window_seconds=60,
        escalation_business_days=3,
    )
    clock = FixedClock(jst("2026-06-03T10:00:00"))
    runtime, app = build(settings, clock=clock, consume=False, background=False)
    async with started(runtime):
        await import_directory(runtime.pool, ev.directory())
        # a second ward that prints fiscal years as FY2025
        await import_directory(runtime.pool, ev.directory("fiscalward", year_style="fiscal"))
        yield SimpleNamespace(
            runtime=runtime, app=app, sink=sink, clock=clock, service=runtime_of(runtime)
        )


def service(svc: SimpleNamespace) -> NotificationsRuntime:
    s: NotificationsRuntime = svc.service
    return s


async def handle(svc: SimpleNamespace, topic: str, *events: Any) -> None:
    await service(svc).handlers[topic](list(events))


async def report(svc: SimpleNamespace, *events: Any) -> None:
    await handle(svc, topics.PROGRESS_REPORT_WORKFLOW, *events)


async def notices(svc: SimpleNamespace, event_id: UUID) -> list[dict[str, Any]]:
    rows = await svc.runtime.pool.fetch(
        """select recipient_id, kind, severity, title, body, alert_id from notifications
           where source_event_id = $1 order by recipient_id, kind""",
        event_id,
    )
    return [dict(r) for r in rows]


async def outcomes(svc: SimpleNamespace, event_id: UUID) -> list[str]:
    rows = await svc.runtime.pool.fetch(
        "select outcome from routing_outcomes where source_event_id = $1 order by id", event_id
    )
    return [r["outcome"] for r in rows]


async def alerts_of(svc: SimpleNamespace, measure: UUID) -> list[dict[str, Any]]:
    rows = await svc.runtime.pool.fetch(
        "select * from alerts where subject = $1 order by opened_at", f"Measure:{measure}"
    )
    return [dict(r) for r in rows]


# --- the workflow steps ----------------------------------------------------------------------


async def test_each_step_reaches_the_posts_concerned_in_the_plans_words(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-06-03T10:00:00"))
    m = uuid4()
    submitted = ev.report("submitted", measure_id=m)
    returned = ev.report(
        "returned", measure_id=m, actor="jimukyoku@itabashi", comment="実績の数値を追記してください"
    )
    accepted = ev.report("accepted", measure_id=m, actor="jimukyoku@itabashi")
    approved = ev.report(
        "approved",
        measure_id=m,
        actor="cio@itabashi",
        grade="B",
        grade_label="概ね達成",
        is_grade_override=True,
        self_assessed_grade="A",
        comment="遅延した項目があるため",
    )
    published = ev.report("published", measure_id=m, actor="jimukyoku@itabashi")
    await report(svc, submitted, returned, accepted, approved, published)

    who = {
        e.event_type: [(n["recipient_id"], n["kind"]) for n in await notices(svc, e.event_id)]
        for e in (submitted, returned, accepted, approved, published)
    }
    assert who == {
        "progress_report.submitted": [("jimukyoku@itabashi", "report_submitted")],
        "progress_report.returned": [("reporter@itabashi", "report_returned")],
        "progress_report.accepted": [("reporter@itabashi", "report_accepted")],
        "progress_report.approved": [
            ("jimukyoku@itabashi", "report_approved"),
            ("reporter@itabashi", "report_approved"),
        ],
        "progress_report.published": [("reporter@itabashi", "report_published")],
    }
    [back] = await notices(svc, returned.event_id)
    assert (
        back["title"]
        == "【差戻し】取組「取組10 窓口のキャッシュレス化」の令和7年度進捗報告が差し戻されました"
    )
    assert "コメント: 実績の数値を追記してください" in back["body"]
    assert "所管課: 戸籍住民課" in back["body"]
    ok = [n for n in await notices(svc, approved.event_id) if n["recipient_id"].startswith("rep")]
    assert "（評価: 概ね達成）" in ok[0]["title"]
    assert (
        "所管課の自己評価（A）を本部が補正しました。理由: 遅延した項目があるため" in ok[0]["body"]
    )
    # a submission without an overdue alert resolves nothing and records nothing about it
    assert "no_open_alert" not in await outcomes(svc, submitted.event_id)


async def test_schedule_slip_reaches_the_secretariat_listing_the_tracks(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    slipped = ev.report("slipped", measure_id=uuid4())
    await report(svc, slipped)
    [n] = await notices(svc, slipped.event_id)
    assert (n["recipient_id"], n["kind"], n["severity"]) == (
        "jimukyoku@itabashi",
        "schedule_slipped",
        "warning",
    )
    assert "- 構築: 計画「構築」／遅延" in n["body"]
    assert "- 運用: 計画「運用」／未着手（事業者選定の遅れ）" in n["body"]


async def test_reminder_reaches_the_reporters_and_milestones_the_secretariat(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    due = ev.report("due_soon", measure_id=uuid4())
    await report(svc, due)
    [n] = await notices(svc, due.event_id)
    assert (n["recipient_id"], n["kind"]) == ("reporter@itabashi", "report_due_soon")
    assert (
        n["title"] == "【提出期限まで7日】取組「取組10 窓口のキャッシュレス化」の令和7年度進捗報告"
    )

    plan_level = ev.milestone()
    for_node = ev.milestone(departments=("戸籍住民課",))
    await handle(svc, topics.PLAN_MILESTONE_DUE, plan_level, for_node)
    assert [n["recipient_id"] for n in await notices(svc, plan_level.event_id)] == [
        "jimukyoku@itabashi"
    ]
    assert [n["recipient_id"] for n in await notices(svc, for_node.event_id)] == [
        "jimukyoku@itabashi",
        "reporter@itabashi",
    ]
    [m] = await notices(svc, plan_level.event_id)
    assert m["title"] == "【あと30日】計画「板橋区DX推進計画」の節目: 中間見直し（2026-03-31）"


# --- the overdue alert -----------------------------------------------------------------------


async def test_overdue_is_one_alert_escalated_once_and_resolved_by_the_submitted_report(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-06-03T10:00:00"))  # Wednesday
    m = uuid4()
    overdue, again = ev.report("overdue", measure_id=m), ev.report("overdue", measure_id=m)
    await report(svc, overdue)
    await report(svc, again)  # a second overdue event for the same measure and period
    [alert] = await alerts_of(svc, m)
    assert (alert["kind"], alert["period"], alert["state"]) == ("report_overdue", "FY2025", "open")
    assert alert["escalate_at"] == jst("2026-06-08T10:00:00")  # three business days
    assert [n["recipient_id"] for n in await notices(svc, overdue.event_id)] == [
        "reporter@itabashi"
    ]
    assert await outcomes(svc, again.event_id) == ["deduplicated"]

    escalations = """select recipient_id, severity from notifications
                     where alert_id = $1 and kind = 'escalation' order by recipient_id"""
    svc.clock.set(jst("2026-06-05T18:00:00"))
    await service(svc).scheduler_pass()
    assert await svc.runtime.pool.fetch(escalations, alert["id"]) == []
    svc.clock.set(jst("2026-06-08T10:00:00"))
    await service(svc).scheduler_pass()
    await service(svc).scheduler_pass()  # a second pass at the same time changes nothing
    rows = await svc.runtime.pool.fetch(escalations, alert["id"])
    assert [(r["recipient_id"], r["severity"]) for r in rows] == [("jimukyoku@itabashi", "warning")]

    svc.clock.set(jst("2026-06-09T10:00:00"))
    submitted = ev.report("submitted", measure_id=m)
    await report(svc, submitted)
    [resolved] = await alerts_of(svc, m)
    assert resolved["state"] == "resolved" and resolved["escalate_at"] is None
    recovery = [
        n["recipient_id"]
        for n in await notices(svc, submitted.event_id)
        if n["kind"] == "report_recovered"
    ]
    assert recovery == ["jimukyoku@itabashi", "reporter@itabashi"]  # the escalated one too
    # escalation stopped: the CIO is never told
    svc.clock.set(jst("2026-06-30T10:00:00"))
    await service(svc).scheduler_pass()
    rows = await svc.runtime.pool.fetch(escalations, alert["id"])
    assert [r["recipient_id"] for r in rows] == ["jimukyoku@itabashi"]


async def test_an_overdue_after_the_submission_opens_nothing(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-07-01T10:00:00"))
    m = uuid4()
    submitted = ev.report("submitted", measure_id=m)
    late = ev.report("overdue", measure_id=m)
    await report(svc, submitted)
    await report(svc, late)
    assert await alerts_of(svc, m) == []
    assert await outcomes(svc, late.event_id) == ["already_settled"]
    assert await notices(svc, late.event_id) == []
    # in one batch, in event order, the same
    m2 = uuid4()
    await report(svc, ev.report("submitted", measure_id=m2), ev.report("overdue", measure_id=m2))
    assert await alerts_of(svc, m2) == []
    # another period of the same measure is still overdue
    other = ev.report("overdue", measure_id=m, period="FY2026")
    await report(svc, other)
    assert [a["period"] for a in await alerts_of(svc, m)] == ["FY2026"]


# --- the alert life cycle (issue 13) ---------------------------------------------------------


async def test_a_recovered_measure_tells_everyone_who_got_the_failing_alert(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-07-02T10:00:00"))
    m = uuid4()
    failing = ev.measure_evaluated(measure_id=m, fiscal_year=2025, level_label="取組")
    await handle(svc, topics.MEASURE_EVALUATED, failing)
    told = [n["recipient_id"] for n in await notices(svc, failing.event_id)]
    assert told == ["cio@itabashi", "honbu@itabashi"]
    # the grade is corrected for the same year (an override): the same people hear of it
    passing = ev.measure_evaluated(
        measure_id=m, fiscal_year=2025, failing=False, level_label="取組"
    )
    await handle(svc, topics.MEASURE_EVALUATED, passing)
    recovered = [
        n for n in await notices(svc, passing.event_id) if n["kind"] == "measure_recovered"
    ]
    assert [n["recipient_id"] for n in recovered] == told
    assert recovered[0]["title"] == (
        "【回復】取組「施策3 行政手続きのオンライン化」の令和7年度評価は達成です"
    )
    assert {a["state"] for a in await alerts_of(svc, m)} == {"resolved"}

    # a subscriber to the grades gets the grade once, not a recovery it was never alerted about
    async with transaction(svc.runtime.pool) as conn:
        await commands.subscribe(
            conn,
            "itabashi",
            "jimukyoku@itabashi",
            event_types=["measure.evaluated"],
            plan_id=None,
            department_code=None,
            min_severity="info",
            now=svc.clock.now(),
        )
    calm = ev.measure_evaluated(fiscal_year=2025, failing=False)
    await handle(svc, topics.MEASURE_EVALUATED, calm)
    assert [(n["recipient_id"], n["kind"]) for n in await notices(svc, calm.event_id)] == [
        ("jimukyoku@itabashi", "measure_evaluated")
    ]
    assert [
        (n["recipient_id"], n["kind"])
        for n in await notices(svc, passing.event_id)
        if n["recipient_id"].startswith("jimu")
    ] == []

    # failing one year, passing the next: the earlier year's alert ends too
    # (the subscriber got that failing grade too, so it hears of the recovery as well)
    m2 = uuid4()
    last_year = ev.measure_evaluated(measure_id=m2, fiscal_year=2024)
    await handle(svc, topics.MEASURE_EVALUATED, last_year)
    alerted = [n["recipient_id"] for n in await notices(svc, last_year.event_id)]
    assert alerted == ["cio@itabashi", "honbu@itabashi", "jimukyoku@itabashi"]
    next_year = ev.measure_evaluated(measure_id=m2, fiscal_year=2025, failing=False)
    await handle(svc, topics.MEASURE_EVALUATED, next_year)
    assert {a["state"] for a in await alerts_of(svc, m2)} == {"resolved"}
    assert [
        n["recipient_id"]
        for n in await notices(svc, next_year.event_id)
        if n["kind"] == "measure_recovered"
    ] == alerted


async def test_held_mail_of_a_resolved_alert_is_dropped_not_sent(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-07-02T23:00:00"))  # quiet hours
    m = uuid4()
    overdue = ev.report("overdue", measure_id=m)
    await report(svc, overdue)
    mail = """select d.status, d.last_error from deliveries d
              join notifications n on n.id = d.notification_id
              where n.source_event_id = $1 and d.channel = 'email'"""
    held = await svc.runtime.pool.fetchrow(mail, overdue.event_id)
    assert held["status"] == "pending"
    svc.clock.set(jst("2026-07-02T23:30:00"))
    await report(svc, ev.report("submitted", measure_id=m))
    dropped = await svc.runtime.pool.fetchrow(mail, overdue.event_id)
    assert dropped["status"] == "dropped"
    assert dropped["last_error"] == "alert resolved before sending"
    before = len(svc.sink.messages)
    svc.clock.set(jst("2026-07-03T08:00:00"))
    await service(svc).dispatcher.run_once()
    sent = [c for _, _, c in svc.sink.messages[before:] if str(m).encode() in c]
    assert all("進捗報告が未提出" not in c.decode() for c in sent)

    # a digest entry (the 本部 member reads a weekly digest) is dropped the same way
    svc.clock.set(jst("2026-07-03T10:00:00"))
    async with transaction(svc.runtime.pool) as conn:
        await commands.update_preferences(
            conn, "itabashi", "honbu@itabashi", {"cadence": "weekly"}, svc.clock.now()
        )
    m2 = uuid4()
    failing = ev.measure_evaluated(measure_id=m2, fiscal_year=2025)
    await handle(svc, topics.MEASURE_EVALUATED, failing)
    digest = """select d.status from deliveries d join notifications n on n.id = d.notification_id
                where n.source_event_id = $1 and n.recipient_id = $2 and d.channel = 'email'"""
    assert await svc.runtime.pool.fetchval(digest, failing.event_id, "honbu@itabashi") == "digest"
    await handle(
        svc,
        topics.MEASURE_EVALUATED,
        ev.measure_evaluated(measure_id=m2, fiscal_year=2025, failing=False),
    )
    assert await svc.runtime.pool.fetchval(digest, failing.event_id, "honbu@itabashi") == "dropped"


# --- the plan's own words --------------------------------------------------------------------


async def test_no_owning_department_goes_to_the_default_owner_worded_as_such(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    svc.clock.set(jst("2026-07-06T10:00:00"))
    overdue = ev.report("overdue", measure_id=uuid4(), departments=())
    await report(svc, overdue)
    [n] = await notices(svc, overdue.event_id)
    assert (n["recipient_id"], n["kind"]) == ("jimukyoku@itabashi", "report_overdue")
    assert "未設定" not in n["body"]
    assert "所管: 事務局（計画に所管課の記載がないため、計画の既定の所管として）" in n["body"]


async def test_a_tenant_may_print_fiscal_years_as_fy(
    svc: SimpleNamespace, ev: SimpleNamespace
) -> None:
    returned = ev.report(
        "returned", measure_id=uuid4(), tenant="fiscalward", level_label="施策", comment="要修正"
    )
    await report(svc, returned)
    [n] = await notices(svc, returned.event_id)
    assert (
        n["title"]
        == "【差戻し】施策「取組10 窓口のキャッシュレス化」のFY2025進捗報告が差し戻されました"
    )


def test_unknown_rule_kinds_are_refused(ev: SimpleNamespace) -> None:
    data = ev.directory_data()
    data["rules"].append(
        {"name": "typo", "kinds": ["report_overdeu"], "targets": [{"post": "CIO"}]}
    )
    with pytest.raises(ValueError, match="unknown kind 'report_overdeu'"):
        Directory.model_validate(data)
