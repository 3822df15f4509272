"""The yearly status of a goal (目標) from the indicators attached to it.

Plans print indicators under their goals as well as under measures. A goal is not graded on the
measures' scale (no 達成＋/A/B): its status for a fiscal year says how many of its own indicators
met their target — all, some or none — and is ``no_data`` when none of them could be evaluated
(no actual yet, or stale). The statuses are the latest ``indicator.status_changed`` per
indicator and year the plans service keeps for the goal node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from suishin.contracts.enums import IndicatorStatus
from suishin.plans.domain.grading import MET, NOT_EVALUABLE


class GoalStatus(StrEnum):
    ALL_MET = "all_met"
    SOME_MET = "some_met"
    NONE_MET = "none_met"
    NO_DATA = "no_data"


LABELS = {
    GoalStatus.ALL_MET: "達成",
    GoalStatus.SOME_MET: "一部達成",
    GoalStatus.NONE_MET: "未達成",
    GoalStatus.NO_DATA: "実績なし",
}


@dataclass(frozen=True)
class GoalYear:
    fiscal_year: int
    status: GoalStatus
    met: int
    evaluated: int
    indicators: int

    @property
    def label(self) -> str:
        """As shown: 一部達成（1/2指標）."""
        if self.status is GoalStatus.NO_DATA:
            return LABELS[self.status]
        return f"{LABELS[self.status]}（{self.met}/{self.evaluated}指標）"

    @property
    def is_failing(self) -> bool:
        return self.status is GoalStatus.NONE_MET


def goal_year(fiscal_year: int, statuses: Iterable[IndicatorStatus]) -> GoalYear:
    """The goal's status for one year from its indicators' statuses that year."""
    listed = list(statuses)
    evaluable = [s for s in listed if s not in NOT_EVALUABLE]
    met = sum(1 for s in evaluable if s in MET)
    if not evaluable:
        status = GoalStatus.NO_DATA
    elif met == len(evaluable):
        status = GoalStatus.ALL_MET
    elif met:
        status = GoalStatus.SOME_MET
    else:
        status = GoalStatus.NONE_MET
    return GoalYear(fiscal_year, status, met, len(evaluable), len(listed))


def goal_years(rows: Iterable[tuple[int, IndicatorStatus]]) -> list[GoalYear]:
    """One :class:`GoalYear` per fiscal year that has indicator statuses, oldest first."""
    by_year: dict[int, list[IndicatorStatus]] = {}
    for year, status in rows:
        by_year.setdefault(year, []).append(status)
    return [goal_year(year, by_year[year]) for year in sorted(by_year)]
