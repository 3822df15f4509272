"""Progress reports (進捗報告) in the plans subgraph: the report type, the 事務局 / 本部 queue,
the public read of published reports, and the workflow's mutations.

``Query`` and ``Mutation`` (query.py, mutation.py) inherit :class:`ReportQuery` and
:class:`ReportMutation`; ``Measure.progressReports`` / ``Measure.currentReport`` (types.py)
return :class:`ProgressReport`. The indicator actuals of the year are not copied here: the
gateway joins ``Measure.indicators`` (indicators subgraph) beside ``currentReport``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import asyncpg
import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from suishin.contracts.enums import ProgressReportState as State
from suishin.contracts.enums import Role
from suishin.kit.auth import Principal
from suishin.kit.enums import ProgressReportState, ScheduleAdherence
from suishin.kit.errors import DomainError, Forbidden, NotFound, UserError
from suishin.kit.graphql import context_of
from suishin.kit.loading import when_loaded
from suishin.plans import commands, storage
from suishin.plans.commands import MultipleErrors, ReportContent
from suishin.plans.domain import reports as rules
from suishin.plans.graphql.loaders import loaders_of
from suishin.plans.runtime import PlansRuntime
from suishin.plans.storage import Conn

if TYPE_CHECKING:
    from suishin.plans.graphql.types import Measure

MAX_LIST = 500


def _principal(info: Info[Any, Any]) -> Principal:
    return context_of(info).principal


def _internal(info: Info[Any, Any], tenant: str) -> bool:
    principal = _principal(info)
    return principal.tenant == tenant and principal.can_read_internal


def visible_reports(
    rows: list[asyncpg.Record], internal: bool, period: str | None = None
) -> list[asyncpg.Record]:
    """The versions a caller sees: staff of the ward every version, others published ones."""
    out = [r for r in rows if period is None or r["period"] == period]
    return out if internal else [r for r in out if r["state"] == State.PUBLISHED]


@strawberry.type(description="How one schedule track of the year went (as the 所管課 reports).")
class AdherenceEntry:
    track: str = strawberry.field(description="Track as printed ('' when the plan has one).")
    planned: str | None = strawberry.field(description="The year's plan as printed (検討, 運用).")
    adherence: ScheduleAdherence = strawberry.field(description="予定どおり, 遅延, ...")
    label: str = strawberry.field(description="The adherence in Japanese: 予定どおり, 遅延, ...")
    note: str | None = strawberry.field(description="Note of the 所管課.")


@strawberry.type(description="A link to evidence of a report (資料, 公表ページ).")
class EvidenceLink:
    url: str = strawberry.field(description="URL.")
    title: str | None = strawberry.field(description="Title.")


@strawberry.type(description="One workflow step of a report: who, when, why, from and to.")
class ReportTransition:
    report_version: int = strawberry.field(description="The version the step applies to.")
    from_state: ProgressReportState | None = strawberry.field(description="Before (null: new).")
    to_state: ProgressReportState = strawberry.field(description="After.")
    actor: str = strawberry.field(description="Who (subject of the token, or import).")
    comment: str | None = strawberry.field(description="Why (return comment, override reason).")
    at: datetime = strawberry.field(description="When.")


@strawberry.type(
    description="A measure's progress report (進捗報告) for a period: 実績, 課題, 方向性, schedule "
    "adherence per track, grade, evidence and its workflow. Select `measure { indicators }` "
    "through the gateway for the indicator actuals of the year."
)
class ProgressReport:
    id: strawberry.ID = strawberry.field(description="Report version id.")
    row: strawberry.Private[asyncpg.Record]

    @classmethod
    def of(cls, row: asyncpg.Record) -> ProgressReport:
        return cls(id=strawberry.ID(str(row["id"])), row=row)

    @strawberry.field(description="Municipality slug.")
    def tenant(self) -> str:
        return str(self.row["tenant"])

    @strawberry.field(description="Id of the measure.")
    def measure_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["measure_id"]))

    @strawberry.field(description="The measure (null when not visible).")
    async def measure(
        self, info: Info[Any, Any]
    ) -> Annotated[Measure, strawberry.lazy("suishin.plans.graphql.types")] | None:
        from suishin.plans.graphql.types import Measure

        return await Measure.resolve_reference(info, strawberry.ID(str(self.row["measure_id"])))

    @strawberry.field(description="Period: FY2024 (fiscal year) or FY2024-H1 (interim).")
    def period(self) -> str:
        return str(self.row["period"])

    @strawberry.field(description="Fiscal year of the period.")
    def fiscal_year(self) -> int:
        return int(self.row["fiscal_year"])

    @strawberry.field(description="True for a half-year interim report.")
    def is_interim(self) -> bool:
        return str(self.row["period"]).endswith("-H1")

    @strawberry.field(description="1, or higher for a correction of a published report.")
    def version(self) -> int:
        return int(self.row["version"])

    @strawberry.field(description="Workflow state.")
    def state(self) -> ProgressReportState:
        return ProgressReportState(self.row["state"])

    @strawberry.field(description="Workflow state in Japanese: 作成中, 提出済, 差戻し, ...")
    def state_label(self) -> str:
        return rules.STATE_LABELS[State(self.row["state"])]

    @strawberry.field(description="Revision for optimistic concurrency: send it back on save.")
    def revision(self) -> int:
        return int(self.row["revision"])

    @strawberry.field(description="実績: what was done.")
    def results(self) -> str:
        return str(self.row["results"])

    @strawberry.field(description="課題: issues met.")
    def issues(self) -> str:
        return str(self.row["issues"])

    @strawberry.field(description="今後の方向性 / 改善策.")
    def direction(self) -> str:
        return str(self.row["direction"])

    @strawberry.field(description="The 所管課's self-assessed grade (code on the scale).")
    def self_assessed_grade(self) -> str | None:
        return self.row["self_grade"]

    @strawberry.field(
        description="The grade that counts once approved (the 本部's, else the self-assessment)."
    )
    def grade(self) -> str | None:
        return self.row["grade"] or (
            self.row["self_grade"] if self.row["state"] in ("approved", "published") else None
        )

    @strawberry.field(description="Label of `grade` on the ward's scale, e.g. 達成.")
    def grade_label(self, info: Info[Any, Any]) -> str | None:
        code = self.grade()
        if code is None:
            return None

        def label(scale: Any) -> str | None:
            found = scale.find(code)
            return found.label if found else code

        return when_loaded(label, (loaders_of(context_of(info)).plan_scale, self.row["plan_id"]))

    @strawberry.field(
        description="Why the 本部 set another grade than the self-assessment (internal: null "
        "for other callers)."
    )
    def grade_reason(self, info: Info[Any, Any]) -> str | None:
        return self.row["grade_reason"] if _internal(info, self.row["tenant"]) else None

    @strawberry.field(description="Schedule adherence per track of the year.")
    def adherence(self, info: Info[Any, Any]) -> list[AdherenceEntry]:
        return when_loaded(
            lambda rows: [
                AdherenceEntry(
                    track=r["track"],
                    planned=r["planned"],
                    adherence=ScheduleAdherence(r["adherence"]),
                    label=rules.ADHERENCE_LABELS[ScheduleAdherence(r["adherence"])],
                    note=r["note"],
                )
                for r in rows
            ],
            (loaders_of(context_of(info)).report_adherence, self.row["id"]),
        )

    @strawberry.field(description="Links to evidence.")
    def evidence(self, info: Info[Any, Any]) -> list[EvidenceLink]:
        return when_loaded(
            lambda rows: [EvidenceLink(url=r["url"], title=r["title"]) for r in rows],
            (loaders_of(context_of(info)).report_evidence, self.row["id"]),
        )

    @strawberry.field(
        description="Every workflow step of this version (internal: staff of the ward only)."
    )
    def transitions(self, info: Info[Any, Any]) -> list[ReportTransition] | None:
        if not _internal(info, self.row["tenant"]):
            return None
        return when_loaded(
            lambda rows: [
                ReportTransition(
                    report_version=r["report_version"],
                    from_state=ProgressReportState(r["from_state"]) if r["from_state"] else None,
                    to_state=ProgressReportState(r["to_state"]),
                    actor=r["actor"],
                    comment=r["comment"],
                    at=r["at"],
                )
                for r in rows
            ],
            (loaders_of(context_of(info)).report_transitions, self.row["id"]),
        )

    @strawberry.field(description="Who wrote it (internal: null for other callers).")
    def created_by(self, info: Info[Any, Any]) -> str | None:
        return self.row["created_by"] if _internal(info, self.row["tenant"]) else None

    @strawberry.field(description="When the version was created.")
    def created_at(self) -> datetime:
        return self.row["created_at"]

    @strawberry.field(description="When it last changed.")
    def updated_at(self) -> datetime:
        return self.row["updated_at"]

    @strawberry.field(description="When it was last submitted.")
    def submitted_at(self) -> datetime | None:
        return self.row["submitted_at"]

    @strawberry.field(description="When it was published.")
    def published_at(self) -> datetime | None:
        return self.row["published_at"]


@strawberry.enum(description="A measure's status for a fiscal year, with or without numbers.")
class YearStatusKind(Enum):
    COMPLETE = "complete"
    ON_TRACK = "on_track"
    BEHIND = "behind"
    NO_DATA = "no_data"


@strawberry.type(
    description="A measure's yearly status: from its lifecycle (完了), the schedule adherence of "
    "its reviewed progress report, or its grade; NO_DATA (and no grade) when there is none."
)
class MeasureYearStatus:
    fiscal_year: int = strawberry.field(description="Fiscal year.")
    status: YearStatusKind = strawberry.field(description="COMPLETE, ON_TRACK, BEHIND or NO_DATA.")
    source: str = strawberry.field(description="lifecycle, report, grade or none.")
    grade: str | None = strawberry.field(
        description="The grade that counts (indicators, published, override), else the approved "
        "report's; null without data."
    )
    grade_label: str | None = strawberry.field(description="Its label on the ward's scale.")


def year_status_view(
    fiscal_year: int,
    lifecycle: str | None,
    grades: list[asyncpg.Record],
    reported: list[asyncpg.Record],
    scale: Any,
) -> MeasureYearStatus:
    effective = next(
        (g["effective_grade"] for g in grades if g["fiscal_year"] == fiscal_year), None
    )
    report = next((r for r in reported if r["fiscal_year"] == fiscal_year), None)
    report_grade = None
    if report is not None and report["state"] in ("approved", "published"):
        report_grade = report["grade"] or report["self_grade"]
    grade = effective or report_grade
    found = rules.yearly_status(
        lifecycle=lifecycle,
        grade=grade,
        grade_is_failing=scale.is_failing(grade),
        adherence=[ScheduleAdherence(a) for a in report["adherence"]] if report else None,
    )
    definition = scale.find(found.grade)
    return MeasureYearStatus(
        fiscal_year=fiscal_year,
        status=YearStatusKind(found.status),
        source=found.source,
        grade=found.grade,
        grade_label=definition.label if definition else found.grade,
    )


@strawberry.type(description="The due date of a period's progress reports in a ward.")
class ReportDeadline:
    period: str = strawberry.field(description="FY2024 or FY2024-H1.")
    due_on: date = strawberry.field(description="Due date (set by the 事務局).")
    reminder_days: list[int] = strawberry.field(description="Reminders, days before the date.")
    set_by: str = strawberry.field(description="Who set it.")
    set_at: datetime = strawberry.field(description="When.")

    @classmethod
    def of(cls, row: asyncpg.Record) -> ReportDeadline:
        return cls(
            period=row["period"],
            due_on=row["due_on"],
            reminder_days=list(row["reminder_days"]),
            set_by=row["set_by"],
            set_at=row["set_at"],
        )


@strawberry.type(description="Result of a progress-report mutation.")
class ProgressReportPayload:
    report: ProgressReport | None = strawberry.field(description="The report after the step.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of setReportDeadline.")
class ReportDeadlinePayload:
    deadline: ReportDeadline | None = strawberry.field(description="The deadline.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.input(description="Schedule adherence of one track of the year.")
class AdherenceInput:
    adherence: ScheduleAdherence = strawberry.field(description="予定どおり, 遅延, 未着手, ...")
    track: str = strawberry.field(
        default="", description="Track as printed in the plan ('' when it has only one)."
    )
    note: str | None = strawberry.field(default=None, description="Note.")


@strawberry.input(description="A link to evidence.")
class EvidenceInput:
    url: str = strawberry.field(description="URL.")
    title: str | None = strawberry.field(default=None, description="Title.")


@strawberry.input(description="The 所管課's report for a period (creates or edits the draft).")
class SaveProgressReportInput:
    measure_id: strawberry.ID = strawberry.field(description="The measure.")
    period: str = strawberry.field(description="FY2024 or FY2024-H1.")
    expected_revision: int | None = strawberry.field(
        default=None, description="The revision you edited (null to create the report)."
    )
    results: str = strawberry.field(default="", description="実績.")
    issues: str = strawberry.field(default="", description="課題.")
    direction: str = strawberry.field(default="", description="今後の方向性 / 改善策.")
    self_assessed_grade: str | None = strawberry.field(
        default=None, description="Self-assessed grade (code or label on the ward's scale)."
    )
    adherence: list[AdherenceInput] = strawberry.field(
        default_factory=list, description="Adherence per schedule track of the year."
    )
    evidence: list[EvidenceInput] = strawberry.field(
        default_factory=list, description="Links to evidence."
    )


def _errors(exc: DomainError) -> list[UserError]:
    if isinstance(exc, MultipleErrors):
        return [UserError.of(e) for e in exc.errors]
    return [UserError.of(exc)]


def _now(info: Info[Any, Any]) -> datetime:
    runtime = context_of(info).runtime
    assert isinstance(runtime, PlansRuntime)
    return runtime.clock.now()


async def _step(
    info: Info[Any, Any],
    measure_id: strawberry.ID,
    work: Callable[[Conn, Principal, UUID, datetime], Awaitable[asyncpg.Record]],
) -> ProgressReportPayload:
    """Parse the id, run one command in one transaction; a DomainError writes nothing."""
    principal = _principal(info)
    if principal.tenant is None:
        return ProgressReportPayload(
            report=None, errors=[UserError.of(Forbidden("ログインが必要です", "Sign in first"))]
        )
    try:
        mid = UUID(str(measure_id))
    except ValueError:
        return ProgressReportPayload(
            report=None, errors=[UserError.of(NotFound("施策", "Measure", str(measure_id)))]
        )
    try:
        async with context_of(info).runtime.pool.acquire() as conn, conn.transaction():
            row = await work(conn, principal, mid, _now(info))
    except DomainError as exc:
        return ProgressReportPayload(report=None, errors=_errors(exc))
    return ProgressReportPayload(report=ProgressReport.of(row), errors=[])


@strawberry.type(description="Progress-report queries.")
class ReportQuery:
    @strawberry.field(
        description="What waits for the caller: submitted reports for the 事務局 (admin), "
        "accepted ones for the 本部 / CIO (executive); oldest first."
    )
    async def progress_report_queue(
        self, info: Info[Any, Any], first: int = 100
    ) -> list[ProgressReport]:
        principal = _principal(info)
        states = []
        if principal.has(Role.ADMIN):
            states.append(State.SUBMITTED.value)
        if principal.has(Role.EXECUTIVE):
            states.append(State.ACCEPTED.value)
        if not states or principal.tenant is None:
            error = Forbidden(
                "進捗報告の確認待ち一覧は事務局・本部のみ参照できます",
                "Only the 事務局 (admin) or the 本部 (executive) have a report queue",
            )
            raise GraphQLError(
                f"{error.message_en} / {error.message_ja}",
                extensions={"code": error.code, "message_ja": error.message_ja},
            )
        rows = await storage.reports.queue(
            context_of(info).runtime.pool,
            principal.tenant,
            states,
            limit=max(1, min(first, MAX_LIST)),
        )
        return [ProgressReport.of(r) for r in rows]

    @strawberry.field(
        description="Published progress reports of a ward (public, no token needed), of one plan "
        "and period if given, in the plan's order."
    )
    async def published_progress_reports(
        self,
        info: Info[Any, Any],
        tenant: str,
        plan_key: str | None = None,
        period: str | None = None,
        first: int = MAX_LIST,
    ) -> list[ProgressReport]:
        rows = await storage.reports.published(
            context_of(info).runtime.pool,
            tenant,
            plan_key,
            period,
            limit=max(1, min(first, MAX_LIST)),
        )
        return [ProgressReport.of(r) for r in rows]

    @strawberry.field(description="Report deadlines of the caller's ward (staff only).")
    async def report_deadlines(self, info: Info[Any, Any]) -> list[ReportDeadline]:
        principal = _principal(info)
        if principal.tenant is None or not principal.can_read_internal:
            return []
        rows = await storage.reports.deadlines(context_of(info).runtime.pool, principal.tenant)
        return [ReportDeadline.of(r) for r in rows]


@strawberry.type(description="Progress-report workflow.")
class ReportMutation:
    @strawberry.mutation(
        description="Create (expectedRevision null) or edit the draft or returned progress report "
        "of a period (所管課 of an owning department)."
    )
    async def save_progress_report(
        self, info: Info[Any, Any], input: SaveProgressReportInput
    ) -> ProgressReportPayload:
        content = ReportContent(
            results=input.results,
            issues=input.issues,
            direction=input.direction,
            self_grade=input.self_assessed_grade,
            adherence=[
                rules.AdherenceEntry(a.track.strip(), a.adherence, (a.note or "").strip() or None)
                for a in input.adherence
            ],
            evidence=[(e.url, e.title) for e in input.evidence],
        )

        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.save_progress_report(
                c, p, m, input.period, content, input.expected_revision, now=now
            )

        return await _step(info, input.measure_id, work)

    @strawberry.mutation(description="Submit (or resubmit) a report to the 事務局 (所管課).")
    async def submit_progress_report(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        period: str,
        expected_revision: int | None = None,
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.submit_progress_report(
                c, p, m, period, expected_revision, now=now
            )

        return await _step(info, measure_id, work)

    @strawberry.mutation(
        description="Return a submitted report to its 所管課 with a comment (事務局; required)."
    )
    async def return_progress_report(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        period: str,
        comment: str | None = None,
        expected_revision: int | None = None,
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.return_progress_report(
                c, p, m, period, comment, expected_revision, now=now
            )

        return await _step(info, measure_id, work)

    @strawberry.mutation(description="Accept a submitted report (事務局).")
    async def accept_progress_report(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        period: str,
        comment: str | None = None,
        expected_revision: int | None = None,
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.accept_progress_report(
                c, p, m, period, comment, expected_revision, now=now
            )

        return await _step(info, measure_id, work)

    @strawberry.mutation(
        description="Approve an accepted report (本部 / CIO); grade overrides the self-assessment "
        "(with a reason when it differs)."
    )
    async def approve_progress_report(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        period: str,
        grade: str | None = None,
        reason: str | None = None,
        expected_revision: int | None = None,
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.approve_progress_report(
                c, p, m, period, grade, reason, expected_revision, now=now
            )

        return await _step(info, measure_id, work)

    @strawberry.mutation(description="Publish an approved report (事務局 or 本部).")
    async def publish_progress_report(
        self,
        info: Info[Any, Any],
        measure_id: strawberry.ID,
        period: str,
        expected_revision: int | None = None,
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.publish_progress_report(
                c, p, m, period, expected_revision, now=now
            )

        return await _step(info, measure_id, work)

    @strawberry.mutation(
        description="Start a corrected version of a published report (所管課 or 事務局), with a "
        "reason; the published version stays public until the correction is published."
    )
    async def correct_published_report(
        self, info: Info[Any, Any], measure_id: strawberry.ID, period: str, reason: str
    ) -> ProgressReportPayload:
        async def work(c: Conn, p: Principal, m: UUID, now: datetime) -> asyncpg.Record:
            return await commands.correct_published_report(c, p, m, period, reason, now=now)

        return await _step(info, measure_id, work)

    @strawberry.mutation(
        description="Set the due date of a period's reports for the ward, with reminders N days "
        "before (事務局; default 14, 7 and 1)."
    )
    async def set_report_deadline(
        self,
        info: Info[Any, Any],
        period: str,
        due_on: date,
        reminder_days: list[int] | None = None,
    ) -> ReportDeadlinePayload:
        principal = _principal(info)
        try:
            async with context_of(info).runtime.pool.acquire() as conn, conn.transaction():
                row = await commands.set_report_deadline(
                    conn, principal, period, due_on, reminder_days, now=_now(info)
                )
        except DomainError as exc:
            return ReportDeadlinePayload(deadline=None, errors=_errors(exc))
        return ReportDeadlinePayload(deadline=ReportDeadline.of(row), errors=[])
