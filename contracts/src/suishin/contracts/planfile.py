"""The plan file format: one plan of one tenant, as YAML (or JSON).

A plan file is what a ward's 事務局 maintains and what ``suishin import`` reads. The plans service
takes the tree (plan, nodes, owners, schedule, lineage, published grades) from it; the indicators
service takes the indicator definitions (targets, baselines, historical actuals). Both derive the
same ids from the same natural keys (:mod:`suishin.contracts.ids`).

Validation runs in two stages, and each stage reports every problem it finds, not only the first:

1. types and shapes (pydantic), e.g. a missing ``title`` or a ``level`` that is not an integer;
2. cross references and rules (:meth:`PlanFile.problems`), e.g. duplicate codes among siblings,
   unknown owner departments, goal references that do not resolve, fiscal years outside the plan
   period, unknown grade codes.

:func:`load_plan_file` runs both and raises :class:`PlanFileInvalid` carrying every error with its
file, path, line and column, a stable code and a message in Japanese and English.

The format is documented in ``docs/plan-file-format.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from suishin.contracts import ids
from suishin.contracts.calendar import CalendarError, parse_fiscal_year, parse_period
from suishin.contracts.enums import (
    Aggregation,
    Comparator,
    MeasureStatus,
    Polarity,
    ScheduleAdherence,
)

__all__ = [
    "FORMAT_VERSION",
    "Actual",
    "Baseline",
    "Body",
    "Cadence",
    "Department",
    "DepartmentKind",
    "Grade",
    "GradingScale",
    "Indicator",
    "Lineage",
    "LineageKind",
    "Node",
    "NodeKind",
    "Note",
    "NoteKind",
    "Period",
    "PeriodGranularity",
    "Plan",
    "PlanFile",
    "PlanFileError",
    "PlanFileInvalid",
    "PlanKind",
    "PlanPeriod",
    "PlanPhase",
    "PlanState",
    "Post",
    "Problem",
    "PublishedEvaluations",
    "PublishedGrade",
    "PublishedSummary",
    "ScheduleEntry",
    "SchedulePhase",
    "SubSeries",
    "TagDefinition",
    "Target",
    "TargetRevision",
    "TargetValue",
    "Tenant",
    "Track",
    "dump_plan_file",
    "format_loc",
    "load_plan_file",
    "loads_plan_file",
    "plan_file_data",
    "plan_file_json_schema",
]

FORMAT_VERSION = 1

# ---------------------------------------------------------------------------------------------
# Scalar types
# ---------------------------------------------------------------------------------------------


def _fiscal_year(value: Any) -> Any:
    """Accept 2021, "2021", "FY2021", "令和3年度", "R3", "H30", "平成32年度" (= 2020)."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "invalid_fiscal_year", "not a fiscal year: '{value}'", {"value": value}
        )
    if isinstance(value, int):
        if not 1868 <= value <= 2200:
            raise PydanticCustomError(
                "invalid_fiscal_year", "fiscal year out of range: {value}", {"value": value}
            )
        return value
    if isinstance(value, str):
        try:
            return parse_fiscal_year(value)
        except CalendarError as exc:
            raise PydanticCustomError(
                "invalid_fiscal_year", "not a fiscal year: '{value}'", {"value": value}
            ) from exc
    raise PydanticCustomError(
        "invalid_fiscal_year", "not a fiscal year: '{value}'", {"value": value}
    )


FiscalYear = Annotated[
    int,
    BeforeValidator(_fiscal_year),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1868, "maximum": 2200},
                {"type": "string", "description": "FY2021, 2021, 令和3年度, R3, H30, 平成32年度"},
            ],
            "description": "A fiscal year (April–March) named by its starting western year; "
            "和暦 strings are accepted and normalised to the integer.",
        }
    ),
]
"""A fiscal year as the western year it starts in (令和3年度 = 2021)."""


def _period(value: Any) -> Any:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        raise PydanticCustomError("invalid_period", "not a period: '{value}'", {"value": value})
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        try:
            return parse_period(value)
        except CalendarError as exc:
            raise PydanticCustomError(
                "invalid_period", "not a period: '{value}'", {"value": value}
            ) from exc
    raise PydanticCustomError("invalid_period", "not a period: '{value}'", {"value": value})


Period = Annotated[
    str,
    BeforeValidator(_period),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A period: fiscal year (FY2024, 令和6年度, R6), month (2024-08, "
            "令和6年8月) or as-of date (2024-08-01); normalised to FY2024 / 2024-08 / 2024-08-01.",
        }
    ),
]


def _date_text(value: Any) -> Any:
    """Dates as printed: 2024-01 or 2024-01-15 (YAML may hand us a date object)."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return value


DateText = Annotated[
    str,
    BeforeValidator(_date_text),
    StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$"),
]
"""A calendar date, possibly partial: ``2024``, ``2024-01`` or ``2024-01-15``."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
IndicatorKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,119}$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\s](.*\S)?$")]
"""A normalised code: non-empty, no "/" at the start, no surrounding spaces."""
Text = Annotated[str, StringConstraints(min_length=1)]
Number = int | float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_default=False)


# ---------------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------------


class NoteKind(StrEnum):
    INFERRED = "inferred"  # the analyst inferred it (merged cells, order, context)
    UNCERTAIN = "uncertain"  # the source is ambiguous
    CORRECTED = "corrected"  # an extraction error fixed against the source
    SOURCE_TYPO = "source_typo"  # the ward's own typo, kept as printed
    REMARK = "remark"  # plain remark from the source or the analyst


class PlanKind(StrEnum):
    BASIC = "基本計画"
    IMPLEMENTATION = "実施計画"
    ADDENDUM = "追録版"
    VISION = "ビジョン"
    # what other wards call their plans
    PROMOTION = "推進計画"  # 〜DX推進計画
    STRATEGY = "戦略"  # 〜DX戦略
    POLICY = "方針"  # 〜推進方針, 基本方針
    ACTION_PLAN = "アクションプラン"
    ROADMAP = "ロードマップ"
    GUIDELINE = "指針"
    OTHER = "その他"


class PlanPhase(StrEnum):
    EARLY = "前期"
    LATE = "後期"


class PlanState(StrEnum):
    DRAFT = "draft"
    OUTLINE = "outline"  # 素案: the first edition shown for comment
    PROPOSAL = "proposal"  # 案: the edition before adoption (パブリックコメント案)
    PUBLISHED = "published"
    SUPERSEDED = "superseded"

    @property
    def is_edition_before_adoption(self) -> bool:
        """下書き, 素案 and 案: not (yet) the plan in force."""
        return self in (PlanState.DRAFT, PlanState.OUTLINE, PlanState.PROPOSAL)


class Tentative(StrEnum):
    """A schedule cell printed as a dotted line (点線) instead of a solid bar."""

    CONTINUE = "continue"  # continues, as planned, beyond what is decided (継続見込み)
    UNDECIDED = "undecided"  # not decided yet for that year (未定・検討による)


class MilestoneKind(StrEnum):
    MID_TERM_REVIEW = "mid_term_review"  # 中間見直し
    NATIONAL_DEADLINE = "national_deadline"  # a deadline the state sets (e.g. 標準化 R7年度末)
    REVISION = "revision"  # 改定, the next edition
    OTHER = "other"


class NationalFramework(StrEnum):
    """National plans a ward maps its measures to."""

    JICHITAI_DX = "jichitai_dx"  # 自治体DX推進計画 重点取組事項
    KANMIN_DATA = "kanmin_data"  # 官民データ活用推進基本法 基本的施策（第10〜19条）


class DepartmentKind(StrEnum):
    BU = "bu"  # 部 (室, 局)
    KA = "ka"  # 課 (担当課, 係)
    OFFICE = "office"  # 事務所, センター, 図書館, 保健相談所 ...
    OTHER = "other"


class NodeKind(StrEnum):
    GROUP = "group"  # structural level: ビジョン, 基本方針, 目標, 取組項目 with children
    MEASURE = "measure"  # 施策 / 取組: owned, has a status, graded yearly
    ITEM = "item"  # 事業量項目 / sub-item of a measure


class SchedulePhase(StrEnum):
    PLANNING = "planning"  # 検討, 調査・研究, 方針決定
    BUILDING = "building"  # 構築, 整備, 導入, 業者選定
    PILOTING = "piloting"  # 試行, 実証, 検証
    RUNNING = "running"  # 実施, 運用, 推進, 運用開始
    EXPANDING = "expanding"  # 拡大, 拡充, 充実
    COMPLETED = "completed"  # 完了
    NONE = "none"  # "-" / nothing planned


class LineageKind(StrEnum):
    CARRIED_OVER = "carried_over"
    SPLIT = "split"
    MERGED = "merged"
    COMPLETED = "completed"
    NEW = "new"


class PeriodGranularity(StrEnum):
    FISCAL_YEAR = "fiscal_year"
    MONTH = "month"
    AS_OF = "as_of"


class Cadence(StrEnum):
    YEARLY = "yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


class Note(_Model):
    """A note that keeps the analyst's uncertainty visible."""

    kind: NoteKind = NoteKind.REMARK
    text: Text
    field: str | None = None
    """The field the note is about, if not the whole object (e.g. ``owners``)."""


Notes = list[Note]


class YearStyle(StrEnum):
    """How the ward prints a fiscal year (``calendar.format_fiscal_year``)."""

    WAREKI = "wareki"  # 令和3年度 (the default)
    WESTERN = "western"  # 2021年度
    FY = "fy"  # FY2021


class Tenant(_Model):
    slug: Slug
    name: Text
    name_en: str | None = None
    year_style: YearStyle = YearStyle.WAREKI
    """How years are printed in reasons, workbooks and the public view (和暦 by default)."""


GradeCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,62}$")]


class GradeCondition(StrEnum):
    """What a grade asks of a measure's year, using only bars the plan prints.

    A *printed bar* is a yearly target the plan prints for the year, a multi-year total
    (3か年事業量) reached within the year, or a printed increment (「82手続き拡大」). Yearly
    shares of a multi-year total are never a bar.
    """

    EXCEEDED_PRINTED_BAR = "exceeded_printed_bar"
    """達成＋: a quantitative workload beat a printed bar in the year."""
    ALL_OR_MOST_MET = "all_or_most_met"
    """全部若しくは大部分: at least half of the evaluable workloads met (and at least one)."""
    ALL_MET = "all_met"
    SOME_MET = "some_met"
    COMPLETED = "completed"
    """The measure is completed (lifecycle 完了)."""
    EVERY_QUANTITATIVE_MET = "every_quantitative_met"
    """Proviso (板橋区 後期): numeric workloads are set and every one of them is met."""


GRADE_CONDITIONS = frozenset(c.value for c in GradeCondition)

NO_GRADING_RULE = "none"

# Named rules a plan file may state instead of per-grade conditions: for each grade but the
# last (the fallback), best first, the conditions of which one must hold (``when``) and the
# provisos that must all hold (``provided``).
NAMED_GRADING_RULES: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    # 板橋区 DX2025 前期 (資料編): 達成＋ the year's planned workload exceeded; 達成 all or most
    # achieved, or the measure completed; 未達成 otherwise.
    "itabashi-dx2025-early": (
        (("exceeded_printed_bar",), ()),
        (("all_or_most_met", "completed"), ()),
    ),
    # 後期 adds: numeric workloads are set and every one of them is 達成.
    "itabashi-dx2025-late": (
        (("exceeded_printed_bar",), ("every_quantitative_met",)),
        (("all_or_most_met", "completed"), ()),
    ),
    # 練馬区 A 達成 / B 一部達成 (and the default): all met; some met.
    "nerima-ab": ((("all_met",), ()), (("some_met",), ())),
    "all_some": ((("all_met",), ()), (("some_met",), ())),
    # No scale: no machine grade and no 未達成 alert, statuses only. Grades may still be listed
    # for what the ward publishes or a person records as an override.
    NO_GRADING_RULE: (),
}


class Grade(_Model):
    code: GradeCode
    """Stable code evaluations refer to: achieved_plus, achieved, A, B ..."""
    label: Text
    """The grade as the ward prints it, e.g. 達成＋."""
    label_variants: list[str] = Field(default_factory=list)
    """Other printed spellings, e.g. 達成+ (half-width plus)."""
    description: str | None = None
    failing: bool = False
    when: list[str] = Field(default_factory=list)
    """Conditions (:class:`GradeCondition`) of which one must hold; overrides the named rule."""
    provided: list[str] = Field(default_factory=list)
    """Conditions that must all hold as well (a proviso)."""


class GradingScale(_Model):
    """The tenant's yearly measure grades, best first."""

    rule: Slug
    """Name of the rule the plans service applies (:data:`NAMED_GRADING_RULES`), or
    ``declared`` when every grade but the last states its own ``when``; ``none`` = the plan has
    no scale (no machine grade, statuses only)."""
    grades: list[Grade] = Field(default_factory=list)
    """Best first; at least one unless the rule is ``none``."""
    description: str | None = None
    notes: Notes = Field(default_factory=list)

    def conditions(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """``(when, provided)`` of each grade, best first (the last grade is the fallback)."""
        named = NAMED_GRADING_RULES.get(self.rule, ())
        out: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        for i, g in enumerate(self.grades):
            if i == len(self.grades) - 1:
                out.append(((), ()))
            elif g.when:
                out.append((tuple(g.when), tuple(g.provided)))
            elif named:
                out.append(named[min(i, len(named) - 1)])
            else:
                out.append(((), ()))
        return out

    def grade(self, code_or_label: str) -> Grade | None:
        for g in self.grades:
            if code_or_label in (g.code, g.label, *g.label_variants):
                return g
        return None


class Department(_Model):
    code: Code
    """The printed Japanese name of the 課 unless the source gives codes."""
    name: Text
    kind: DepartmentKind = DepartmentKind.KA
    parent: str | None = None
    """Code of the 部 this 課 belongs to."""
    aliases: list[str] = Field(default_factory=list)
    """Other printed spellings (e.g. "IT 推進課")."""
    notes: Notes = Field(default_factory=list)


class Body(_Model):
    """A governance body: DX推進本部, 部会, 委員会, 会議."""

    code: Code
    name: Text
    kind: str | None = None
    """本部 / 部会 / 委員会 / 会議 / ..."""
    parent: str | None = None
    """Code of the body this one reports to."""
    chair: str | None = None
    """Post code or text, e.g. CIO or 区長."""
    secretariat: str | None = None
    """Department code of its 事務局."""
    members_text: str | None = None
    role: str | None = None
    former_names: list[str] = Field(default_factory=list)
    renamed_on: DateText | None = None
    notes: Notes = Field(default_factory=list)


class Post(_Model):
    """A post notifications can target: CIO, CISO, CIO補佐官, 事務局."""

    code: Code
    name: Text
    held_by: str | None = None
    """Who holds it as printed, e.g. 副区長."""
    department: str | None = None
    """Department code, for 事務局-like posts."""
    role: str | None = None
    notes: Notes = Field(default_factory=list)


class PlanPeriod(_Model):
    start: FiscalYear
    end: FiscalYear


class TagDefinition(_Model):
    """A cross-cutting tag: 重点戦略I, ★自治体DX推進計画, 定量事業量."""

    code: Code
    label: Text
    description: str | None = None
    notes: Notes = Field(default_factory=list)


class Plan(_Model):
    key: Slug
    """Unique per tenant, e.g. ``dx2025-late``."""
    title: Text
    kind: PlanKind
    period: PlanPeriod
    phase: PlanPhase | None = None
    edition: str | None = None
    predecessor: Slug | None = None
    """Key of the previous plan (may live in another file)."""
    parent_plan: Slug | None = None
    """Key of the plan this one implements (e.g. the 基本計画 of a 実施計画)."""
    state: PlanState = PlanState.PUBLISHED
    level_labels: list[Text] = Field(min_length=1)
    """Names of the levels, top first, e.g. ["基本方針", "施策", "事業量"]."""
    published_on: DateText | None = None
    source: str | None = None
    """Where the plan comes from (document title, file, URL)."""
    description: str | None = None
    tags: list[TagDefinition] = Field(default_factory=list)
    default_owner: str | None = None
    """Department (code in ``departments``) that answers for every node the plan assigns to
    nobody, e.g. the 事務局 of a plan that names no 所管課: reporting rights and alert routing."""
    milestones: list[Milestone] = Field(default_factory=list)
    notes: Notes = Field(default_factory=list)


class ScheduleEntry(_Model):
    fiscal_year: FiscalYear
    tentative: Tentative | None = None
    """Printed as a dotted line: continues beyond what is decided, or not decided yet."""
    label: str
    """As printed: 検討 / 構築 / 実施 / 拡大 / 運用 / "-" / free text."""
    phase: SchedulePhase
    track: str | None = None
    """Schedule row within the node when it has several (練馬区 スケジュール区分)."""
    notes: Notes = Field(default_factory=list)


class Track(_Model):
    """A schedule row of a node with its own owners."""

    name: Text
    owners: list[str] = Field(default_factory=list)
    lead: str | None = None
    others_text: str | None = None
    notes: Notes = Field(default_factory=list)


class Lineage(_Model):
    kind: LineageKind
    from_plan: Slug | None = None
    """Plan key; omitted or equal to this plan's key means this file."""
    from_path: str | None = None
    note: str | None = None


class FrameworkTag(_Model):
    """The measure's place in a national framework, as the plan maps it."""

    framework: NationalFramework
    item: Text
    """The framework's item as printed, e.g. 「(1) 自治体フロントヤード改革」 or 「第11条」."""
    label: str | None = None
    notes: Notes = Field(default_factory=list)


class Milestone(_Model):
    """A dated milestone the plan prints: a mid-term review year, a national deadline (even past
    the plan period), the next revision. Reminders go out ``remind_days`` before it."""

    key: Slug
    title: Text
    kind: MilestoneKind = MilestoneKind.OTHER
    due_on: DateText | None = None
    """The date as printed (``2026-03-31``; a month ``2026-03`` means its last day, a year its
    fiscal year's last day)."""
    fiscal_year: FiscalYear | None = None
    """A milestone printed as a year only (令和5年度に中間見直し): due on its first day."""
    node: str | None = None
    """Path of the node it belongs to (a measure or goal), if not the whole plan."""
    remind_days: list[Annotated[int, Field(ge=0, le=3650)]] = Field(
        default_factory=lambda: [90, 30, 7, 0]
    )
    description: str | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)

    def due_date(self) -> date | None:
        """The day the milestone falls on (see ``due_on`` and ``fiscal_year``)."""
        if self.due_on is not None:
            parts = [int(p) for p in self.due_on.split("-")]
            if len(parts) == 3:
                return date(parts[0], parts[1], parts[2])
            if len(parts) == 2:
                following = date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
                return following - timedelta(days=1)
            return date(parts[0] + 1, 3, 31)
        if self.fiscal_year is not None:
            return date(self.fiscal_year, 4, 1)
        return None


class Node(_Model):
    code: Text
    """The code as printed (№ 1, 1-1, ①, 施策8)."""
    normalized_code: Code | None = None
    """Unique among siblings; defaults to ``code``. Part of the node's path and id."""
    kind: NodeKind
    level: int = Field(ge=0)
    """Index into the plan's ``level_labels``."""
    title: Text
    title_variants: list[str] = Field(default_factory=list)
    code_variants: list[str] = Field(default_factory=list)
    """Other printings of the code that name this node (「取組 10」 vs 「取組Ⅹ」)."""
    description: str | None = None
    expected_effects: list[Text] = Field(default_factory=list)
    """期待される効果, as printed."""
    frameworks: list[FrameworkTag] = Field(default_factory=list)
    """National frameworks the plan maps this node to."""
    owners: list[str] = Field(default_factory=list)
    """Department codes."""
    lead: str | None = None
    """The lead department (one of ``owners``)."""
    others_text: str | None = None
    """Open-ended owners as printed: ほか / 関係課 / その他関係部署."""
    primary_goal: str | None = None
    """Path of the node this one mainly serves (◎)."""
    related_goals: list[str] = Field(default_factory=list)
    """Paths of related goals (○)."""
    tags: list[str] = Field(default_factory=list)
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)
    status: MeasureStatus | None = None
    status_label: str | None = None
    """The status as printed when it differs from ``status`` (官デ変, 完了, ...)."""
    lineage: list[Lineage] = Field(default_factory=list)
    source: str | None = None
    """Where in the source it is printed (page, section)."""
    notes: Notes = Field(default_factory=list)
    children: list[Node] = Field(default_factory=list)

    @model_validator(mode="after")
    def _default_normalized_code(self) -> Node:
        if self.normalized_code is None and "/" not in self.code:
            # not through __setattr__: the field stays "unset", so errors point at `code`
            self.__dict__["normalized_code"] = self.code.strip()
        return self

    @property
    def key(self) -> str:
        """The normalised code (always set once validated)."""
        return self.normalized_code or self.code


class TargetValue(_Model):
    comparator: Comparator | None = None
    """gte 以上 / lte 以下 / eq = / approx 約; omitted for text targets."""
    value: Number | None = None
    text: str | None = None
    """Text target (拡大, 検討, R3実績を踏まえ検討) or a remark on the value."""


class Target(_Model):
    fiscal_year: FiscalYear
    from_fiscal_year: FiscalYear | None = None
    """Set when the target covers several years (3か年事業量): from..fiscal_year."""
    comparator: Comparator | None = None
    """gte 以上 / lte 以下 / eq = / approx 約; omitted for text targets."""
    value: Number | None = None
    text: str | None = None
    """Text target (拡大, 検討, R3実績を踏まえ検討) or a remark on the value."""
    sub_series: str | None = None
    printed: str | None = None
    none: bool = False
    """The plan prints no target for this year (「―」): the year has no target; nothing is
    carried over from another year (give no value)."""
    notes: Notes = Field(default_factory=list)


class TargetRevision(_Model):
    fiscal_year: FiscalYear
    old: TargetValue
    new: TargetValue
    reason: str | None = None
    revised_on: DateText | None = None
    edition: str | None = None
    """The edition that revised it, e.g. 追録版."""
    sub_series: str | None = None
    notes: Notes = Field(default_factory=list)


class Baseline(_Model):
    value: Number | None = None
    fiscal_year: FiscalYear | None = None
    as_of: Period | None = None
    text: str | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)


class Actual(_Model):
    period: Period
    value: Number | None = None
    comparator: Comparator | None = None
    """When the actual itself is printed as a bound (9割以上)."""
    text: str | None = None
    printed: str | None = None
    source: str | None = None
    sub_series: str | None = None
    notes: Notes = Field(default_factory=list)


class SubSeries(_Model):
    key: Slug
    title: Text
    unit: str | None = None
    baseline: Baseline | None = None
    notes: Notes = Field(default_factory=list)


class Indicator(_Model):
    key: IndicatorKey
    """Unique per tenant and stable: the indicator's id derives from it."""
    title: Text
    nodes: list[str] = Field(min_length=1)
    """Paths of the measures or goals it measures."""
    unit: str | None = None
    polarity: Polarity = Polarity.HIGHER_IS_BETTER
    aggregation: Aggregation = Aggregation.PER_YEAR
    granularity: PeriodGranularity = PeriodGranularity.FISCAL_YEAR
    cadence: Cadence = Cadence.YEARLY
    owners: list[str] = Field(default_factory=list)
    """Reporting departments; empty means the owners of the linked nodes."""
    qualitative: bool = False
    milestone: bool = False
    tolerance: float | None = Field(default=None, ge=0)
    """Relative tolerance for 約 targets (0.05 = ±5 %)."""
    baseline: Baseline | None = None
    targets: list[Target] = Field(default_factory=list)
    target_revisions: list[TargetRevision] = Field(default_factory=list)
    sub_series: list[SubSeries] = Field(default_factory=list)
    actuals: list[Actual] = Field(default_factory=list)
    description: str | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)


class PublishedGrade(_Model):
    path: str
    fiscal_year: FiscalYear | None = None
    """None: one grade for the whole plan period (e.g. 練馬区 前計画 A/B)."""
    grade: str
    """A grade code of the grading scale."""
    printed: str | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)


class PublishedSummary(_Model):
    fiscal_year: FiscalYear | None = None
    scope: str | None = None
    """Node path the counts are for (e.g. one 基本方針); None = the whole plan."""
    counts: dict[str, int]
    """Grade code -> number of measures."""
    total: int | None = None
    printed: str | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)


class PublishedEvaluations(_Model):
    grades: list[PublishedGrade] = Field(default_factory=list)
    summaries: list[PublishedSummary] = Field(default_factory=list)
    as_of: DateText | None = None
    source: str | None = None
    notes: Notes = Field(default_factory=list)


# --- progress reports (進捗報告) the ward published -----------------------------------------------


class ReportAdherence(_Model):
    """How one schedule track of the year went, as the published report says."""

    track: str = ""
    """The track as printed in the node's schedule ('' when it has one row)."""
    adherence: ScheduleAdherence
    note: str | None = None


class PublishedProgressReport(_Model):
    """A progress report the ward published for a measure and period; imported as a published
    report (the import is its source of truth: re-importing the same file changes nothing)."""

    path: str
    """The measure's node path."""
    period: Annotated[str, StringConstraints(pattern=r"^FY\d{4}(-H1)?$")]
    """``FY2022`` (fiscal year) or ``FY2022-H1`` (interim)."""
    results: str = Field(min_length=1)
    """実績 as printed."""
    issues: str | None = None
    """課題."""
    direction: str | None = None
    """今後の方向性 / 改善策."""
    grade: str | None = None
    """A grade code of the grading scale (the published evaluation of the report)."""
    adherence: list[ReportAdherence] = Field(default_factory=list)
    source: str | None = None
    notes: Notes = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Problems found by the second validation stage
# ---------------------------------------------------------------------------------------------

Loc = tuple[str | int, ...]
NodeEntry = tuple[str, str | None, "Node"]


@dataclass(frozen=True)
class Problem:
    """A rule violation at a location of the file's data (before lines are known)."""

    loc: Loc
    code: str
    message_ja: str
    message_en: str


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, loc: Loc, code: str, ja: str, en: str) -> None:
        self.items.append(Problem(tuple(loc), code, ja, en))


class PlanFile(_Model):
    """One plan of one tenant."""

    format_version: Literal[1] = 1
    tenant: Tenant
    grading_scale: GradingScale | None = None
    departments: list[Department] = Field(default_factory=list)
    bodies: list[Body] = Field(default_factory=list)
    posts: list[Post] = Field(default_factory=list)
    plan: Plan
    nodes: list[Node] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)
    published_evaluations: PublishedEvaluations | None = None
    progress_reports: list[PublishedProgressReport] = Field(default_factory=list)
    """Progress reports (進捗報告) the ward published, per measure and period."""
    notes: Notes = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_rules(self, info: ValidationInfo) -> PlanFile:
        problems = self.problems()
        if not problems:
            return self
        sink = info.context.get("problems") if isinstance(info.context, dict) else None
        if isinstance(sink, list):
            sink.extend(problems)
            return self
        lines = [f"{format_loc(p.loc)}: {p.message_en} [{p.code}]" for p in problems]
        raise ValueError(f"{len(problems)} problem(s) in plan file:\n" + "\n".join(lines))

    # -- navigation -----------------------------------------------------------------------------

    def iter_nodes(self) -> Iterator[NodeEntry]:
        """(path, parent_path, node) for every node, depth first, parents before children."""

        def walk(
            nodes: Sequence[Node], parent: str | None
        ) -> Iterator[tuple[str, str | None, Node]]:
            for node in nodes:
                path = node.key if parent is None else f"{parent}/{node.key}"
                yield path, parent, node
                yield from walk(node.children, path)

        yield from walk(self.nodes, None)

    def node_at(self, path: str) -> Node | None:
        for p, _, node in self.iter_nodes():
            if p == path:
                return node
        return None

    def plan_id(self) -> UUID:
        return ids.plan_id(self.tenant.slug, self.plan.key)

    def node_id(self, path: str) -> UUID:
        return ids.node_id(self.tenant.slug, self.plan.key, path)

    def indicator_id(self, key: str) -> UUID:
        return ids.indicator_id(self.tenant.slug, key)

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def effective_owners(self, path: str) -> list[str]:
        """The node's owners, or those of its nearest ancestor that has owners, or the plan's
        ``default_owner``."""
        index = {p: n for p, _, n in self.iter_nodes()}
        parts = path.split("/")
        for n in range(len(parts), 0, -1):
            node = index.get("/".join(parts[:n]))
            if node is not None and node.owners:
                return list(node.owners)
        return [self.plan.default_owner] if self.plan.default_owner else []

    def indicator_owners(self, indicator: Indicator) -> list[str]:
        """The indicator's reporting departments: its own, else the (effective) owners of its
        linked nodes."""
        if indicator.owners:
            return list(indicator.owners)
        owners: list[str] = []
        for path in indicator.nodes:
            for code in self.effective_owners(path):
                if code not in owners:
                    owners.append(code)
        return owners

    # -- second-stage validation ----------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Every rule violation, each with its location in the file's data."""
        out = _Problems()
        self._check_departments(out)
        fy0, fy1 = self.plan.period.start, self.plan.period.end
        if fy0 > fy1:
            out.add(
                ("plan", "period"),
                "invalid_period_range",
                f"計画期間の開始年度（{fy0}）が終了年度（{fy1}）より後です",
                f"plan period starts ({fy0}) after it ends ({fy1})",
            )
        tag_codes = self._check_tags(out)
        paths = self._check_nodes(out, tag_codes)
        self._check_indicators(out, paths)
        self._check_evaluations(out, paths)
        self._check_progress_reports(out, paths)
        self._check_grading(out)
        self._check_milestones(out, paths)
        return out.items

    def _check_grading(self, out: _Problems) -> None:
        scale = self.grading_scale
        if scale is None:
            return
        known = ", ".join(sorted(GRADE_CONDITIONS))
        for i, g in enumerate(scale.grades):
            for field_name in ("when", "provided"):
                for j, kind in enumerate(getattr(g, field_name)):
                    if kind not in GRADE_CONDITIONS:
                        out.add(
                            ("grading_scale", "grades", i, field_name, j),
                            "unknown_grade_condition",
                            f"評価条件「{kind}」は定義されていません（使える条件: {known}）",
                            f"unknown grading condition '{kind}' (known: {known})",
                        )
        if not scale.grades and scale.rule != NO_GRADING_RULE:
            out.add(
                ("grading_scale", "grades"),
                "empty_grading_scale",
                "評価尺度に評語がありません（尺度を持たない計画は rule: none と書いてください）",
                "the grading scale has no grades (a plan without a scale says rule: none)",
            )
        declared = all(g.when for g in scale.grades[:-1])
        if scale.rule not in NAMED_GRADING_RULES and not declared:
            rules = ", ".join(sorted(NAMED_GRADING_RULES))
            out.add(
                ("grading_scale", "rule"),
                "unknown_grading_rule",
                f"評価ルール「{scale.rule}」は定義されていません（{rules}、"
                "又は最後以外の各評語に when を書いてください）",
                f"unknown grading rule '{scale.rule}' (known: {rules}; or give every grade "
                "but the last its own 'when')",
            )

    def _check_milestones(self, out: _Problems, paths: dict[str, Loc]) -> None:
        keys: dict[str, int] = {}
        for i, m in enumerate(self.plan.milestones):
            loc: Loc = ("plan", "milestones", i)
            if m.key in keys:
                out.add(
                    (*loc, "key"),
                    "duplicate_milestone",
                    f"マイルストーン「{m.key}」が重複しています（milestones[{keys[m.key]}]）",
                    f"duplicate milestone key '{m.key}' (milestones[{keys[m.key]}])",
                )
            keys.setdefault(m.key, i)
            if m.due_on is None and m.fiscal_year is None:
                out.add(
                    loc,
                    "milestone_without_date",
                    f"マイルストーン「{m.key}」に期日（due_on）も年度（fiscal_year）もありません",
                    f"milestone '{m.key}' has neither due_on nor fiscal_year",
                )
            if m.node is not None and m.node not in paths:
                out.add(
                    (*loc, "node"),
                    "unknown_node",
                    f"ノード「{m.node}」がこの計画にありません",
                    f"unknown node path '{m.node}' in this plan",
                )

    def _in_period(self, fy: int) -> bool:
        return self.plan.period.start <= fy <= self.plan.period.end

    def _fy_out(self, out: _Problems, loc: Loc, fy: int) -> None:
        a, b = self.plan.period.start, self.plan.period.end
        out.add(
            loc,
            "fiscal_year_out_of_period",
            f"年度 {fy} が計画期間（{a}〜{b}年度）の外です",
            f"fiscal year {fy} is outside the plan period ({a}-{b})",
        )

    def _check_departments(self, out: _Problems) -> None:
        seen: dict[str, int] = {}
        for i, d in enumerate(self.departments):
            if d.code in seen:
                out.add(
                    ("departments", i, "code"),
                    "duplicate_department",
                    f"部署コード「{d.code}」が重複しています（departments[{seen[d.code]}]）",
                    f"duplicate department code '{d.code}' (departments[{seen[d.code]}])",
                )
            else:
                seen[d.code] = i
        for i, d in enumerate(self.departments):
            if d.parent is None:
                continue
            if d.parent not in seen:
                self._unknown_department(out, ("departments", i, "parent"), d.parent)
                continue
            # no cycles in the 部/課 tree
            cur: str | None = d.parent
            hops = 0
            while cur is not None and hops <= len(self.departments):
                if cur == d.code:
                    out.add(
                        ("departments", i, "parent"),
                        "department_cycle",
                        f"部署「{d.code}」の親子関係が循環しています",
                        f"department '{d.code}' is its own ancestor",
                    )
                    break
                parent = self.departments[seen[cur]].parent if cur in seen else None
                cur, hops = parent, hops + 1
        governance: tuple[tuple[str, list[str]], ...] = (
            ("bodies", [b.code for b in self.bodies]),
            ("posts", [p.code for p in self.posts]),
        )
        for kind, item_codes in governance:
            codes: dict[str, int] = {}
            for i, code in enumerate(item_codes):
                if code in codes:
                    out.add(
                        (kind, i, "code"),
                        "duplicate_code",
                        f"コード「{code}」が重複しています（{kind}[{codes[code]}]）",
                        f"duplicate code '{code}' ({kind}[{codes[code]}])",
                    )
                else:
                    codes[code] = i
        body_codes = {b.code for b in self.bodies}
        for i, b in enumerate(self.bodies):
            if b.parent is not None and b.parent not in body_codes:
                out.add(
                    ("bodies", i, "parent"),
                    "unknown_body",
                    f"会議体「{b.parent}」が bodies にありません",
                    f"unknown body '{b.parent}'",
                )
            if b.parent == b.code:
                out.add(
                    ("bodies", i, "parent"),
                    "self_reference",
                    f"会議体「{b.code}」が自分自身を親にしています",
                    f"body '{b.code}' is its own parent",
                )
            if b.secretariat is not None and b.secretariat not in seen:
                self._unknown_department(out, ("bodies", i, "secretariat"), b.secretariat)
        for i, p in enumerate(self.posts):
            if p.department is not None and p.department not in seen:
                self._unknown_department(out, ("posts", i, "department"), p.department)
        default_owner = self.plan.default_owner
        if default_owner is not None and default_owner not in seen:
            self._unknown_department(out, ("plan", "default_owner"), default_owner)

    def _unknown_department(self, out: _Problems, loc: Loc, code: str) -> None:
        out.add(
            loc,
            "unknown_department",
            f"部署「{code}」が departments に定義されていません",
            f"unknown department '{code}' (not in departments)",
        )

    def _check_owners(self, out: _Problems, loc: Loc, owners: list[str], lead: str | None) -> None:
        known = {d.code for d in self.departments}
        seen: set[str] = set()
        for j, code in enumerate(owners):
            if code not in known:
                self._unknown_department(out, (*loc, "owners", j), code)
            if code in seen:
                out.add(
                    (*loc, "owners", j),
                    "duplicate_owner",
                    f"担当部署「{code}」が重複しています",
                    f"owner '{code}' is listed twice",
                )
            seen.add(code)
        if lead is not None and lead not in owners:
            out.add(
                (*loc, "lead"),
                "lead_not_owner",
                f"主担当「{lead}」が owners に含まれていません",
                f"lead '{lead}' is not one of the owners",
            )

    def _check_tags(self, out: _Problems) -> set[str]:
        codes: set[str] = set()
        for i, t in enumerate(self.plan.tags):
            if t.code in codes:
                out.add(
                    ("plan", "tags", i, "code"),
                    "duplicate_tag",
                    f"タグ「{t.code}」が重複しています",
                    f"duplicate tag '{t.code}'",
                )
            codes.add(t.code)
        return codes

    def _check_nodes(self, out: _Problems, tag_codes: set[str]) -> dict[str, Loc]:
        """Check the tree; return path -> loc of every node."""
        paths: dict[str, Loc] = {}
        nlevels = len(self.plan.level_labels)
        located: list[tuple[str, Loc, Node]] = []

        def walk(nodes: list[Node], parent: str | None, ploc: Loc, plevel: int | None) -> None:
            siblings: dict[str, int] = {}
            for i, node in enumerate(nodes):
                loc: Loc = (*ploc, i)
                key = node.key
                if "/" in key:
                    out.add(
                        (*loc, "normalized_code"),
                        "invalid_code",
                        f"正規化コード「{key}」に「/」は使えません",
                        f"normalized code '{key}' must not contain '/'",
                    )
                if key in siblings:
                    explicit = "normalized_code" in node.model_fields_set
                    field = "normalized_code" if explicit else "code"
                    out.add(
                        (*loc, field),
                        "duplicate_code",
                        f"兄弟ノードでコード「{key}」が重複しています",
                        f"duplicate code '{key}' among siblings",
                    )
                    continue
                siblings[key] = i
                path = key if parent is None else f"{parent}/{key}"
                paths[path] = loc
                located.append((path, loc, node))
                if node.level >= nlevels:
                    out.add(
                        (*loc, "level"),
                        "invalid_level",
                        f"階層 {node.level} は level_labels（{nlevels}段）の範囲外です",
                        f"level {node.level} is outside level_labels ({nlevels} levels)",
                    )
                if plevel is not None and node.level <= plevel:
                    out.add(
                        (*loc, "level"),
                        "invalid_level",
                        f"子ノードの階層 {node.level} が親の階層 {plevel} 以下です",
                        f"child level {node.level} is not below its parent's level {plevel}",
                    )
                walk(node.children, path, (*loc, "children"), node.level)

        walk(self.nodes, None, ("nodes",), None)

        for path, loc, node in located:
            self._check_owners(out, loc, node.owners, node.lead)
            for t, track in enumerate(node.tracks):
                self._check_owners(out, (*loc, "tracks", t), track.owners, track.lead)
            goal_refs: list[tuple[Loc, str]] = []
            if node.primary_goal is not None:
                goal_refs.append(((*loc, "primary_goal"), node.primary_goal))
            goal_refs += [((*loc, "related_goals", j), g) for j, g in enumerate(node.related_goals)]
            seen_goals: set[str] = set()
            for gloc, goal in goal_refs:
                if goal in seen_goals:
                    out.add(
                        gloc,
                        "duplicate_goal",
                        f"目標「{goal}」が重複して参照されています",
                        f"goal '{goal}' is referenced twice",
                    )
                seen_goals.add(goal)
                if goal == path:
                    out.add(
                        gloc,
                        "self_reference",
                        f"ノード「{path}」が自分自身を目標として参照しています",
                        f"node '{path}' references itself as a goal",
                    )
                elif goal.startswith(path + "/"):
                    out.add(
                        gloc,
                        "goal_cycle",
                        f"ノード「{path}」が自分の子孫「{goal}」を目標として参照しています（循環）",
                        f"node '{path}' references its own descendant '{goal}' as a goal (cycle)",
                    )
                elif goal not in paths:
                    out.add(
                        gloc,
                        "unknown_node",
                        f"ノード「{goal}」がこの計画にありません",
                        f"unknown node path '{goal}' in this plan",
                    )
            for j, tag in enumerate(node.tags):
                if tag_codes and tag not in tag_codes:
                    out.add(
                        (*loc, "tags", j),
                        "unknown_tag",
                        f"タグ「{tag}」が plan.tags に定義されていません",
                        f"unknown tag '{tag}' (not in plan.tags)",
                    )
            track_names = {t.name for t in node.tracks}
            seen_sched: set[tuple[int, str | None]] = set()
            for j, entry in enumerate(node.schedule):
                if not self._in_period(entry.fiscal_year):
                    self._fy_out(out, (*loc, "schedule", j, "fiscal_year"), entry.fiscal_year)
                if entry.track is not None and track_names and entry.track not in track_names:
                    out.add(
                        (*loc, "schedule", j, "track"),
                        "unknown_track",
                        f"スケジュール区分「{entry.track}」が tracks にありません",
                        f"unknown track '{entry.track}' (not in tracks)",
                    )
                k = (entry.fiscal_year, entry.track)
                if k in seen_sched:
                    out.add(
                        (*loc, "schedule", j),
                        "duplicate_schedule",
                        f"{entry.fiscal_year}年度のスケジュールが重複しています",
                        f"duplicate schedule entry for fiscal year {entry.fiscal_year}",
                    )
                seen_sched.add(k)
            for j, lin in enumerate(node.lineage):
                same = lin.from_plan is None or lin.from_plan == self.plan.key
                if lin.kind != LineageKind.NEW and lin.from_path is None:
                    out.add(
                        (*loc, "lineage", j),
                        "lineage_without_source",
                        f"系譜（{lin.kind.value}）に from_path がありません",
                        f"lineage '{lin.kind.value}' needs from_path",
                    )
                if same and lin.from_path is not None:
                    if lin.from_path == path:
                        out.add(
                            (*loc, "lineage", j, "from_path"),
                            "self_reference",
                            f"ノード「{path}」の系譜が自分自身を指しています",
                            f"lineage of '{path}' points to itself",
                        )
                    elif lin.from_path not in paths:
                        out.add(
                            (*loc, "lineage", j, "from_path"),
                            "unknown_node",
                            f"ノード「{lin.from_path}」がこの計画にありません",
                            f"unknown node path '{lin.from_path}' in this plan",
                        )
        return paths

    def _check_indicators(self, out: _Problems, paths: dict[str, Loc]) -> None:
        keys: dict[str, int] = {}
        for i, ind in enumerate(self.indicators):
            loc: Loc = ("indicators", i)
            if ind.key in keys:
                out.add(
                    (*loc, "key"),
                    "duplicate_indicator_key",
                    f"指標キー「{ind.key}」が重複しています（indicators[{keys[ind.key]}]）",
                    f"duplicate indicator key '{ind.key}' (indicators[{keys[ind.key]}])",
                )
            else:
                keys[ind.key] = i
            for j, path in enumerate(ind.nodes):
                if path not in paths:
                    out.add(
                        (*loc, "nodes", j),
                        "unknown_node",
                        f"ノード「{path}」がこの計画にありません",
                        f"unknown node path '{path}' in this plan",
                    )
            self._check_owners(out, loc, ind.owners, None)
            subs: set[str] = set()
            for j, s in enumerate(ind.sub_series):
                if s.key in subs:
                    out.add(
                        (*loc, "sub_series", j, "key"),
                        "duplicate_sub_series",
                        f"系列キー「{s.key}」が重複しています",
                        f"duplicate sub-series key '{s.key}'",
                    )
                subs.add(s.key)

            def check_sub(sloc: Loc, sub: str | None, subs: set[str] = subs) -> None:
                if sub is not None and sub not in subs:
                    out.add(
                        sloc,
                        "unknown_sub_series",
                        f"系列「{sub}」が sub_series にありません",
                        f"unknown sub-series '{sub}'",
                    )

            seen_t: set[tuple[int | None, int, str | None]] = set()
            for j, t in enumerate(ind.targets):
                tloc: Loc = (*loc, "targets", j)
                if not self._in_period(t.fiscal_year):
                    self._fy_out(out, (*tloc, "fiscal_year"), t.fiscal_year)
                if t.from_fiscal_year is not None:
                    if not self._in_period(t.from_fiscal_year):
                        self._fy_out(out, (*tloc, "from_fiscal_year"), t.from_fiscal_year)
                    if t.from_fiscal_year > t.fiscal_year:
                        out.add(
                            (*tloc, "from_fiscal_year"),
                            "invalid_period_range",
                            f"目標の開始年度（{t.from_fiscal_year}）が年度（{t.fiscal_year}）より後です",
                            f"target starts ({t.from_fiscal_year}) after its fiscal year "
                            f"({t.fiscal_year})",
                        )
                self._check_target_value(out, tloc, t)
                check_sub((*tloc, "sub_series"), t.sub_series)
                k = (t.from_fiscal_year, t.fiscal_year, t.sub_series)
                if k in seen_t:
                    out.add(
                        tloc,
                        "duplicate_target",
                        f"{t.fiscal_year}年度の目標が重複しています",
                        f"duplicate target for fiscal year {t.fiscal_year}",
                    )
                seen_t.add(k)
            for j, r in enumerate(ind.target_revisions):
                rloc: Loc = (*loc, "target_revisions", j)
                if not self._in_period(r.fiscal_year):
                    self._fy_out(out, (*rloc, "fiscal_year"), r.fiscal_year)
                self._check_target_value(out, (*rloc, "old"), r.old)
                self._check_target_value(out, (*rloc, "new"), r.new)
                check_sub((*rloc, "sub_series"), r.sub_series)
            seen_a: set[tuple[str, str | None]] = set()
            for j, a in enumerate(ind.actuals):
                aloc: Loc = (*loc, "actuals", j)
                if a.value is None and a.text is None:
                    out.add(
                        aloc,
                        "empty_actual",
                        "実績に value も text もありません",
                        "actual has neither value nor text",
                    )
                check_sub((*aloc, "sub_series"), a.sub_series)
                ka = (a.period, a.sub_series)
                if ka in seen_a:
                    out.add(
                        (*aloc, "period"),
                        "duplicate_actual",
                        f"期間 {a.period} の実績が重複しています",
                        f"duplicate actual for period {a.period}",
                    )
                seen_a.add(ka)

    def _check_target_value(self, out: _Problems, loc: Loc, t: TargetValue | Target) -> None:
        if isinstance(t, Target) and t.none:
            if t.value is not None:
                out.add(
                    (*loc, "value"),
                    "value_without_target",
                    "「目標なし（―）」の年度に目標値があります",
                    "a year marked as having no target (―) has a value",
                )
            return
        if t.value is None and t.text is None:
            out.add(
                loc,
                "empty_target",
                "目標に value も text もありません",
                "target has neither value nor text",
            )
        if t.comparator is not None and t.value is None:
            out.add(
                (*loc, "comparator"),
                "comparator_without_value",
                "比較演算子があるのに数値の目標値がありません",
                "comparator given without a numeric value",
            )

    def _check_progress_reports(self, out: _Problems, paths: dict[str, Loc]) -> None:
        codes = {g.code for g in self.grading_scale.grades} if self.grading_scale else set()
        measures = {path: node for path, _parent, node in self.iter_nodes()}
        seen: set[tuple[str, str]] = set()
        for i, r in enumerate(self.progress_reports):
            loc: Loc = ("progress_reports", i)
            node = measures.get(r.path)
            if r.path not in paths or node is None or node.kind != NodeKind.MEASURE:
                out.add(
                    (*loc, "path"),
                    "unknown_node",
                    f"施策「{r.path}」がこの計画にありません",
                    f"no measure '{r.path}' in this plan",
                )
            fy = int(r.period[2:6])
            if not self._in_period(fy):
                self._fy_out(out, (*loc, "period"), fy)
            if r.grade is not None and r.grade not in codes:
                known = ", ".join(sorted(codes)) or "-"
                out.add(
                    (*loc, "grade"),
                    "unknown_grade",
                    f"評語コード「{r.grade}」が grading_scale にありません（{known}）",
                    f"unknown grade code '{r.grade}' (grading scale: {known})",
                )
            if node is not None and r.adherence:
                tracks = {e.track or "" for e in node.schedule if e.fiscal_year == fy}
                for j, a in enumerate(r.adherence):
                    if a.track not in tracks:
                        out.add(
                            (*loc, "adherence", j, "track"),
                            "unknown_track",
                            f"スケジュール区分「{a.track}」は{fy}年度の計画にありません",
                            f"schedule track '{a.track}' is not in the plan for FY{fy}",
                        )
            if (r.path, r.period) in seen:
                out.add(
                    loc,
                    "duplicate_report",
                    f"「{r.path}」の{r.period}の進捗報告が重複しています",
                    f"duplicate progress report for '{r.path}' in {r.period}",
                )
            seen.add((r.path, r.period))

    def _check_evaluations(self, out: _Problems, paths: dict[str, Loc]) -> None:
        ev = self.published_evaluations
        if ev is None:
            return
        scale = self.grading_scale
        codes = {g.code for g in scale.grades} if scale else set()

        def check_grade(loc: Loc, code: str) -> None:
            if code not in codes:
                known = ", ".join(sorted(codes)) or "-"
                out.add(
                    loc,
                    "unknown_grade",
                    f"評語コード「{code}」が grading_scale にありません（{known}）",
                    f"unknown grade code '{code}' (grading scale: {known})",
                )

        seen: set[tuple[str, int | None]] = set()
        for i, g in enumerate(ev.grades):
            loc: Loc = ("published_evaluations", "grades", i)
            if g.path not in paths:
                out.add(
                    (*loc, "path"),
                    "unknown_node",
                    f"ノード「{g.path}」がこの計画にありません",
                    f"unknown node path '{g.path}' in this plan",
                )
            if g.fiscal_year is not None and not self._in_period(g.fiscal_year):
                self._fy_out(out, (*loc, "fiscal_year"), g.fiscal_year)
            check_grade((*loc, "grade"), g.grade)
            k = (g.path, g.fiscal_year)
            if k in seen:
                out.add(
                    loc,
                    "duplicate_evaluation",
                    f"「{g.path}」の{g.fiscal_year or '計画期間'}の評価が重複しています",
                    f"duplicate grade for '{g.path}' in {g.fiscal_year or 'the plan period'}",
                )
            seen.add(k)
        for i, s in enumerate(ev.summaries):
            loc = ("published_evaluations", "summaries", i)
            if s.fiscal_year is not None and not self._in_period(s.fiscal_year):
                self._fy_out(out, (*loc, "fiscal_year"), s.fiscal_year)
            if s.scope is not None and s.scope not in paths:
                out.add(
                    (*loc, "scope"),
                    "unknown_node",
                    f"ノード「{s.scope}」がこの計画にありません",
                    f"unknown node path '{s.scope}' in this plan",
                )
            for code in s.counts:
                check_grade((*loc, "counts", code), code)
            if s.total is not None and s.total != sum(s.counts.values()):
                out.add(
                    (*loc, "total"),
                    "summary_total_mismatch",
                    f"合計 {s.total} が内訳の和 {sum(s.counts.values())} と一致しません",
                    f"total {s.total} differs from the sum of counts {sum(s.counts.values())}",
                )


# ---------------------------------------------------------------------------------------------
# Errors with locations
# ---------------------------------------------------------------------------------------------


def format_loc(loc: Loc) -> str:
    """("nodes", 2, "children", 5, "owners", 0) -> "nodes[2].children[5].owners[0]"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass(frozen=True)
class PlanFileError:
    file: str
    path: str
    """Location in the data, e.g. ``nodes[2].children[5].owners[0]``; empty for the document."""
    line: int | None
    """1-based line in the file (None when unknown)."""
    column: int | None
    code: str
    message_ja: str
    message_en: str

    def render(self, lang: str = "both") -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        if lang == "ja":
            msg = self.message_ja
        elif lang == "en":
            msg = self.message_en
        else:
            msg = f"{self.message_ja} / {self.message_en}"
        return f"{where} {self.path}: {msg}" if self.path else f"{where}: {msg}"


class PlanFileInvalid(ValueError):
    """A plan file that cannot be imported; carries every error found."""

    def __init__(self, file: str, errors: list[PlanFileError]) -> None:
        self.file = file
        self.errors = errors
        super().__init__(f"{file}: {len(errors)} error(s)\n" + self.render("en"))

    def render(self, lang: str = "both") -> str:
        """One line per error: ``file:line:col path: message`` (lang: ja, en or both)."""
        return "\n".join(e.render(lang) for e in self.errors)


_PYDANTIC_JA: dict[str, str] = {
    "missing": "必須項目がありません",
    "extra_forbidden": "未知の項目です",
    "int_type": "整数を指定してください",
    "int_parsing": "整数を指定してください",
    "int_from_float": "整数を指定してください",
    "float_type": "数値を指定してください",
    "float_parsing": "数値を指定してください",
    "string_type": "文字列を指定してください",
    "string_too_short": "空にできません",
    "string_pattern_mismatch": "形式が正しくありません",
    "bool_type": "true か false を指定してください",
    "bool_parsing": "true か false を指定してください",
    "list_type": "リストを指定してください",
    "dict_type": "マッピング（キーと値）を指定してください",
    "model_type": "マッピング（キーと値）を指定してください",
    "model_attributes_type": "マッピング（キーと値）を指定してください",
    "enum": "許可されていない値です",
    "literal_error": "許可されていない値です",
    "too_short": "要素が足りません",
    "greater_than_equal": "値が小さすぎます",
    "invalid_fiscal_year": "年度として解釈できません（例: 2021, FY2021, 令和3年度, R3）",
    "invalid_period": "期間として解釈できません（例: FY2024, 2024-08, 2024-08-01, 令和6年度）",
}


def _pydantic_messages(err: Any) -> tuple[str, str, str]:
    etype = str(err.get("type", "value_error"))
    en = str(err.get("msg", "invalid value"))
    ja = _PYDANTIC_JA.get(etype, "値が正しくありません")
    if etype in ("enum", "literal_error"):
        expected = (err.get("ctx") or {}).get("expected")
        if expected:
            ja += f"（許可: {expected}）"
    inp = err.get("input")
    if etype in ("invalid_fiscal_year", "invalid_period", "enum", "literal_error") and isinstance(
        inp, str | int
    ):
        ja = f"「{inp}」: {ja}"
    return etype, ja, en


# ---------------------------------------------------------------------------------------------
# Reading YAML with marks
# ---------------------------------------------------------------------------------------------

Mark = tuple[int, int]  # 1-based line, column


class _Marks:
    """Maps data locations to positions in the YAML text."""

    def __init__(self) -> None:
        self.value: dict[Loc, Mark] = {}
        self.key: dict[Loc, Mark] = {}

    @classmethod
    def of(cls, root: yaml.Node | None) -> _Marks:
        marks = cls()
        if root is not None:
            marks._walk(root, ())
        return marks

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.value[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for knode, vnode in node.value:
                k = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode)
                self.key[(*loc, k)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
                self._walk(vnode, (*loc, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def find(self, loc: Loc, *, prefer_key: bool = False) -> Mark | None:
        if prefer_key and loc in self.key:
            return self.key[loc]
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.value:
                return self.value[loc[:n]]
        return None


def _data_loc(data: Any, loc: Sequence[Any]) -> Loc:
    """Drop pydantic's union/validator tags from a loc, keeping only real keys and indexes."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_dict = isinstance(cur, dict) and part in cur
        if in_dict or (isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, str) and not out_is_union_tag(part):
            # a missing key: report it on the mapping that lacks it
            out.append(part)
            cur = None
        else:
            continue
    return tuple(out)


def out_is_union_tag(part: str) -> bool:
    """Pydantic names union members and function validators in locs (int, float, ...)."""
    return (
        part in ("int", "float", "str", "none", "bool", "list", "dict")
        or part.startswith("function-")
        or "[" in part
    )


def _read(text: str, filename: str) -> tuple[Any, _Marks]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, _Marks.of(root)


def loads_plan_file(text: str, filename: str = "<string>") -> PlanFile:
    """Parse and validate a plan file's text (YAML or JSON)."""
    try:
        data, marks = _read(text, filename)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or "syntax error"
        raise PlanFileInvalid(
            filename,
            [
                PlanFileError(
                    filename,
                    "",
                    line,
                    col,
                    "yaml_syntax",
                    f"YAML の構文エラーです: {problem}",
                    f"YAML syntax error: {problem}",
                )
            ],
        ) from exc
    except yaml.YAMLError as exc:
        if filename.endswith(".json"):
            try:
                data, marks = json.loads(text), _Marks()
            except json.JSONDecodeError as jexc:
                raise PlanFileInvalid(
                    filename,
                    [
                        PlanFileError(
                            filename,
                            "",
                            jexc.lineno,
                            jexc.colno,
                            "json_syntax",
                            f"JSON の構文エラーです: {jexc.msg}",
                            f"JSON syntax error: {jexc.msg}",
                        )
                    ],
                ) from jexc
        else:
            raise PlanFileInvalid(
                filename,
                [
                    PlanFileError(
                        filename,
                        "",
                        None,
                        None,
                        "yaml_syntax",
                        f"YAML の構文エラーです: {exc}",
                        f"YAML syntax error: {exc}",
                    )
                ],
            ) from exc
    return _validate(data, marks, filename)


def _validate(data: Any, marks: _Marks, filename: str) -> PlanFile:
    if not isinstance(data, dict):
        raise PlanFileInvalid(
            filename,
            [
                PlanFileError(
                    filename,
                    "",
                    1,
                    1,
                    "not_a_mapping",
                    "計画ファイルの最上位はマッピング（キーと値）でなければなりません",
                    "the top level of a plan file must be a mapping",
                )
            ],
        )
    problems: list[Problem] = []
    errors: list[PlanFileError] = []
    try:
        plan_file = PlanFile.model_validate(data, context={"problems": problems})
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = _data_loc(data, err["loc"])
            code, ja, en = _pydantic_messages(err)
            mark = marks.find(loc, prefer_key=code == "extra_forbidden")
            errors.append(
                PlanFileError(
                    filename,
                    format_loc(loc),
                    mark[0] if mark else None,
                    mark[1] if mark else None,
                    code,
                    ja,
                    en,
                )
            )
        raise PlanFileInvalid(filename, _by_line(errors)) from None
    for p in problems:
        mark = marks.find(p.loc, prefer_key=p.loc[:2] == ("published_evaluations", "summaries"))
        errors.append(
            PlanFileError(
                filename,
                format_loc(p.loc),
                mark[0] if mark else None,
                mark[1] if mark else None,
                p.code,
                p.message_ja,
                p.message_en,
            )
        )
    if errors:
        raise PlanFileInvalid(filename, _by_line(errors))
    return plan_file


def _by_line(errors: list[PlanFileError]) -> list[PlanFileError]:
    return sorted(errors, key=lambda e: (e.line or 0, e.column or 0))


def load_plan_file(path: str | Path) -> PlanFile:
    """Read and validate a plan file; raise :class:`PlanFileInvalid` with every error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileInvalid(
            str(path),
            [
                PlanFileError(
                    str(path),
                    "",
                    None,
                    None,
                    "unreadable",
                    f"ファイルを読めません: {exc}",
                    f"cannot read file: {exc}",
                )
            ],
        ) from exc
    return loads_plan_file(text, str(path))


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, Japanese unescaped, multi-line strings as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def plan_file_data(plan_file: PlanFile) -> dict[str, Any]:
    """The plan file as plain data in the format's key order, defaults left out."""
    data = plan_file.model_dump(mode="json", exclude_defaults=True)

    def strip(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if node.get("normalized_code") == node["code"]:
                del node["normalized_code"]
            strip(node.get("children", []))

    strip(data.get("nodes", []))
    return data


def dump_plan_file(plan_file: PlanFile) -> str:
    """YAML text with a stable key order; ``loads_plan_file(dump_plan_file(x)) == x``."""
    data = plan_file_data(plan_file)
    data = {"format_version": FORMAT_VERSION, **data}
    return yaml.dump(
        data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=100,
        indent=2,
    )


def plan_file_json_schema() -> dict[str, Any]:
    """JSON Schema of the plan file (types and shapes; the rules are in the docs)."""
    schema = PlanFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Suishin plan file"
    return schema
