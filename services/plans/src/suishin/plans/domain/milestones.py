"""Reminders of the dated milestones a plan prints (a mid-term review year, a national deadline
past the plan period): which reminder steps are due on a day.

A milestone has reminder steps in days before it (e.g. 90, 30, 7 and 0 = on the day). On a day,
the steps whose point has come and that were not sent yet are due; only the most recent one is
sent (``days_left`` = the real days left) and the earlier ones are recorded as skipped, so a
sweep that ran late sends one reminder, not a burst. Nothing is sent after the day itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class MilestoneSpec:
    key: str
    title: str
    due_on: date
    remind_days: tuple[int, ...]
    node_path: str | None = None


@dataclass(frozen=True)
class Reminder:
    milestone: MilestoneSpec
    remind_days: int
    """The step (days before the milestone) this reminder stands for."""
    days_left: int
    skipped: bool = False
    """Passed over: a later step is due on the same sweep; recorded, not announced."""


def reminders_due(
    milestones: Iterable[MilestoneSpec], sent: set[tuple[str, int, date]], today: date
) -> list[Reminder]:
    """The reminders to record today; ``sent`` = (milestone key, step, due date) already
    recorded (sent or skipped)."""
    out: list[Reminder] = []
    for m in milestones:
        if today > m.due_on:
            continue
        due = sorted(
            (
                d
                for d in set(m.remind_days)
                if m.due_on - timedelta(days=d) <= today and (m.key, d, m.due_on) not in sent
            ),
        )
        if not due:
            continue
        days_left = (m.due_on - today).days
        out.append(Reminder(m, due[0], days_left))
        out.extend(Reminder(m, d, days_left, skipped=True) for d in due[1:])
    return out
