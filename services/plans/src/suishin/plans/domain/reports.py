"""Progress reports (進捗報告): the yearly workflow of a measure's report and its rules. Pure.

Workflow (one report per measure and period; a period is ``FY2024`` or the interim ``FY2024-H1``)::

    draft ──submit──▶ submitted ──accept──▶ accepted ──approve──▶ approved ──publish──▶ published
      ▲                   │                                                              │
      └──(edit) returned ◀┘ return (with a comment)                correct: version n+1 (draft);
                                                                   publishing it supersedes n

Who (``kit.auth.Principal``):

- the 所管課 (REPORTER of a department answering for the measure: its own 所管課, else the
  nearest ancestor's, else the plan's default owner; :func:`may_report`) writes, edits and
  submits (draft or returned reports only) and asks for a correction of a published report;
- the 事務局 (ADMIN) returns or accepts submitted reports and sets deadlines;
- the 本部 / CIO (EXECUTIVE) approves accepted reports and may override the self-assessed grade
  with a reason;
- the 事務局 or the 本部 publishes approved reports (the 事務局 puts it on the ward's site, and the
  本部 may do it right after approving).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from suishin.contracts.enums import ProgressReportState as State
from suishin.contracts.enums import Role, ScheduleAdherence
from suishin.contracts.events import SlippedTrack
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, Forbidden
from suishin.plans.domain.ownership import OwnerSource, ReportingOwners, owners_for_reporting

TRANSITIONS: dict[State, frozenset[State]] = {
    State.DRAFT: frozenset({State.SUBMITTED}),
    State.SUBMITTED: frozenset({State.RETURNED, State.ACCEPTED}),
    State.RETURNED: frozenset({State.SUBMITTED}),
    State.ACCEPTED: frozenset({State.APPROVED}),
    State.APPROVED: frozenset({State.PUBLISHED}),
    State.PUBLISHED: frozenset({State.SUPERSEDED}),
    State.SUPERSEDED: frozenset(),
}
EDITABLE: frozenset[State] = frozenset({State.DRAFT, State.RETURNED})

STATE_LABELS: dict[State, str] = {
    State.DRAFT: "作成中",
    State.SUBMITTED: "提出済",
    State.RETURNED: "差戻し",
    State.ACCEPTED: "受理",
    State.APPROVED: "承認",
    State.PUBLISHED: "公表",
    State.SUPERSEDED: "訂正により置換",
}
ADHERENCE_LABELS: dict[ScheduleAdherence, str] = {
    ScheduleAdherence.ON_SCHEDULE: "予定どおり",
    ScheduleAdherence.AHEAD: "前倒し",
    ScheduleAdherence.DELAYED: "遅延",
    ScheduleAdherence.NOT_STARTED: "未着手",
    ScheduleAdherence.COMPLETED: "完了",
    ScheduleAdherence.CANCELLED: "中止",
}
SLIPPING: frozenset[ScheduleAdherence] = frozenset(
    {ScheduleAdherence.DELAYED, ScheduleAdherence.NOT_STARTED}
)
MAX_TEXT = 20_000
MAX_COMMENT = 4_000
DEFAULT_REMINDER_DAYS: tuple[int, ...] = (14, 7, 1)

_PERIOD = re.compile(r"^FY(\d{4})(-H1)?$")


# --- who ---------------------------------------------------------------------------------------


def may_report(principal: Principal, owners: Iterable[str]) -> bool:
    """Is ``principal`` a reporter (所管課) of a department answering for the measure?

    ``owners`` are the departments :func:`suishin.plans.domain.ownership.owners_for_reporting`
    names: the measure's own 所管課, else the nearest ancestor's, else the plan's default owner."""
    return principal.has(Role.REPORTER) and bool(principal.departments.intersection(owners))


def check_may_report(
    principal: Principal,
    owners: Sequence[str] | ReportingOwners,
    level_label: str | None = None,
) -> None:
    """Refuse unless ``principal`` may write or submit the report; the message names the node
    by the plan's level label (この取組 …) and the plan's default owner as such, never an empty
    「（未設定）」."""
    answer = (
        owners
        if isinstance(owners, ReportingOwners)
        else owners_for_reporting(list(owners), [], None)
    )
    if may_report(principal, answer.codes):
        return
    label = level_label or "施策"
    if answer.source is OwnerSource.NONE:
        raise DomainError(
            "REPORT_NOT_OWNER",
            f"この{label}には所管課も計画の既定の所管もないため、進捗報告を作成・提出できる"
            "報告者がいません（計画ファイルに所管課または default_owner を記載してください）",
            "This measure names no owning department and its plan no default owner, so "
            "nobody can write or submit its progress report (give the plan file an owner or a "
            "default_owner)",
        )
    if answer.is_plan_default:
        ja_owner = f"計画の既定の所管（{answer.codes[0]}）"
        en_owner = f"the plan's default owner ({answer.codes[0]})"
    else:
        ja_owner = f"所管課（{'・'.join(answer.codes)}）"
        en_owner = f"an owning department ({', '.join(answer.codes)})"
    raise DomainError(
        "REPORT_NOT_OWNER",
        f"この{label}の進捗報告を作成・提出できるのは{ja_owner}の報告者のみです",
        f"Only a reporter of {en_owner} can write or submit this measure's progress report",
    )


def check_may_review(principal: Principal) -> None:
    if not principal.has(Role.ADMIN):
        raise Forbidden(
            "進捗報告の差戻し・受理は事務局のみが行えます",
            "Only the 事務局 (admin) can return or accept a progress report",
        )


def check_may_approve(principal: Principal) -> None:
    if not principal.has(Role.EXECUTIVE):
        raise Forbidden(
            "進捗報告を承認できるのは本部（CIO・DX推進本部）のみです",
            "Only the 本部 / CIO (executive) can approve a progress report",
        )


def check_may_publish(principal: Principal) -> None:
    if not principal.has(Role.ADMIN, Role.EXECUTIVE):
        raise Forbidden(
            "進捗報告を公表できるのは事務局または本部のみです",
            "Only the 事務局 (admin) or the 本部 (executive) can publish a progress report",
        )


def check_may_set_deadline(principal: Principal) -> None:
    if not principal.has(Role.ADMIN):
        raise Forbidden(
            "提出期限を設定できるのは事務局のみです",
            "Only the 事務局 (admin) can set a report deadline",
        )


def check_may_correct(
    principal: Principal,
    owners: Sequence[str] | ReportingOwners,
    level_label: str | None = None,
) -> None:
    if principal.has(Role.ADMIN):
        return
    check_may_report(principal, owners, level_label)


# --- periods -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPeriod:
    text: str
    fiscal_year: int
    interim: bool


def parse_period(period: str) -> ReportPeriod:
    match = _PERIOD.match(period.strip())
    if match is None:
        raise DomainError(
            "INVALID_PERIOD",
            f"期間「{period}」は FY2024（年度）または FY2024-H1（上半期の中間報告）の形式で"
            "指定してください",
            f"Period {period!r} must be FY2024 (fiscal year) or FY2024-H1 (interim)",
            field="period",
        )
    return ReportPeriod(match.group(0), int(match.group(1)), match.group(2) is not None)


def check_period_in_plan(period: ReportPeriod, fy_from: int, fy_to: int) -> None:
    if not fy_from <= period.fiscal_year <= fy_to:
        raise DomainError(
            "REPORT_PERIOD_OUT_OF_PLAN",
            f"{period.text} は計画期間（{fy_from}〜{fy_to}年度）の外です",
            f"{period.text} is outside the plan's period (FY{fy_from}–FY{fy_to})",
            field="period",
        )


# --- workflow ----------------------------------------------------------------------------------


def check_transition(current: State, to: State) -> None:
    if to not in TRANSITIONS[current]:
        raise DomainError(
            "REPORT_INVALID_TRANSITION",
            f"「{STATE_LABELS[current]}」の進捗報告を「{STATE_LABELS[to]}」にはできません",
            f"A {current.value} progress report cannot become {to.value}",
            details={"from": current.value, "to": to.value},
        )


def check_editable(current: State) -> None:
    if current not in EDITABLE:
        raise DomainError(
            "REPORT_NOT_EDITABLE",
            f"「{STATE_LABELS[current]}」の進捗報告は編集できません（作成中・差戻しのみ）",
            f"A {current.value} progress report cannot be edited (draft or returned only)",
        )


def check_revision(expected: int | None, actual: int) -> None:
    """Optimistic concurrency: the writer must have read the current revision."""
    if expected is None or expected != actual:
        raise DomainError(
            "REPORT_STALE_VERSION",
            f"進捗報告は他の人が更新しました（現在の版 {actual}、編集元の版 {expected}）。"
            "読み込み直してから保存してください",
            f"The progress report was changed by someone else (revision {actual}, you edited "
            f"{expected}); reload it and save again",
            field="expectedRevision",
        )


def check_new_report(expected: int | None) -> None:
    if expected is not None:
        raise DomainError(
            "REPORT_STALE_VERSION",
            "編集元の進捗報告が見つかりません（削除または未作成）。読み込み直してください",
            "The progress report you edited does not exist; reload",
            field="expectedRevision",
        )


def check_results(results: str) -> None:
    if not results.strip():
        raise DomainError(
            "REPORT_RESULTS_REQUIRED",
            "実績を入力してから提出してください",
            "Fill in the results (実績) before submitting",
            field="results",
        )


def check_text(value: str, field: str, limit: int = MAX_TEXT) -> None:
    if len(value) > limit:
        raise DomainError(
            "REPORT_TEXT_TOO_LONG",
            f"{field} は{limit}文字以内で入力してください",
            f"{field} must be at most {limit} characters",
            field=field,
        )


def require_comment(comment: str | None) -> str:
    text = (comment or "").strip()
    if not text:
        raise DomainError(
            "REPORT_COMMENT_REQUIRED",
            "差戻しの理由（コメント）を入力してください",
            "Give a comment saying why the report is returned",
            field="comment",
        )
    check_text(text, "comment", MAX_COMMENT)
    return text


def check_override(self_grade: str | None, grade: str | None, reason: str | None) -> str | None:
    """The 本部 may set another grade than the self-assessment, with a reason."""
    text = (reason or "").strip() or None
    if grade is not None and grade != self_grade and text is None:
        raise DomainError(
            "REPORT_OVERRIDE_REASON_REQUIRED",
            "自己評価と異なる評価にする場合は理由を入力してください",
            "Give a reason when the grade differs from the self-assessment",
            field="reason",
        )
    return text


# --- schedule adherence ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdherenceEntry:
    track: str
    adherence: ScheduleAdherence
    note: str | None = None


@dataclass(frozen=True)
class PlannedTrack:
    """One schedule row of the measure: the track ('' for the only one) and its years."""

    track: str
    years: Mapping[int, str]  # fiscal year -> printed label
    first_year: int | None  # first year with a real phase (not '-')


def planned_tracks(rows: Iterable[Mapping[str, object]]) -> dict[str, PlannedTrack]:
    """Tracks of a measure from its ``node_schedule`` rows (fiscal_year, track, label, phase)."""
    years: dict[str, dict[int, str]] = {}
    first: dict[str, int | None] = {}
    for row in rows:
        track = str(row["track"] or "")
        year = int(str(row["fiscal_year"]))
        years.setdefault(track, {})[year] = str(row["label"])
        first.setdefault(track, None)
        if row["phase"] != "none":
            current = first[track]
            first[track] = year if current is None else min(current, year)
    return {t: PlannedTrack(t, y, first[t]) for t, y in years.items()}


def check_adherence(
    entries: Sequence[AdherenceEntry], tracks: Mapping[str, PlannedTrack], fiscal_year: int
) -> None:
    """Every entry names a track the plan schedules for that year, at most once."""
    year_tracks = sorted(t for t, p in tracks.items() if fiscal_year in p.years)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.track not in year_tracks:
            shown = "、".join(f"「{t}」" if t else "（区分なし）" for t in year_tracks)
            raise DomainError(
                "REPORT_UNKNOWN_TRACK",
                f"スケジュール区分「{entry.track}」は計画の{fiscal_year}年度にありません"
                f"（あるもの: {shown or 'なし'}）",
                f"Schedule track {entry.track!r} is not in the plan for FY{fiscal_year} "
                f"(tracks: {', '.join(repr(t) for t in year_tracks) or 'none'})",
                field=f"adherence[{i}].track",
            )
        if entry.track in seen:
            raise DomainError(
                "REPORT_DUPLICATE_TRACK",
                f"スケジュール区分「{entry.track}」が重複しています",
                f"Schedule track {entry.track!r} is listed twice",
                field=f"adherence[{i}].track",
            )
        seen.add(entry.track)
        if entry.note is not None:
            check_text(entry.note, f"adherence[{i}].note", 2000)


def slipped(
    entries: Sequence[AdherenceEntry], tracks: Mapping[str, PlannedTrack], fiscal_year: int
) -> list[SlippedTrack]:
    """Tracks reported 遅延 / 未着手 for a year at or after the year the plan starts them."""
    out: list[SlippedTrack] = []
    for entry in entries:
        plan = tracks.get(entry.track)
        if entry.adherence not in SLIPPING or plan is None:
            continue
        if plan.first_year is not None and fiscal_year >= plan.first_year:
            out.append(
                SlippedTrack(
                    track=entry.track,
                    planned=plan.years.get(fiscal_year),
                    adherence=entry.adherence,
                    note=entry.note,
                )
            )
    return out


# --- deadlines ---------------------------------------------------------------------------------


def check_reminder_days(days: Sequence[int]) -> list[int]:
    if any(d < 1 or d > 365 for d in days) or len(set(days)) != len(days):
        raise DomainError(
            "INVALID_REMINDER_DAYS",
            "リマインダーは期限の1〜365日前を重複なく指定してください",
            "Reminder days must be distinct numbers of days (1–365) before the deadline",
            field="reminderDays",
        )
    return sorted(days, reverse=True)


# --- the yearly status of a measure without numbers ---------------------------------------------

# Report states whose adherence counts for the measure's yearly status (reviewed by the 事務局).
COUNTING: frozenset[State] = frozenset({State.ACCEPTED, State.APPROVED, State.PUBLISHED})


def schedule_status(adherence: Iterable[ScheduleAdherence]) -> str | None:
    """The yearly status a measure's schedule adherence implies: ``behind`` when a track is
    遅延/未着手, ``complete`` when every track is 完了 (or 中止), ``on_track`` otherwise;
    None without entries."""
    values = list(adherence)
    if not values:
        return None
    if any(a in SLIPPING for a in values):
        return "behind"
    if all(a in (ScheduleAdherence.COMPLETED, ScheduleAdherence.CANCELLED) for a in values):
        return "complete"
    return "on_track"


# --- the deadline sweep ------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepStep:
    """A signal the sweep owes for a period: a reminder ``days`` before, or the overdue one."""

    step: str  # 'remind:<days>' or 'overdue'
    days: int  # days left (reminder) or days overdue


def due_steps(
    due_on: date, reminder_days: Sequence[int], today: date
) -> tuple[list[SweepStep], SweepStep | None]:
    """The steps that have come by ``today`` (to be recorded, so none goes out later) and the
    one to announce now: past the due date the overdue signal; before it the nearest reminder
    reached (a sweep that starts late does not send every earlier reminder at once)."""
    left = (due_on - today).days
    if left < 0:
        reached = [SweepStep(f"remind:{d}", 0) for d in reminder_days]
        overdue = SweepStep("overdue", -left)
        return [*reached, overdue], overdue
    reached = [SweepStep(f"remind:{d}", left) for d in sorted(reminder_days) if left <= d]
    return reached, reached[0] if reached else None


@dataclass(frozen=True)
class YearStatus:
    """A measure's status for one fiscal year, with or without numbers."""

    status: str  # complete | on_track | behind | no_data
    source: str  # lifecycle | report | grade | none
    grade: str | None


def yearly_status(
    *,
    lifecycle: str | None,
    grade: str | None,
    grade_is_failing: bool,
    adherence: Sequence[ScheduleAdherence] | None,
) -> YearStatus:
    """The yearly status of a measure from everything known about the year.

    - the plan (or a later change) says 完了 → ``complete`` (lifecycle);
    - a reviewed report (accepted, approved or published) with schedule adherence → what the
      adherence says (``behind`` when a track is 遅延/未着手, ``complete`` when all are 完了/中止,
      else ``on_track``);
    - a grade (from indicators, the ward's published grade, an override, else the approved
      report's) → ``behind`` when it is the failing grade, else ``on_track``;
    - nothing → ``no_data``, and never a grade.

    ``adherence`` None means no reviewed report of the year."""
    if lifecycle == "完了":
        return YearStatus("complete", "lifecycle", grade)
    if adherence:
        status = schedule_status(adherence)
        assert status is not None
        return YearStatus(status, "report", grade)
    if grade is not None:
        return YearStatus("behind" if grade_is_failing else "on_track", "grade", grade)
    if adherence is not None:  # a reviewed report without schedule tracks
        return YearStatus("on_track", "report", None)
    return YearStatus("no_data", "none", None)
