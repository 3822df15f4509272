"""Pure rules: business days (weekends, holidays, 年末年始), quiet hours, digest slots,
routing matches, directory validation, webhook signatures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from suishin.contracts.enums import IndicatorStatus, Severity
from suishin.notifications.channels.webhook import render_body, sign, verify
from suishin.notifications.directory import load_directory
from suishin.notifications.domain import triggers
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.routing import DepartmentIndex, SilenceView, silence_applies
from suishin.notifications.domain.shaping import (
    JST,
    BusinessCalendar,
    Cadence,
    DigestSchedule,
    QuietHours,
    next_digest_slot,
    next_send_time,
    retry_delay,
)
from suishin.notifications.rendering import Renderer

CAL = BusinessCalendar()
QUIET = QuietHours(time(22, 0), time(7, 30))
REPO = Path(__file__).resolve().parents[2]


def jst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


@pytest.mark.parametrize(
    ("day", "business"),
    [
        ("2025-06-11", True),  # Wednesday
        ("2025-06-14", False),  # Saturday
        ("2025-07-21", False),  # 海の日
        ("2025-05-06", False),  # 振替休日
        ("2025-12-29", False),  # 年末年始
        ("2026-01-05", True),
    ],
)
def test_business_days(day: str, business: bool) -> None:
    assert CAL.is_business_day(date.fromisoformat(day)) is business


def test_add_business_days_skips_weekends_and_holidays() -> None:
    assert CAL.add_business_days(jst("2025-07-17T10:00:00"), 3) == jst("2025-07-23T10:00:00")
    assert CAL.add_business_days(jst("2025-12-26T09:00:00"), 1) == jst("2026-01-05T09:00:00")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2025-06-11T10:00:00", "2025-06-11T10:00:00"),
        ("2025-06-11T23:00:00", "2025-06-12T07:30:00"),
        ("2025-06-12T03:00:00", "2025-06-12T07:30:00"),
        ("2025-06-13T22:30:00", "2025-06-16T07:30:00"),  # Friday night → Monday
        ("2025-07-19T12:00:00", "2025-07-22T07:30:00"),  # Saturday before 海の日
    ],
)
def test_quiet_hours_and_business_days(now: str, expected: str) -> None:
    assert next_send_time(jst(now), Severity.WARNING, QUIET, CAL) == jst(expected)


def test_critical_is_never_held() -> None:
    now = jst("2025-06-14T23:59:00")
    assert next_send_time(now, Severity.CRITICAL, QUIET, CAL) == now


def test_digest_slots() -> None:
    schedule = DigestSchedule(time(8, 30), 0, time(8, 30))
    assert next_digest_slot(jst("2025-06-11T10:00:00"), Cadence.DAILY, schedule, CAL) == jst(
        "2025-06-12T08:30:00"
    )
    assert next_digest_slot(jst("2025-06-13T07:00:00"), Cadence.DAILY, schedule, CAL) == jst(
        "2025-06-13T08:30:00"
    )
    assert next_digest_slot(jst("2025-06-11T10:00:00"), Cadence.WEEKLY, schedule, CAL) == jst(
        "2025-06-16T08:30:00"
    )
    # Monday 7/21 is a holiday: the weekly digest comes the business day before the meeting.
    assert next_digest_slot(jst("2025-07-16T10:00:00"), Cadence.WEEKLY, schedule, CAL) == jst(
        "2025-07-18T08:30:00"
    )


def test_retry_backoff_is_exponential_and_capped() -> None:
    assert [retry_delay(n, 30, 600).total_seconds() for n in (1, 2, 3, 6)] == [30, 60, 120, 600]


def test_triggers_classify_status_changes(ev: SimpleNamespace) -> None:
    off = triggers.from_indicator(ev.indicator(to=IndicatorStatus.OFF_TRACK))
    assert (off.kind, off.severity, off.is_alert) == ("indicator_off_track", Severity.WARNING, True)
    stale = triggers.from_indicator(ev.indicator(to=IndicatorStatus.STALE))
    assert stale.kind == "report_overdue"
    back = triggers.from_indicator(
        ev.indicator(to=IndicatorStatus.ACHIEVED, before=IndicatorStatus.AT_RISK)
    )
    assert back.kind == "indicator_recovered" and back.announce_recovery
    [twice] = triggers.from_measure_evaluation(ev.measure_evaluated(years=2))
    assert (twice.kind, twice.severity) == ("measure_failing", Severity.CRITICAL)


def test_departments_match_by_code_name_or_alias() -> None:
    index = DepartmentIndex([("koseki", "戸籍住民課", ["戸籍"]), ("it", "IT推進課", [])])
    assert index.resolve(["戸籍 住民課", "it推進課", "戸籍", "総務課"]) == (
        ["koseki", "it"],
        ["総務課"],
    )


def test_silences_never_cover_critical(ev: SimpleNamespace) -> None:
    silence = SilenceView(
        id=__import__("uuid").uuid4(),
        kinds=(),
        subject=None,
        department_code=None,
        recipient_id=None,
        starts_at=jst("2025-01-01T00:00:00"),
        expires_at=jst("2026-01-01T00:00:00"),
    )
    now = jst("2025-06-11T10:00:00")
    warning = triggers.from_indicator(ev.indicator())
    [critical] = triggers.from_measure_evaluation(ev.measure_evaluated(years=2))
    assert silence_applies(silence, warning, [], "x", now)
    assert not silence_applies(silence, critical, [], "x", now)
    assert not silence_applies(silence, warning, [], "x", jst("2026-01-01T00:00:00"))


def test_directory_rejects_dangling_references(ev: SimpleNamespace) -> None:
    data = ev.directory_data()
    data["rules"].append({"name": "bad", "targets": [{"post": "部長"}], "webhooks": ["none"]})
    with pytest.raises(ValidationError) as info:
        Directory.model_validate(data)
    assert "unknown post '部長'" in str(info.value) and "unknown webhook 'none'" in str(info.value)


@pytest.mark.parametrize("tenant", ["itabashi", "nerima", "bunkyo"])
def test_demo_directories_are_valid(tenant: str) -> None:
    directory = load_directory(REPO / "datasets" / "directory" / f"{tenant}.yaml")
    ids = {p.id for p in directory.people}
    assert {f"cio@{tenant}", f"jimukyoku@{tenant}", f"reporter@{tenant}"} <= ids
    assert all(p.email and p.email.endswith(".example.jp") for p in directory.people)
    assert {r.kinds[0] for r in directory.rules} >= {"indicator_off_track", "measure_failing"}


def test_every_kind_renders_in_both_languages(ev: SimpleNamespace) -> None:
    renderer = Renderer()
    signals = [
        triggers.from_indicator(ev.indicator(to=s, before=b))
        for s, b in [
            (IndicatorStatus.OFF_TRACK, IndicatorStatus.ON_TRACK),
            (IndicatorStatus.AT_RISK, None),
            (IndicatorStatus.STALE, None),
            (IndicatorStatus.ON_TRACK, IndicatorStatus.OFF_TRACK),
            (IndicatorStatus.NO_DATA, None),
        ]
    ] + [
        signal
        for f, y in [(True, 2), (False, 0)]
        for signal in triggers.from_measure_evaluation(ev.measure_evaluated(failing=f, years=y))
    ]
    for signal in signals:
        for lang in ("ja", "en"):
            title, body = renderer.notice(
                signal.kind, lang, {"f": signal.facts, "severity": signal.severity.value}
            )
            assert title and body
    ja_title, _ = renderer.notice(
        signals[0].kind, "ja", {"f": signals[0].facts, "severity": "warning"}
    )
    assert (
        ja_title == "【警告】指標「マイナンバーカード交付枚数」が目標未達の見込みです（令和7年度）"
    )
    fiscal, _ = renderer.notice(
        signals[0].kind,
        "ja",
        {"f": signals[0].facts, "severity": "warning", "year_style": "fiscal"},
    )
    assert fiscal.endswith("目標未達の見込みです（FY2025）")


def independent_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def test_webhook_signatures_verify_independently() -> None:
    body = render_body(
        "generic",
        {
            "id": "n1",
            "tenant": "itabashi",
            "kind": "indicator_off_track",
            "severity": "warning",
            "title": "題",
            "body": "本文",
            "created_at": jst("2025-06-11T10:00:00"),
        },
        "http://portal/indicators/1",
    )
    signature = sign("s3cret", 1749600000, body)
    assert signature == independent_signature(b"s3cret", "1749600000", body)
    assert verify("s3cret", "1749600000", body, signature, now=1749600100)
    assert not verify("s3cret", "1749600000", body + b" ", signature, now=1749600100)
    assert not verify("s3cret", "1749600000", body, signature, now=1749610000)  # replayed
