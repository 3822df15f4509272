"""Pure shaping rules: business days, quiet hours, digest slots, grouping and retry timing.

Everything here takes the current instant as an argument; nothing reads the wall clock. Times
of day are JST (Asia/Tokyo), because that is when the people being notified are at work.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache

import holidays

from suishin.contracts.calendar import JST
from suishin.contracts.enums import Severity


class Cadence(StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def severity_at_least(severity: Severity | str, minimum: Severity | str | None) -> bool:
    if minimum is None:
        return True
    return SEVERITY_RANK[Severity(severity)] >= SEVERITY_RANK[Severity(minimum)]


def parse_hhmm(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes or 0))


@lru_cache(maxsize=64)
def _japan_holidays(year: int) -> holidays.HolidayBase:
    return holidays.Japan(years=year)


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days of a Japanese municipal office: Monday–Friday, not a public holiday and not
    the year-end closure (12/29–1/3, 年末年始)."""

    year_end_closure: bool = True
    extra_closed: frozenset[date] = field(default_factory=frozenset)

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.extra_closed:
            return False
        if day in _japan_holidays(day.year):
            return False
        return not (
            self.year_end_closure
            and ((day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3))
        )

    def holiday_name(self, day: date) -> str | None:
        return _japan_holidays(day.year).get(day)

    def next_business_day(self, day: date, *, include_today: bool = False) -> date:
        current = day if include_today else day + timedelta(days=1)
        while not self.is_business_day(current):
            current += timedelta(days=1)
        return current

    def previous_business_day(self, day: date, *, include_today: bool = False) -> date:
        current = day if include_today else day - timedelta(days=1)
        while not self.is_business_day(current):
            current -= timedelta(days=1)
        return current

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same JST time of day ``days`` business days later (from a non-business day the
        count starts at the next business day)."""
        local = start.astimezone(JST)
        current = local.date()
        if not self.is_business_day(current):
            current = self.next_business_day(current)
            local = datetime.combine(current, time(0), JST)
        for _ in range(days):
            current = self.next_business_day(current)
        return datetime.combine(current, local.timetz().replace(tzinfo=None), JST)


@dataclass(frozen=True)
class QuietHours:
    """A nightly window (may cross midnight) in JST in which nothing but critical is pushed."""

    start: time
    end: time

    def contains(self, when: datetime) -> bool:
        t = when.astimezone(JST).time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


def next_send_time(
    now: datetime,
    severity: Severity | str,
    quiet: QuietHours | None,
    calendar: BusinessCalendar,
    *,
    business_days_only: bool = True,
) -> datetime:
    """When a push (e-mail, webhook) may go out: critical at once; anything else outside quiet
    hours and, unless disabled, on a business day (then at the end of the quiet window)."""
    if Severity(severity) is Severity.CRITICAL:
        return now

    def allowed(when: datetime) -> bool:
        if quiet is not None and quiet.contains(when):
            return False
        return not business_days_only or calendar.is_business_day(when.date())

    local = now.astimezone(JST)
    if allowed(local):
        return now
    morning = quiet.end if quiet is not None else time(8, 30)
    for offset in range(0, 40):  # the longest closure (年末年始 + weekends) is under two weeks
        candidate = datetime.combine(local.date() + timedelta(days=offset), morning, JST)
        if candidate > local and allowed(candidate):
            return candidate
    return now


@dataclass(frozen=True)
class DigestSchedule:
    daily_at: time = time(8, 30)
    weekly_weekday: int = 0
    weekly_at: time = time(8, 30)


def next_digest_slot(
    now: datetime, cadence: Cadence, schedule: DigestSchedule, calendar: BusinessCalendar
) -> datetime:
    """When the digest that will carry an item created ``now`` goes out.

    Daily: the next business day at ``daily_at`` (today if still ahead). Weekly: the next
    ``weekly_weekday`` at ``weekly_at``; if that day is a holiday, the business day before it,
    because the weekly digest exists to arrive before the 本部会議.
    """
    local = now.astimezone(JST)
    if cadence is Cadence.DAILY:
        day = local.date()
        if not calendar.is_business_day(day) or local.time() >= schedule.daily_at:
            day = calendar.next_business_day(day)
        return datetime.combine(day, schedule.daily_at, JST)
    if cadence is Cadence.WEEKLY:
        day = local.date() + timedelta(days=(schedule.weekly_weekday - local.weekday()) % 7)
        while True:
            send_day = day
            if not calendar.is_business_day(send_day):
                send_day = calendar.previous_business_day(send_day)
            slot = datetime.combine(send_day, schedule.weekly_at, JST)
            if slot > local:
                return slot
            day += timedelta(days=7)
    return now


def retry_delay(attempt: int, base: float, cap: float) -> timedelta:
    """Exponential backoff after failed attempt ``attempt`` (1-based)."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class Retries:
    """How often a delivery is tried, and the exponential backoff between attempts."""

    max_attempts: int
    backoff_base: float
    backoff_max: float

    def after(
        self, attempt: int, error: str | None, permanent: bool, finished: datetime
    ) -> tuple[str, str, datetime | None]:
        """After attempt ``attempt`` (1-based) ended with ``error`` (None: delivered):
        (the attempt's outcome, the delivery's status, when it is tried next)."""
        if error is None:
            return "delivered", "delivered", None
        if permanent or attempt >= self.max_attempts:
            return "failed", "failed", None
        return (
            "retry",
            "pending",
            finished + retry_delay(attempt, self.backoff_base, self.backoff_max),
        )


def dedup_key(*parts: object) -> str:
    """A stable key for "the same alert about the same subject and period"."""
    text = "|".join("" if p is None else str(p) for p in parts)
    if len(text) <= 200:
        return text
    return text[:120] + "#" + hashlib.sha256(text.encode()).hexdigest()[:32]
