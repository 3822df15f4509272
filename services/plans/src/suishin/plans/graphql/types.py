"""GraphQL types of the plans subgraph: plans, the node tree, measures, grades, history."""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import asyncpg
import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.planfile import Milestone
from suishin.kit.auth import Principal
from suishin.kit.clock import Clock
from suishin.kit.enums import MeasureStatus
from suishin.kit.errors import DomainError, NotFound, UserError
from suishin.kit.graphql import context_of
from suishin.kit.loading import when_loaded
from suishin.kit.paging import Connection
from suishin.plans.domain.goals import goal_years
from suishin.plans.domain.grading import GradeScale
from suishin.plans.domain.ownership import owners_for_reporting, owners_shown
from suishin.plans.domain.tree import BEFORE_ADOPTION, resolve_path
from suishin.plans.graphql.loaders import Loaders, PlanTree, loaders_of
from suishin.plans.graphql.reports import (
    MeasureYearStatus,
    ProgressReport,
    visible_reports,
    year_status_view,
)
from suishin.plans.runtime import PlansRuntime


@strawberry.enum(
    description="Publication state of a plan (素案 and 案 are editions before adoption)."
)
class PlanState(Enum):
    DRAFT = "draft"
    OUTLINE = "outline"
    PROPOSAL = "proposal"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


@strawberry.enum(description="What a node of the plan tree is.")
class NodeKind(Enum):
    GROUP = "group"
    MEASURE = "measure"
    ITEM = "item"


def parse_id(value: str, what_ja: str, what_en: str) -> UUID:
    """A GraphQL ID as a UUID; a malformed one is unknown (NotFound)."""
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise NotFound(what_ja, what_en, str(value)) from exc


# --- visibility ----------------------------------------------------------------------------------


def principal_of(info: Info[Any, Any]) -> Principal:
    return context_of(info).principal


def clock_of(info: Info[Any, Any]) -> Clock:
    runtime = context_of(info).runtime
    assert isinstance(runtime, PlansRuntime)
    return runtime.clock


def loaders(info: Info[Any, Any]) -> Loaders:
    return loaders_of(context_of(info))


def can_see_plan(principal: Principal, plan: asyncpg.Record) -> bool:
    """Published (and superseded, once published) plans are public; drafts, 素案 and 案 are
    internal."""
    if plan["state"] not in BEFORE_ADOPTION:
        return True
    return is_internal(principal, plan["tenant"])


def is_internal(principal: Principal, tenant: str) -> bool:
    """May the caller read the internal data (history, overrides) of ``tenant``?"""
    return principal.tenant == tenant and principal.can_read_internal


def graphql_error(error: DomainError) -> GraphQLError:
    return GraphQLError(
        f"{error.message_en} / {error.message_ja}",
        extensions={"code": error.code, "message_ja": error.message_ja, "field": error.field},
    )


def forbidden_internal() -> GraphQLError:
    return graphql_error(
        DomainError(
            "FORBIDDEN",
            "この項目は当該自治体の職員のみ参照できます",
            "Only staff of this municipality can read this field",
        )
    )


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# --- small value types -------------------------------------------------------------------------


@strawberry.type(description="A level of a plan's hierarchy and its name in this plan.")
class PlanLevel:
    level: int = strawberry.field(description="0 = top level.")
    label: str = strawberry.field(description="Name of the level, e.g. 基本方針, 施策, 事業量.")


@strawberry.type(description="A cross-cutting tag defined by a plan (重点戦略, ★自治体DX推進計画).")
class TagDefinition:
    code: str = strawberry.field(description="Code used in `tags` of measures.")
    label: str = strawberry.field(description="Label as printed.")
    description: str | None = strawberry.field(description="What the tag means.")


@strawberry.type(description="A department (課) owning a measure.")
class MeasureOwner:
    department_code: str = strawberry.field(description="Department code (printed name).")
    department_name: str = strawberry.field(description="Department name.")
    bureau_code: str | None = strawberry.field(description="Code of the 部 it belongs to.")
    is_lead: bool = strawberry.field(description="True for the lead (主担当) department.")


@strawberry.type(
    description="Who answers for a measure (reporting rights, alerts): its own 所管課, else the "
    "nearest ancestor's, else the plan's default owner (e.g. the 事務局)."
)
class ReportingOwners:
    department_codes: list[str] = strawberry.field(description="Department codes, lead first.")
    source: str = strawberry.field(
        description="node, ancestor, plan_default (the plan's default owner) or none."
    )
    is_plan_default: bool = strawberry.field(
        description="True when the plan's default owner answers (no 所管課 printed)."
    )
    shown: str = strawberry.field(
        description="As printed, e.g. 情報政策課 or DX推進本部事務局（計画の既定の所管）."
    )


@strawberry.type(description="A national framework item the plan maps a measure to.")
class FrameworkTag:
    framework: str = strawberry.field(description="jichitai_dx or kanmin_data.")
    item: str = strawberry.field(description="The framework's item as printed.")
    label: str | None = strawberry.field(description="Label, when the plan gives one.")


@strawberry.type(description="A dated milestone the plan prints (reminders are sent before it).")
class PlanMilestone:
    key: str = strawberry.field(description="Key within the plan.")
    title: str = strawberry.field(description="As printed, e.g. 中間見直し.")
    kind: str = strawberry.field(
        description="mid_term_review, national_deadline, revision or other."
    )
    due_on: str | None = strawberry.field(description="The day it falls on (ISO date).")
    node_path: str | None = strawberry.field(description="Node it belongs to, if any.")
    remind_days: list[int] = strawberry.field(description="Reminder steps, days before it.")


@strawberry.type(description="The plan for one fiscal year (年度別計画).")
class ScheduleEntry:
    fiscal_year: int = strawberry.field(description="Fiscal year (April–March), e.g. 2024.")
    label: str = strawberry.field(description="As printed: 検討 / 構築 / 実施 / 拡大 / 運用 / -.")
    phase: str = strawberry.field(
        description="Normalised phase: planning, building, piloting, running, expanding, "
        "completed or none."
    )
    track: str | None = strawberry.field(
        description="Schedule row when the measure has several (練馬区 スケジュール区分)."
    )
    tentative: str | None = strawberry.field(
        default=None,
        description="Printed as a dotted line: continue (continues beyond what is decided) or "
        "undecided (not decided yet for that year); null for a solid cell.",
    )


@strawberry.federation.type(shareable=True, description="A department of a ward.")
class Department:
    code: str = strawberry.field(description="Department code (the printed name by default).")
    name: str = strawberry.field(description="Name.")
    kind: str = strawberry.field(description="bu (部), ka (課), office or other.")
    parent_code: str | None = strawberry.field(description="Code of the 部 a 課 belongs to.")


@strawberry.type(description="A grade of the tenant's evaluation scale.")
class GradeDefinition:
    code: str = strawberry.field(description="Stable code, e.g. achieved_plus.")
    label: str = strawberry.field(description="Label as printed, e.g. 達成＋.")
    meaning: str = strawberry.field(description="What the grade means.")
    is_failing: bool = strawberry.field(description="True for the failing grade (未達成).")


@strawberry.type(
    name="GradeScale", description="The yearly evaluation scale of a ward, best grade first."
)
class GradeScaleType:
    code: str = strawberry.field(description="Scale code.")
    name: str = strawberry.field(description="Name of the scale.")
    grades: list[GradeDefinition] = strawberry.field(description="Grades, best first.")

    @classmethod
    def of(cls, scale: GradeScale) -> GradeScaleType:
        return cls(
            code=scale.code,
            name=scale.name,
            grades=[
                GradeDefinition(code=g.code, label=g.label, meaning=g.meaning, is_failing=g.failing)
                for g in scale.grades
            ],
        )


# --- plan ---------------------------------------------------------------------------------------


@strawberry.federation.type(
    keys=["id"], description="A plan (基本計画, 実施計画, 追録版, ビジョン)."
)
class Plan:
    id: strawberry.ID = strawberry.field(description="Plan id (UUID, from tenant and key).")
    row: strawberry.Private[asyncpg.Record]

    @classmethod
    def of(cls, row: asyncpg.Record) -> Plan:
        return cls(id=strawberry.ID(str(row["id"])), row=row)

    @classmethod
    async def resolve_reference(cls, info: Info[Any, Any], id: strawberry.ID) -> Plan | None:
        try:
            plan_id = UUID(str(id))
        except ValueError:
            return None
        row = await loaders(info).plan.load(plan_id)
        if row is None or not can_see_plan(principal_of(info), row):
            return None
        return cls.of(row)

    @strawberry.field(description="Municipality slug, e.g. itabashi.")
    def tenant(self) -> str:
        return str(self.row["tenant"])

    @strawberry.field(description="Key of the plan, unique per tenant, e.g. dx2025-late.")
    def key(self) -> str:
        return str(self.row["key"])

    @strawberry.field(description="Title as printed.")
    def title(self) -> str:
        return str(self.row["title"])

    @strawberry.field(description="Kind: 基本計画, 実施計画, 追録版 or ビジョン.")
    def kind(self) -> str:
        return str(self.row["kind"])

    @strawberry.field(description="First fiscal year of the plan period.")
    def fiscal_year_from(self) -> int:
        return int(self.row["fiscal_year_from"])

    @strawberry.field(description="Last fiscal year of the plan period.")
    def fiscal_year_to(self) -> int:
        return int(self.row["fiscal_year_to"])

    @strawberry.field(description="Phase: 前期 or 後期 (null when the plan has none).")
    def phase(self) -> str | None:
        return self.row["phase"]

    @strawberry.field(description="Edition, e.g. 追録版.")
    def edition(self) -> str | None:
        return self.row["edition"]

    @strawberry.field(description="Draft, published or superseded.")
    def state(self) -> PlanState:
        return PlanState(self.row["state"])

    @strawberry.field(description="Names of the plan's levels, top first.")
    def level_labels(self) -> list[str]:
        return list(self.row["level_labels"])

    @strawberry.field(description="The plan's levels with their names.")
    def levels(self) -> list[PlanLevel]:
        return [PlanLevel(level=i, label=x) for i, x in enumerate(self.row["level_labels"])]

    @strawberry.field(description="Publication date as printed (2024-01).")
    def published_on(self) -> str | None:
        return self.row["published_on"]

    @strawberry.field(description="When the plan was published in Suishin.")
    def published_at(self) -> datetime | None:
        return self.row["published_at"]

    @strawberry.field(description="When the plan was superseded.")
    def superseded_at(self) -> datetime | None:
        return self.row["superseded_at"]

    @strawberry.field(description="Description of the plan.")
    def description(self) -> str | None:
        return (self.row["document"].get("plan") or {}).get("description")

    @strawberry.field(description="Where the plan comes from (document, file, URL).")
    def source(self) -> str | None:
        return (self.row["document"].get("plan") or {}).get("source")

    @strawberry.field(
        description="Department answering for every node the plan assigns to nobody (e.g. the "
        "事務局), as the plan file names it."
    )
    def default_owner(self) -> str | None:
        return (self.row["document"].get("plan") or {}).get("default_owner")

    @strawberry.field(
        description="Dated milestones the plan prints (中間見直し, national deadlines)."
    )
    def milestones(self) -> list[PlanMilestone]:
        out = []
        for raw in (self.row["document"].get("plan") or {}).get("milestones") or []:
            m = Milestone.model_validate(raw)
            due = m.due_date()
            out.append(
                PlanMilestone(
                    key=m.key,
                    title=m.title,
                    kind=m.kind.value,
                    due_on=due.isoformat() if due else None,
                    node_path=m.node,
                    remind_days=list(m.remind_days),
                )
            )
        return out

    @strawberry.field(
        description="How the ward prints fiscal years: wareki (令和3年度, the default), western "
        "(2021年度) or fy (FY2021)."
    )
    def year_style(self) -> str:
        return str((self.row["document"].get("tenant") or {}).get("year_style") or "wareki")

    @strawberry.field(description="Key of the previous plan (edition lineage).")
    def predecessor_key(self) -> str | None:
        return self.row["predecessor_key"]

    @strawberry.field(description="The previous plan, when it is imported and visible.")
    async def predecessor(self, info: Info[Any, Any]) -> Plan | None:
        key = self.row["predecessor_key"]
        if key is None:
            return None
        row = await loaders(info).plan_by_key.load((self.row["tenant"], key))
        return Plan.of(row) if row and can_see_plan(principal_of(info), row) else None

    @strawberry.field(description="Key of the plan this one implements (基本計画 of 実施計画).")
    def parent_plan_key(self) -> str | None:
        return self.row["parent_plan_key"]

    @strawberry.field(description="The plan that superseded this one.")
    async def superseded_by(self, info: Info[Any, Any]) -> Plan | None:
        if self.row["superseded_by"] is None:
            return None
        row = await loaders(info).plan.load(self.row["superseded_by"])
        return Plan.of(row) if row and can_see_plan(principal_of(info), row) else None

    @strawberry.field(description="Cross-cutting tags the plan defines.")
    def tags(self) -> list[TagDefinition]:
        return [
            TagDefinition(code=t["code"], label=t["label"], description=t.get("description"))
            for t in (self.row["document"].get("plan") or {}).get("tags", [])
        ]

    @strawberry.field(description="The scale the plan's measures are graded on.")
    def grade_scale(self, info: Info[Any, Any]) -> GradeScaleType:
        return when_loaded(GradeScaleType.of, (loaders(info).plan_scale, self.row["id"]))

    @strawberry.field(description="Top-level nodes of the tree, in printed order.")
    async def nodes(self, info: Info[Any, Any]) -> list[PlanNode]:
        tree = await loaders(info).tree.load(self.row["id"])
        # One batch per kind of data the selection below reads, for every node of the tree:
        # the fields of nodes and measures then resolve without waiting.
        await loaders(info).prefetch_tree(info, tree)
        return [PlanNode(id=strawberry.ID(str(r["id"])), row=r) for r in tree.children[None]]

    @strawberry.field(description="The node at a path of normalised codes, e.g. 基本方針Ⅰ/1.")
    async def node(self, info: Info[Any, Any], path: str) -> PlanNode | None:
        tree = await loaders(info).tree.load(self.row["id"])
        row = tree.by_path.get(path)
        if row is None:  # a printed variant of the codes: 取組 10 / 取組Ⅹ
            found = resolve_path(
                path,
                lambda parent: [
                    (
                        r["path"],
                        r["code"],
                        (r["attributes"] or {}).get("code_variants") or [],
                    )
                    for r in tree.children.get(tree.by_path[parent]["id"] if parent else None, [])
                ],
            )
            row = tree.by_path.get(found) if found else None
        return PlanNode(id=strawberry.ID(str(row["id"])), row=row) if row else None

    @strawberry.field(description="Number of measures in the plan.")
    async def measure_count(self, info: Info[Any, Any]) -> int:
        return await loaders(info).measure_count.load(self.row["id"])


# --- tree nodes ---------------------------------------------------------------------------------


@strawberry.type(
    description="A goal's status for one fiscal year from the indicators attached to it: all, "
    "some or none met, or no data."
)
class GoalYearStatus:
    fiscal_year: int = strawberry.field(description="Fiscal year.")
    status: str = strawberry.field(description="all_met, some_met, none_met or no_data.")
    label: str = strawberry.field(description="As shown, e.g. 一部達成（1/2指標）.")
    met: int = strawberry.field(description="Indicators that met their target.")
    evaluated: int = strawberry.field(description="Indicators that could be evaluated.")
    indicators: int = strawberry.field(description="Indicators with a status that year.")
    is_failing: bool = strawberry.field(description="True when none met.")


@strawberry.federation.type(
    keys=["id"],
    description="A node of a plan's tree: a goal/group, a measure or a sub-item. An entity: "
    "the indicators subgraph adds the indicators attached to the node itself (a goal's).",
)
class PlanNode:
    id: strawberry.ID = strawberry.field(description="Node id (UUID from tenant, plan, path).")
    row: strawberry.Private[asyncpg.Record]

    @classmethod
    async def resolve_reference(cls, info: Info[Any, Any], id: strawberry.ID) -> PlanNode | None:
        try:
            node_id = UUID(str(id))
        except ValueError:
            return None
        row = await loaders(info).node.load(node_id)
        if row is None:
            return None
        plan = await loaders(info).plan.load(row["plan_id"])
        if plan is None or not can_see_plan(principal_of(info), plan):
            return None
        return cls(id=id, row=row)

    @strawberry.field(
        description="Statuses of the indicators attached to this node itself (a goal's), as "
        "consumed from the indicators service."
    )
    def indicator_inputs(self, info: Info[Any, Any]) -> list[IndicatorInput]:
        return when_loaded(
            lambda rows: [_indicator_input(r) for r in rows],
            (loaders(info).indicator_statuses, self.row["id"]),
        )

    @strawberry.field(
        description="The goal's yearly status from the indicators attached to it (empty when "
        "none are): all, some or none met."
    )
    def goal_statuses(
        self, info: Info[Any, Any], fiscal_year: int | None = None
    ) -> list[GoalYearStatus]:
        def shape(rows: list[asyncpg.Record]) -> list[GoalYearStatus]:
            years = goal_years(
                (r["fiscal_year"], IndicatorStatus(r["status"]))
                for r in rows
                if fiscal_year is None or r["fiscal_year"] == fiscal_year
            )
            return [
                GoalYearStatus(
                    fiscal_year=y.fiscal_year,
                    status=y.status.value,
                    label=y.label,
                    met=y.met,
                    evaluated=y.evaluated,
                    indicators=y.indicators,
                    is_failing=y.is_failing,
                )
                for y in years
            ]

        return when_loaded(shape, (loaders(info).indicator_statuses, self.row["id"]))

    @strawberry.field(description="Id of the plan.")
    def plan_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["plan_id"]))

    @strawberry.field(description="Path of normalised codes from the top, joined by '/'.")
    def path(self) -> str:
        return str(self.row["path"])

    @strawberry.field(description="Code as printed (№ 1, 1-1, ①, 施策8).")
    def code(self) -> str:
        return str(self.row["code"])

    @strawberry.field(description="Normalised code, unique among siblings.")
    def normalized_code(self) -> str:
        return str(self.row["normalized_code"])

    @strawberry.field(description="Group, measure or item.")
    def kind(self) -> NodeKind:
        return NodeKind(self.row["kind"])

    @strawberry.field(description="Level index into the plan's level labels.")
    def level(self) -> int:
        return int(self.row["level"])

    @strawberry.field(description="Name of the node's level in this plan, e.g. 施策.")
    def level_label(self, info: Info[Any, Any]) -> str | None:
        level = int(self.row["level"])

        def label(plan: asyncpg.Record | None) -> str | None:
            labels = plan["level_labels"] if plan else []
            return labels[level] if level < len(labels) else None

        return when_loaded(label, (loaders(info).plan, self.row["plan_id"]))

    @strawberry.field(description="Depth in the tree (0 = top).")
    def depth(self) -> int:
        return int(self.row["depth"])

    @strawberry.field(description="Title as printed.")
    def title(self) -> str:
        return str(self.row["title"])

    @strawberry.field(description="Description.")
    def description(self) -> str | None:
        return self.row["description"]

    @strawberry.field(description="Lifecycle status, when the node has one.")
    def status(self) -> MeasureStatus | None:
        return _status(self.row["status"])

    @strawberry.field(description="Tags.")
    def tags(self) -> list[str]:
        return list(self.row["tags"])

    @strawberry.field(description="Id of the parent node (null at the top).")
    def parent_id(self) -> strawberry.ID | None:
        parent = self.row["parent_id"]
        return strawberry.ID(str(parent)) if parent else None

    @strawberry.field(description="The parent node.")
    def parent(self, info: Info[Any, Any]) -> PlanNode | None:
        parent_id = self.row["parent_id"]
        if parent_id is None:
            return None

        def parent(tree: PlanTree) -> PlanNode | None:
            row = tree.by_id.get(parent_id)
            return PlanNode(id=strawberry.ID(str(row["id"])), row=row) if row else None

        return when_loaded(parent, (loaders(info).tree, self.row["plan_id"]))

    @strawberry.field(description="Child nodes in printed order.")
    def children(self, info: Info[Any, Any]) -> list[PlanNode]:
        node_id = self.row["id"]
        return when_loaded(
            lambda tree: [
                PlanNode(id=strawberry.ID(str(r["id"])), row=r)
                for r in tree.children.get(node_id, [])
            ],
            (loaders(info).tree, self.row["plan_id"]),
        )

    @strawberry.field(description="Owner departments (with the lead).")
    def owners(self, info: Info[Any, Any]) -> list[MeasureOwner]:
        return when_loaded(
            lambda rows: [_owner(r) for r in rows], (loaders(info).owners, self.row["id"])
        )

    @strawberry.field(description="The measure, when this node is one.")
    def measure(self) -> Measure | None:
        return Measure.of(self.row) if self.row["kind"] == "measure" else None


def _owner(r: asyncpg.Record) -> MeasureOwner:
    return MeasureOwner(
        department_code=r["department_code"],
        department_name=r["department_name"],
        bureau_code=r["parent_code"],
        is_lead=r["is_lead"],
    )


# --- measure ------------------------------------------------------------------------------------


@strawberry.type(description="A goal a measure serves: primary (◎) or related (○).")
class GoalLink:
    goal_id: strawberry.ID = strawberry.field(description="Id of the goal node.")
    is_primary: bool = strawberry.field(description="True for the primary goal (◎).")
    goal: PlanNode | None = strawberry.field(description="The goal node.")


@strawberry.type(description="Where a measure comes from in an earlier edition (or went to).")
class LineageLink:
    kind: str = strawberry.field(description="carried_over, split, merged, completed or new.")
    plan_key: str | None = strawberry.field(
        description="Key of the other plan (null: the same plan)."
    )
    path: str | None = strawberry.field(description="Path of the other node in that plan.")
    node_id: strawberry.ID | None = strawberry.field(
        description="Id of the other node (derived; the plan may not be imported)."
    )
    note: str | None = strawberry.field(description="Remark as printed.")

    @strawberry.field(description="The other measure, when it is imported and visible.")
    async def measure(self, info: Info[Any, Any]) -> Measure | None:
        if self.node_id is None:
            return None
        row = await loaders(info).node.load(UUID(str(self.node_id)))
        if row is None or row["kind"] != "measure":
            return None
        plan = await loaders(info).plan.load(row["plan_id"])
        return Measure.of(row) if plan and can_see_plan(principal_of(info), plan) else None


@strawberry.type(description="A measure's grade for one fiscal year: machine, override, published.")
class MeasureGrade:
    fiscal_year: int | None = strawberry.field(
        description="Fiscal year; null for a grade of the whole plan period (練馬区 A/B)."
    )
    grade: str | None = strawberry.field(
        description="The grade that counts (override, else published, else machine), as a code."
    )
    label: str | None = strawberry.field(description="Its label, e.g. 達成＋.")
    is_failing: bool = strawberry.field(description="True when the grade is the failing one.")
    consecutive_failing_years: int = strawberry.field(
        description="Failing years in a row up to this one."
    )
    machine_grade: str | None = strawberry.field(description="Grade computed from indicators.")
    machine_label: str | None = strawberry.field(description="Label of the machine grade.")
    machine_reason: str | None = strawberry.field(description="How the machine grade was found.")
    published_grade: str | None = strawberry.field(description="Grade the ward published.")
    published_label: str | None = strawberry.field(description="Label of the published grade.")
    published_printed: str | None = strawberry.field(description="Published grade as printed.")
    override_grade: str | None = strawberry.field(
        description="Grade set by 事務局/本部 (internal: null for other callers)."
    )
    override_label: str | None = strawberry.field(description="Label of the override.")
    override_reason: str | None = strawberry.field(description="Why it was overridden (internal).")
    overridden_by: str | None = strawberry.field(description="Who overrode it (internal).")
    overridden_at: datetime | None = strawberry.field(description="When (internal).")


@strawberry.type(description="One change of a measure: who, when, why, previous and new value.")
class HistoryEntry:
    id: strawberry.ID = strawberry.field(description="Entry id.")
    field: str = strawberry.field(
        description="What changed: status, title, description, owners, others_text or tags."
    )
    previous: str | None = strawberry.field(description="Previous value (text or JSON).")
    value: str | None = strawberry.field(description="New value (text or JSON).")
    from_status: MeasureStatus | None = strawberry.field(description="For status changes.")
    to_status: MeasureStatus | None = strawberry.field(description="For status changes.")
    changed_by: str = strawberry.field(description="Who (subject of the token, or import).")
    reason: str = strawberry.field(description="Why.")
    source: str = strawberry.field(description="api or import.")
    changed_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="One change of a grade (machine recomputation or override).")
class GradeHistoryEntry:
    fiscal_year: int = strawberry.field(description="Fiscal year.")
    kind: str = strawberry.field(description="machine, override or published.")
    previous: str | None = strawberry.field(description="Previous grade code.")
    grade: str | None = strawberry.field(description="New grade code (null: cleared).")
    reason: str | None = strawberry.field(description="Why.")
    changed_by: str = strawberry.field(description="Who.")
    changed_at: datetime = strawberry.field(description="When.")


@strawberry.type(description="An indicator status the machine grade used.")
class IndicatorInput:
    indicator_id: strawberry.ID = strawberry.field(description="Indicator id.")
    indicator_key: str = strawberry.field(description="Indicator key.")
    title: str = strawberry.field(description="Indicator title.")
    fiscal_year: int = strawberry.field(description="Fiscal year.")
    status: str = strawberry.field(description="achieved, on_track, at_risk, off_track, ...")
    exceeded: bool = strawberry.field(description="The actual exceeded the target.")


def _status(value: Any) -> MeasureStatus | None:
    try:
        return MeasureStatus(value) if isinstance(value, str) else None
    except ValueError:
        return None


@strawberry.federation.type(
    keys=["id"], description="A measure (施策/取組) of a plan, with its owners, plan and grades."
)
class Measure:
    id: strawberry.ID = strawberry.field(description="Measure id (UUID from tenant, plan, path).")
    row: strawberry.Private[asyncpg.Record]

    @classmethod
    def of(cls, row: asyncpg.Record) -> Measure:
        return cls(id=strawberry.ID(str(row["id"])), row=row)

    @classmethod
    async def resolve_reference(cls, info: Info[Any, Any], id: strawberry.ID) -> Measure | None:
        try:
            measure_id = UUID(str(id))
        except ValueError:
            return None
        row = await loaders(info).node.load(measure_id)
        if row is None or row["kind"] != "measure":
            return None
        plan = await loaders(info).plan.load(row["plan_id"])
        if plan is None or not can_see_plan(principal_of(info), plan):
            return None
        return cls.of(row)

    @strawberry.field(description="Municipality slug.")
    def tenant(self) -> str:
        return str(self.row["tenant"])

    @strawberry.field(description="Id of the plan.")
    def plan_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row["plan_id"]))

    @strawberry.field(description="The plan.")
    def plan(self, info: Info[Any, Any]) -> Plan:
        def plan(row: asyncpg.Record | None) -> Plan:
            assert row is not None
            return Plan.of(row)

        return when_loaded(plan, (loaders(info).plan, self.row["plan_id"]))

    @strawberry.field(description="Path of normalised codes from the top of the plan.")
    def path(self) -> str:
        return str(self.row["path"])

    @strawberry.field(description="Code as printed (№ 1, 1-1, ①).")
    def code(self) -> str:
        return str(self.row["code"])

    @strawberry.field(description="Normalised code, unique within the parent.")
    def normalized_code(self) -> str:
        return str(self.row["normalized_code"])

    @strawberry.field(description="Name of the measure's level in its plan, e.g. 施策.")
    def level_label(self, info: Info[Any, Any]) -> str | None:
        return PlanNode(id=self.id, row=self.row).level_label(info)

    @strawberry.field(description="Title as printed.")
    def title(self) -> str:
        return str(self.row["title"])

    @strawberry.field(description="Description.")
    def description(self) -> str | None:
        return self.row["description"]

    @strawberry.field(description="Lifecycle status (null when the plan prints none).")
    def status(self) -> MeasureStatus | None:
        return _status(self.row["status"])

    @strawberry.field(description="Status as printed when it differs (官デ変, 完了, ...).")
    def status_label(self) -> str | None:
        return self.row["attributes"].get("status_label") or self.row["status"]

    @strawberry.field(description="Owner departments, lead first where the plan names one.")
    def owners(self, info: Info[Any, Any]) -> list[MeasureOwner]:
        return when_loaded(
            lambda rows: [_owner(r) for r in rows], (loaders(info).owners, self.row["id"])
        )

    @strawberry.field(description="Open-ended owners as printed: ほか / 関係課.")
    def others_text(self) -> str | None:
        return self.row["others_text"]

    @strawberry.field(description="期待される効果, as printed.")
    def expected_effects(self) -> list[str]:
        return list((self.row["attributes"] or {}).get("expected_effects") or [])

    @strawberry.field(description="Other printings of the code (取組 10 vs 取組Ⅹ).")
    def code_variants(self) -> list[str]:
        return list((self.row["attributes"] or {}).get("code_variants") or [])

    @strawberry.field(description="National frameworks the plan maps the measure to.")
    def frameworks(self) -> list[FrameworkTag]:
        return [
            FrameworkTag(framework=f["framework"], item=f["item"], label=f.get("label"))
            for f in (self.row["attributes"] or {}).get("frameworks") or []
        ]

    @strawberry.field(
        description="Who answers for the measure: its 所管課, an ancestor's, or the plan's "
        "default owner, shown as such."
    )
    def reporting_owners(self, info: Info[Any, Any]) -> ReportingOwners:
        def shape(ctx: Any) -> ReportingOwners:
            if ctx is None:
                answer = owners_for_reporting([], [], None)
            else:
                answer = owners_for_reporting(ctx.own, ctx.ancestors, ctx.default_owner)
            return ReportingOwners(
                department_codes=list(answer.codes),
                source=answer.source.value,
                is_plan_default=answer.is_plan_default,
                shown=owners_shown(answer),
            )

        return when_loaded(shape, (loaders(info).ownership, self.row["id"]))

    @strawberry.field(description="Cross-cutting tags (codes of the plan's tag definitions).")
    def tags(self) -> list[str]:
        return list(self.row["tags"])

    @strawberry.field(description="The plan per fiscal year (printed label and normalised phase).")
    def schedule(self, info: Info[Any, Any]) -> list[ScheduleEntry]:
        return when_loaded(
            lambda rows: [
                ScheduleEntry(
                    fiscal_year=r["fiscal_year"],
                    label=r["label"],
                    phase=r["phase"],
                    track=r["track"] or None,
                    tentative=(r["extra"] or {}).get("tentative"),
                )
                for r in rows
            ],
            (loaders(info).schedule, self.row["id"]),
        )

    @strawberry.field(description="Where the measure comes from in earlier editions.")
    def lineage(self, info: Info[Any, Any]) -> list[LineageLink]:
        return when_loaded(
            lambda rows: [
                LineageLink(
                    kind=r["kind"],
                    plan_key=r["from_plan_key"],
                    path=r["from_path"],
                    node_id=strawberry.ID(str(r["from_node_id"])) if r["from_node_id"] else None,
                    note=r["note"],
                )
                for r in rows
            ],
            (loaders(info).lineage, self.row["id"]),
        )

    @strawberry.field(description="Where the measure went in later editions (reverse lineage).")
    def successors(self, info: Info[Any, Any]) -> list[LineageLink]:
        return when_loaded(
            lambda rows: [
                LineageLink(
                    kind=r["kind"],
                    plan_key=r["plan_key"],
                    path=r["path"],
                    node_id=strawberry.ID(str(r["node_id"])),
                    note=r["note"],
                )
                for r in rows
            ],
            (loaders(info).successors, self.row["id"]),
        )

    @strawberry.field(description="Goals the measure serves: one primary (◎), related (○).")
    def goals(self, info: Info[Any, Any]) -> list[GoalLink]:
        def links(tree: PlanTree, rows: list[asyncpg.Record]) -> list[GoalLink]:
            out = []
            for r in rows:
                goal = tree.by_id.get(r["goal_id"])
                out.append(
                    GoalLink(
                        goal_id=strawberry.ID(str(r["goal_id"])),
                        is_primary=r["is_primary"],
                        goal=PlanNode(id=strawberry.ID(str(goal["id"])), row=goal)
                        if goal
                        else None,
                    )
                )
            return out

        return when_loaded(
            links,
            (loaders(info).tree, self.row["plan_id"]),
            (loaders(info).goals, self.row["id"]),
        )

    @strawberry.field(description="Sub-items (事業量項目) of the measure, in printed order.")
    def items(self, info: Info[Any, Any]) -> list[PlanNode]:
        return PlanNode(id=self.id, row=self.row).children(info)

    @strawberry.field(description="The measure as a node of the plan tree.")
    def node(self) -> PlanNode:
        return PlanNode(id=self.id, row=self.row)

    @strawberry.field(
        description="Grades per fiscal year (machine, published and override; both kept)."
    )
    def grades(self, info: Info[Any, Any], fiscal_year: int | None = None) -> list[MeasureGrade]:
        internal = is_internal(principal_of(info), self.row["tenant"])
        return when_loaded(
            lambda rows, published, scale: grades_view(
                rows, published, scale, internal, fiscal_year
            ),
            (loaders(info).grades, self.row["id"]),
            (loaders(info).published_grades, self.row["id"]),
            (loaders(info).plan_scale, self.row["plan_id"]),
        )

    @strawberry.field(
        description="Every change with who, when, why and the previous value (internal)."
    )
    def history(self, info: Info[Any, Any]) -> list[HistoryEntry] | None:
        if not is_internal(principal_of(info), self.row["tenant"]):
            raise forbidden_internal()
        return when_loaded(
            lambda rows: [
                HistoryEntry(
                    id=strawberry.ID(str(r["id"])),
                    field=r["field"],
                    previous=_json_text(r["previous"]),
                    value=_json_text(r["value"]),
                    from_status=_status(r["previous"]) if r["field"] == "status" else None,
                    to_status=_status(r["value"]) if r["field"] == "status" else None,
                    changed_by=r["changed_by"],
                    reason=r["reason"],
                    source=r["source"],
                    changed_at=r["changed_at"],
                )
                for r in rows
            ],
            (loaders(info).history, self.row["id"]),
        )

    @strawberry.field(description="Every grade change (machine and override; internal).")
    def grade_history(self, info: Info[Any, Any]) -> list[GradeHistoryEntry] | None:
        if not is_internal(principal_of(info), self.row["tenant"]):
            raise forbidden_internal()
        return when_loaded(
            lambda rows: [
                GradeHistoryEntry(
                    fiscal_year=r["fiscal_year"],
                    kind=r["kind"],
                    previous=r["previous"],
                    grade=r["grade"],
                    reason=r["reason"],
                    changed_by=r["changed_by"],
                    changed_at=r["changed_at"],
                )
                for r in rows
            ],
            (loaders(info).grade_history, self.row["id"]),
        )

    @strawberry.field(
        description="The measure's status for a fiscal year, also without numbers: 完了 in the "
        "plan → COMPLETE; else the schedule adherence of its reviewed progress report; else its "
        "grade; else NO_DATA (never a grade)."
    )
    def yearly_status(self, info: Info[Any, Any], fiscal_year: int) -> MeasureYearStatus:
        return when_loaded(
            lambda grades, reported, scale: year_status_view(
                fiscal_year, self.row["status"], grades, reported, scale
            ),
            (loaders(info).grades, self.row["id"]),
            (loaders(info).report_status, self.row["id"]),
            (loaders(info).plan_scale, self.row["plan_id"]),
        )

    @strawberry.field(
        description="Progress reports (進捗報告) of the measure, every version, newest period and "
        "version first; only published ones for callers outside the ward's staff."
    )
    def progress_reports(
        self, info: Info[Any, Any], period: str | None = None
    ) -> list[ProgressReport]:
        internal = is_internal(principal_of(info), self.row["tenant"])
        return when_loaded(
            lambda rows: [ProgressReport.of(r) for r in visible_reports(rows, internal, period)],
            (loaders(info).reports, self.row["id"]),
        )

    @strawberry.field(
        description="The current report of a period (the latest version; for callers outside "
        "the ward's staff the published one). Select `indicators` beside it for the actuals."
    )
    def current_report(self, info: Info[Any, Any], period: str) -> ProgressReport | None:
        internal = is_internal(principal_of(info), self.row["tenant"])

        def current(rows: list[asyncpg.Record]) -> ProgressReport | None:
            seen = visible_reports(rows, internal, period)
            return ProgressReport.of(seen[0]) if seen else None

        return when_loaded(current, (loaders(info).reports, self.row["id"]))

    @strawberry.field(
        description="Indicator statuses consumed for the machine grade (per indicator and year)."
    )
    def indicator_inputs(self, info: Info[Any, Any]) -> list[IndicatorInput]:
        return when_loaded(
            lambda rows: [_indicator_input(r) for r in rows],
            (loaders(info).indicator_statuses, self.row["id"]),
        )


def _indicator_input(r: asyncpg.Record) -> IndicatorInput:
    return IndicatorInput(
        indicator_id=strawberry.ID(str(r["indicator_id"])),
        indicator_key=r["indicator_key"],
        title=r["title"],
        fiscal_year=r["fiscal_year"],
        status=r["status"],
        exceeded=r["exceeded"],
    )


def grades_view(
    rows: list[asyncpg.Record],
    published: list[asyncpg.Record],
    scale: GradeScale,
    internal: bool,
    fiscal_year: int | None = None,
) -> list[MeasureGrade]:
    def label(code: str | None) -> str | None:
        grade = scale.find(code)
        return grade.label if grade else code

    by_year_published = {p["fiscal_year"]: p for p in published}
    effective_by_year = {r["fiscal_year"]: r["effective_grade"] for r in rows}
    out: list[MeasureGrade] = []
    for r in rows:
        if fiscal_year is not None and r["fiscal_year"] != fiscal_year:
            continue
        p = by_year_published.get(r["fiscal_year"])
        streak = 0
        year = r["fiscal_year"]
        while scale.is_failing(effective_by_year.get(year)):
            streak += 1
            year -= 1
        out.append(
            MeasureGrade(
                fiscal_year=r["fiscal_year"],
                grade=r["effective_grade"],
                label=label(r["effective_grade"]),
                is_failing=scale.is_failing(r["effective_grade"]),
                consecutive_failing_years=streak,
                machine_grade=r["machine_grade"],
                machine_label=label(r["machine_grade"]),
                machine_reason=r["machine_reason"],
                published_grade=p["grade"] if p else None,
                published_label=label(p["grade"]) if p else None,
                published_printed=p["printed"] if p else None,
                override_grade=r["override_grade"] if internal else None,
                override_label=label(r["override_grade"]) if internal else None,
                override_reason=r["override_reason"] if internal else None,
                overridden_by=r["override_by"] if internal else None,
                overridden_at=r["override_at"] if internal else None,
            )
        )
    if fiscal_year is None:
        for p in published:
            if p["fiscal_year"] is None:
                out.append(
                    MeasureGrade(
                        fiscal_year=None,
                        grade=p["grade"],
                        label=label(p["grade"]),
                        is_failing=scale.is_failing(p["grade"]),
                        consecutive_failing_years=0,
                        machine_grade=None,
                        machine_label=None,
                        machine_reason=None,
                        published_grade=p["grade"],
                        published_label=label(p["grade"]),
                        published_printed=p["printed"],
                        override_grade=None,
                        override_label=None,
                        override_reason=None,
                        overridden_by=None,
                        overridden_at=None,
                    )
                )
    return out


@strawberry.type(description="A page of measures in tree order.")
class MeasureConnection(Connection[Measure]):
    pass


@strawberry.input(description="Filters of the measure list; all given filters must match.")
class MeasureFilter:
    department: str | None = strawberry.field(
        default=None, description="Department code among the owners."
    )
    status: MeasureStatus | None = strawberry.field(default=None, description="Lifecycle status.")
    tag: str | None = strawberry.field(default=None, description="Tag code.")
    grade: str | None = strawberry.field(
        default=None, description="Grade code or label (the grade that counts)."
    )
    fiscal_year: int | None = strawberry.field(
        default=None,
        description="With grade: the year of the grade. Alone: measures scheduled or graded "
        "that year.",
    )
    text: str | None = strawberry.field(default=None, description="Substring of title or code.")
    framework: str | None = strawberry.field(
        default=None,
        description="A national framework the plan maps the measure to (jichitai_dx: "
        "自治体DX推進計画 重点取組事項, kanmin_data: 官民データ活用推進基本法 基本的施策), or one "
        "of its items as printed: jichitai_dx:(1) 自治体フロントヤード改革.",
    )
    reporting_department: str | None = strawberry.field(
        default=None,
        description="Department code among those who answer for the measure (reportingOwners): "
        "its own 所管課, else the nearest ancestor's, else the plan's default owner.",
    )


# --- mutation payloads and inputs -----------------------------------------------------------------


@strawberry.type(description="Result of changeMeasureStatus.")
class ChangeMeasureStatusPayload:
    measure: Measure | None = strawberry.field(description="The measure after the change.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of overrideGrade.")
class OverrideGradePayload:
    measure: Measure | None = strawberry.field(description="The measure.")
    grade: MeasureGrade | None = strawberry.field(description="The grade of that year, after.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of updateMeasure.")
class UpdateMeasurePayload:
    measure: Measure | None = strawberry.field(description="The measure after the edit.")
    changed_fields: list[str] = strawberry.field(description="Fields that actually changed.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of publishPlan.")
class PublishPlanPayload:
    plan: Plan | None = strawberry.field(description="The plan after publication.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="Result of supersedePlan.")
class SupersedePlanPayload:
    plan: Plan | None = strawberry.field(description="The superseded plan.")
    errors: list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.input(description="An owner department of a measure.")
class MeasureOwnerInput:
    department_code: str = strawberry.field(description="Department code.")
    is_lead: bool = strawberry.field(default=False, description="The lead (主担当) department.")


@strawberry.input(description="Edits of a measure; omitted fields stay as they are.")
class UpdateMeasureInput:
    measure_id: strawberry.ID = strawberry.field(description="The measure.")
    reason: str = strawberry.field(description="Why (kept in the history).")
    title: str | None = strawberry.field(default=None, description="New title.")
    description: str | None = strawberry.field(
        default=None, description="New description (empty string clears it)."
    )
    owners: list[MeasureOwnerInput] | None = strawberry.field(
        default=None, description="The complete new list of owner departments."
    )
    others_text: str | None = strawberry.field(
        default=None, description="Open-ended owners as printed (ほか / 関係課)."
    )
    tags: list[str] | None = strawberry.field(default=None, description="The complete tag list.")
