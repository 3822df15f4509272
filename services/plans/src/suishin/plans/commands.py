"""Every state change of the plans service: lifecycle, edits, plan states, yearly grades.

Used by the GraphQL mutations, the Kafka handler and the plan-file importer. Each function runs
inside the caller's transaction (it takes the connection), checks the rules (:mod:`domain`)
first and raises a :class:`DomainError` before writing anything, writes through
:mod:`storage`, records history, and enqueues the events other services care about in the same
transaction.

Yearly grades: the machine grade of a measure for a fiscal year is recomputed from the latest
status of every indicator linked to the measure or to one of its sub-items (事業量項目). The
grade that counts (``effective_grade``) is the override, else the grade the ward published
(plan file), else the machine grade. ``measure.evaluated`` is emitted through the outbox
whenever the machine or the effective grade changes, carrying ``is_failing`` and
``consecutive_failing_years``.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from suishin.contracts import ids
from suishin.contracts.calendar import JST
from suishin.contracts.enums import (
    IndicatorStatus,
    MeasureStatus,
    ProgressReportState,
    ScheduleAdherence,
)
from suishin.contracts.events import (
    Envelope,
    IndicatorStatusChanged,
    MeasureEvaluated,
    MeasureStatusChanged,
    P,
    PlanMilestoneDue,
    ProgressReportAccepted,
    ProgressReportApproved,
    ProgressReportDueSoon,
    ProgressReportEvent,
    ProgressReportOverdue,
    ProgressReportPublished,
    ProgressReportReturned,
    ProgressReportSubmitted,
    ProgressReportTransitioned,
    ScheduleSlipped,
    new_event,
)
from suishin.contracts.planfile import Milestone
from suishin.kit import outbox
from suishin.kit.auth import Principal
from suishin.kit.consumer import Rejection
from suishin.kit.errors import DomainError, NotFound
from suishin.kit.handlers import Outcome
from suishin.plans import storage
from suishin.plans.domain import reports
from suishin.plans.domain.grading import (
    IndicatorResult,
    check_override_change,
    check_override_year,
    consecutive_failing_years,
    effective_grade,
    foreign_measures,
    latest_statuses,
    machine_grade,
    result_from_event,
)
from suishin.plans.domain.lifecycle import (
    check_may_edit,
    check_may_manage_plans,
    check_may_override,
    check_transition,
)
from suishin.plans.domain.milestones import MilestoneSpec, reminders_due
from suishin.plans.domain.ownership import OwnerSource, ReportingOwners, level_label
from suishin.plans.domain.ownership import owners_for_reporting as _owners_for_reporting
from suishin.plans.domain.tree import BEFORE_ADOPTION, PlanState, require_reason
from suishin.plans.storage import Conn

PRODUCER = "plans"


async def owners_for_reporting(db: storage.Executor, node_id: UUID) -> ReportingOwners:
    """Who answers for the node (reporting rights, alert routing): its own 所管課, else the
    nearest ancestor's, else the plan's default owner (``plan.default_owner``, e.g. the 事務局);
    ``ReportingOwners.is_plan_default`` says when it is the plan's default."""
    ctx = await storage.nodes.ownership_context(db, node_id)
    if ctx is None:
        raise NotFound("ノード", "Node", str(node_id))
    return _owners_for_reporting(ctx.own, ctx.ancestors, ctx.default_owner)


async def _event_context(db: storage.Executor, node_id: UUID) -> tuple[list[str], str | None]:
    """A measure event's ``department_codes`` (who answers for it) and ``level_label``."""
    ctx = await storage.nodes.ownership_context(db, node_id)
    if ctx is None:
        return [], None
    owners = _owners_for_reporting(ctx.own, ctx.ancestors, ctx.default_owner)
    return list(owners.codes), level_label(ctx.level_labels, ctx.level)


def _measure_event(payload: P, measure: asyncpg.Record, version: int) -> Envelope[P]:
    """An event about ``measure`` at its ``version`` (the measure's aggregate)."""
    return new_event(
        payload,
        tenant=measure["tenant"],
        aggregate_id=str(measure["id"]),
        aggregate_version=version,
        producer=PRODUCER,
    )


async def _measure_for_update(conn: Conn, actor: Principal, measure_id: UUID) -> asyncpg.Record:
    measure = await storage.nodes.node_for_update(conn, measure_id)
    if measure is None or measure["kind"] != "measure" or measure["tenant"] != actor.tenant:
        raise NotFound("施策", "Measure", str(measure_id))
    if measure["plan_state"] == PlanState.SUPERSEDED:
        raise DomainError(
            "PLAN_SUPERSEDED",
            "改訂済み（superseded）の計画の施策は変更できません",
            "Measures of a superseded plan cannot be changed",
        )
    return measure


async def change_measure_status(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    to: MeasureStatus,
    reason: str | None,
) -> Envelope[MeasureStatusChanged]:
    """Move a measure to ``to`` if the lifecycle and the actor's rights allow it."""
    measure = await _measure_for_update(conn, actor, measure_id)
    owners = list((await owners_for_reporting(conn, measure_id)).codes)
    check_may_edit(actor, owners)
    current = MeasureStatus(measure["status"]) if measure["status"] else None
    check_transition(current, to, actor=actor)
    why = require_reason(reason)
    event = await apply_status(
        conn,
        measure,
        current,
        to,
        changed_by=actor.subject,
        reason=why,
        source="api",
        departments=owners,
    )
    if MeasureStatus.COMPLETED in (current, to):
        # 達成 also means "completed as a measure" (板橋区): completion (or reopening) regrades
        years = await storage.grades.measure_years(conn, measure)
        await regrade(conn, [(measure_id, y) for y in years], changed_by=actor.subject)
    return event


async def apply_status(
    conn: Conn,
    measure: Mapping[str, Any],
    current: MeasureStatus | None,
    to: MeasureStatus,
    *,
    changed_by: str,
    reason: str,
    source: str,
    departments: Sequence[str],
) -> Envelope[MeasureStatusChanged]:
    """Write the status change, its history row and its event (rules already checked);
    ``departments`` = :func:`owners_for_reporting` of the measure."""
    _, label = await _event_context(conn, measure["id"])
    await storage.nodes.set_status(conn, measure["id"], to.value)
    await storage.history.add_history(
        conn,
        node_id=measure["id"],
        tenant=measure["tenant"],
        field="status",
        previous=current.value if current else None,
        value=to.value,
        changed_by=changed_by,
        reason=reason,
        source=source,
    )
    version = await storage.nodes.bump_version(conn, measure["id"])
    event = _measure_event(
        MeasureStatusChanged(
            measure_id=measure["id"],
            plan_id=measure["plan_id"],
            code=measure["code"],
            title=measure["title"],
            from_status=current,
            to_status=to,
            changed_by=changed_by,
            reason=reason,
            department_codes=list(departments),
            level_label=label,
        ),
        measure,
        version,
    )
    await outbox.enqueue(conn, event)
    return event


@dataclass(frozen=True)
class OwnerInput:
    department_code: str
    is_lead: bool = False


@dataclass(frozen=True)
class MeasureEdit:
    """Fields to change; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    owners: Sequence[OwnerInput] | None = None
    others_text: str | None = None
    tags: Sequence[str] | None = None


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


async def update_measure(
    conn: Conn, actor: Principal, measure_id: UUID, edit: MeasureEdit, reason: str | None
) -> list[str]:
    """Apply title/description/owners/tags edits; return the fields that changed."""
    measure = await _measure_for_update(conn, actor, measure_id)
    owners_before = await storage.nodes.owner_leads(conn, measure_id)
    check_may_edit(actor, list((await owners_for_reporting(conn, measure_id)).codes))
    why = require_reason(reason)
    errors: list[DomainError] = []
    changes: dict[str, tuple[object, object]] = {}

    if edit.title is not None:
        title = _clean(edit.title)
        if not title or len(title) > 500:
            errors.append(
                DomainError(
                    "INVALID_TITLE",
                    "施策名は1〜500文字で入力してください",
                    "The title must be 1 to 500 characters",
                    field="title",
                )
            )
        elif title != measure["title"]:
            changes["title"] = (measure["title"], title)
    if edit.description is not None:
        description = _clean(edit.description) or None
        if description != measure["description"]:
            changes["description"] = (measure["description"], description)
    if edit.others_text is not None:
        others = _clean(edit.others_text) or None
        if others != measure["others_text"]:
            changes["others_text"] = (measure["others_text"], others)
    new_owners: list[OwnerInput] | None = None
    if edit.owners is not None:
        new_owners = [OwnerInput(_clean(o.department_code), o.is_lead) for o in edit.owners]
        errors.extend(await _check_owners(conn, measure["tenant"], new_owners))
        before = [{"department": r["department_code"], "lead": r["is_lead"]} for r in owners_before]
        after = [{"department": o.department_code, "lead": o.is_lead} for o in new_owners]
        if before != after:
            changes["owners"] = (before, after)
    if edit.tags is not None:
        tags = [_clean(t) for t in edit.tags]
        errors.extend(await _check_tags(conn, measure["plan_id"], tags))
        if tags != list(measure["tags"]):
            changes["tags"] = (list(measure["tags"]), tags)
    if errors:
        raise MultipleErrors(errors)

    for field_name, (before_value, after_value) in changes.items():
        if field_name == "owners":
            assert new_owners is not None
            await storage.nodes.replace_owners(
                conn,
                measure_id,
                measure["tenant"],
                [(o.department_code, o.is_lead) for o in new_owners],
            )
        else:
            await storage.nodes.set_field(conn, measure_id, field_name, after_value)
        await storage.history.add_history(
            conn,
            node_id=measure_id,
            tenant=measure["tenant"],
            field=field_name,
            previous=before_value,
            value=after_value,
            changed_by=actor.subject,
            reason=why,
            source="api",
        )
    return list(changes)


class MultipleErrors(DomainError):
    """Several input problems at once (each is reported)."""

    def __init__(self, errors: list[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message_ja, first.message_en, first.field)
        self.errors = errors


async def _check_owners(conn: Conn, tenant: str, owners: Sequence[OwnerInput]) -> list[DomainError]:
    errors: list[DomainError] = []
    known = await storage.tenants.department_codes(
        conn, tenant, [o.department_code for o in owners]
    )
    seen: set[str] = set()
    for i, owner in enumerate(owners):
        if owner.department_code not in known:
            errors.append(
                DomainError(
                    "UNKNOWN_DEPARTMENT",
                    f"部署「{owner.department_code}」は登録されていません",
                    f"Unknown department {owner.department_code!r}",
                    field=f"owners[{i}].departmentCode",
                )
            )
        if owner.department_code in seen:
            errors.append(
                DomainError(
                    "DUPLICATE_OWNER",
                    f"担当部署「{owner.department_code}」が重複しています",
                    f"Department {owner.department_code!r} is listed twice",
                    field=f"owners[{i}].departmentCode",
                )
            )
        seen.add(owner.department_code)
    if sum(1 for o in owners if o.is_lead) > 1:
        errors.append(
            DomainError(
                "SEVERAL_LEADS",
                "主担当は1部署のみ指定できます",
                "Only one owner can be the lead",
                field="owners",
            )
        )
    return errors


async def _check_tags(conn: Conn, plan_id: UUID, tags: Sequence[str]) -> list[DomainError]:
    errors: list[DomainError] = []
    document = await storage.plans.plan_document(conn, plan_id)
    defined = {t["code"] for t in (document or {}).get("plan", {}).get("tags", [])}
    for i, tag in enumerate(tags):
        if not tag:
            errors.append(
                DomainError("EMPTY_TAG", "空のタグは指定できません", "Empty tag", f"tags[{i}]")
            )
        elif defined and tag not in defined:
            errors.append(
                DomainError(
                    "UNKNOWN_TAG",
                    f"タグ「{tag}」はこの計画に定義されていません",
                    f"Tag {tag!r} is not defined in this plan",
                    field=f"tags[{i}]",
                )
            )
    if len(set(tags)) != len(tags):
        errors.append(
            DomainError("DUPLICATE_TAG", "タグが重複しています", "A tag is listed twice", "tags")
        )
    return errors


# --- plan states -------------------------------------------------------------------------------


async def _plan_for_update(conn: Conn, actor: Principal, plan_id: UUID) -> asyncpg.Record:
    check_may_manage_plans(actor)
    row = await storage.plans.plan_for_update(conn, plan_id)
    if row is None or row["tenant"] != actor.tenant:
        raise NotFound("計画", "Plan", str(plan_id))
    return row


async def _plan_history(
    conn: Conn,
    plan: asyncpg.Record,
    field: str,
    previous: object,
    value: object,
    changed_by: str,
    reason: str,
    source: str = "api",
) -> None:
    await storage.plans.add_plan_history(
        conn,
        plan_id=plan["id"],
        tenant=plan["tenant"],
        field=field,
        previous=previous,
        value=value,
        changed_by=changed_by,
        reason=reason,
        source=source,
    )


async def publish_plan(conn: Conn, actor: Principal, plan_id: UUID, reason: str | None) -> None:
    plan = await _plan_for_update(conn, actor, plan_id)
    if plan["state"] not in BEFORE_ADOPTION:
        raise DomainError(
            "INVALID_PLAN_STATE",
            f"公開できるのは下書き・素案・案の計画のみです（現在: {plan['state']}）",
            f"Only a draft, outline (素案) or proposal (案) can be published "
            f"(it is {plan['state']})",
        )
    why = (reason or "").strip() or "公開"
    await storage.plans.set_published(conn, plan_id)
    await _plan_history(conn, plan, "state", plan["state"], "published", actor.subject, why)


async def supersede_plan(
    conn: Conn,
    actor: Principal,
    plan_id: UUID,
    by_plan_id: UUID | None,
    reason: str | None,
) -> None:
    plan = await _plan_for_update(conn, actor, plan_id)
    why = require_reason(reason)
    if plan["state"] != PlanState.PUBLISHED:
        raise DomainError(
            "INVALID_PLAN_STATE",
            f"改訂（superseded）にできるのは公開中の計画のみです（現在: {plan['state']}）",
            f"Only a published plan can be superseded (it is {plan['state']})",
        )
    if by_plan_id is not None:
        successor = await storage.plans.plan_state(conn, by_plan_id)
        if successor is None or successor["tenant"] != actor.tenant:
            raise NotFound("計画", "Plan", str(by_plan_id))
        if by_plan_id == plan_id:
            raise DomainError(
                "INVALID_SUCCESSOR",
                "計画は自分自身で改訂できません",
                "A plan cannot supersede itself",
                field="byPlanId",
            )
        if successor["state"] == PlanState.SUPERSEDED:
            raise DomainError(
                "INVALID_SUCCESSOR",
                "後継の計画が既に改訂済みです",
                "The successor plan is itself superseded",
                field="byPlanId",
            )
    await storage.plans.set_superseded(conn, plan_id, by_plan_id)
    await _plan_history(
        conn,
        plan,
        "state",
        plan["state"],
        {"state": "superseded", "by": str(by_plan_id) if by_plan_id else None},
        actor.subject,
        why,
    )


# --- yearly grades -----------------------------------------------------------------------------

MACHINE = "machine"
INDICATOR_STATUS_REJECTION = "tenant_mismatch"


async def apply_indicator_statuses(
    conn: Conn, events: list[Envelope[IndicatorStatusChanged]]
) -> Outcome:
    """Keep the latest indicator status per (measure, indicator, year) and regrade.

    Stale events (older than what is stored for the same indicator, measure and year) change
    nothing. An event naming a measure of another ward is refused (dead-lettered)."""
    node_ids = list({m for e in events for m in e.payload.measure_ids})
    owners = await storage.nodes.tenants_of(conn, node_ids)
    rejections = [
        Rejection(
            e,
            INDICATOR_STATUS_REJECTION,
            f"measure(s) {', '.join(foreign_measures(e, owners))} belong to another tenant "
            f"than {e.tenant}",
        )
        for e in events
        if foreign_measures(e, owners)
    ]
    refused = {r.event.event_id for r in rejections}
    accepted = [e for e in events if e.event_id not in refused]
    outcome = await record_indicator_statuses(conn, accepted)
    await regrade(conn, outcome.affected)
    return Outcome(rejections, changed=bool(outcome.affected), applied=len(accepted))


@dataclass(frozen=True)
class StatusOutcome:
    applied: int
    stale: int
    affected: set[tuple[UUID, int]]


async def record_indicator_statuses(
    conn: Conn, events: Sequence[Envelope[IndicatorStatusChanged]]
) -> StatusOutcome:
    """Keep the latest status per (node, indicator, fiscal year); older events are stale.

    An event is stale when the stored row came from an event with a higher aggregate version,
    or (without versions) a later ``occurred_at``. Returns the (measure, year) pairs to regrade.
    One upsert for the whole batch; within the batch only the newest event per key is kept.
    """
    newest, candidates = latest_statuses(events)
    if not newest:
        return StatusOutcome(0, 0, set())
    rows = []
    for (node_id, indicator_id, year), event in newest.items():
        p = event.payload
        result = result_from_event(
            indicator_id, p.to_status, p.figures, rule=p.rule, fiscal_year=year
        )
        rows.append(
            (
                node_id,
                indicator_id,
                year,
                event.tenant,
                p.indicator_key,
                p.title,
                p.to_status.value,
                result.quantitative,
                result.exceeded,
                json.dumps(p.figures.model_dump(mode="json")),
                event.event_id,
                event.aggregate_version,
                event.occurred_at,
                result.bar,
                result.met,
                result.note,
            )
        )
    applied = await storage.grades.upsert_indicator_statuses(conn, rows)
    affected = await storage.grades.measures_for_nodes(conn, set(applied))
    return StatusOutcome(len(applied), candidates - len(applied), affected)


async def _indicator_results(
    conn: Conn, measure_years: Sequence[tuple[asyncpg.Record, int]]
) -> dict[tuple[UUID, int], list[IndicatorResult]]:
    statuses = await storage.grades.latest_indicator_statuses(conn, measure_years)
    return {
        pair: [
            IndicatorResult(
                r["indicator_id"],
                IndicatorStatus(r["status"]),
                r["quantitative"],
                r["exceeded"],
                bar=r["exceeded_bar"],
                title=r["title"],
                met=r["graded_met"],
                note=r["graded_note"],
            )
            for r in rows
        ]
        for pair, rows in statuses.items()
    }


async def regrade(
    conn: Conn, pairs: Iterable[tuple[UUID, int]], *, changed_by: str = MACHINE
) -> list[Envelope[MeasureEvaluated]]:
    """Recompute the machine grade of each (measure, year); enqueue and return the events.

    What a grade is computed from is read for all pairs at once (the measures, their plans'
    scales, when each was completed, the latest indicator statuses, the grades rows, locked,
    with the published grades); the grades that changed are written, their history recorded
    and their events announced together, in (measure, year) order."""
    ordered = list(dict.fromkeys(sorted(pairs, key=lambda p: (str(p[0]), p[1]))))
    if not ordered:
        return []
    measures = await storage.nodes.measures(conn, list({m for m, _ in ordered}))
    # a measure not found: the plan is not imported yet; graded at import
    graded = [(m, y) for m, y in ordered if m in measures]
    if not graded:
        return []
    plans = await storage.tenants.plans_grading(
        conn, list({measures[m]["plan_id"] for m, _ in graded})
    )
    completed = await storage.history.completed_since(conn, list({m for m, _ in graded}))
    results = await _indicator_results(conn, [(measures[m], y) for m, y in graded])
    currents = await storage.grades.grades_for_update(conn, graded)
    writes: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    settled: list[_Settled] = []
    for measure_id, year in graded:
        measure = measures[measure_id]
        plan = plans[measure["plan_id"]]
        completed_since = completed.get(measure_id)
        decision = machine_grade(
            plan.scale,
            results[(measure_id, year)],
            completed=completed_since is not None and year >= completed_since,
            level_label=level_label(plan.level_labels, measure["level"]),
        )
        current = currents[(measure_id, year)]
        if not current["has_row"] and decision.grade is None:
            continue
        old_machine = current["machine_grade"]
        if current["has_row"] and old_machine == decision.grade:
            if current["machine_reason"] != decision.reason:
                await storage.grades.set_machine_reason(conn, measure_id, year, decision.reason)
            continue
        effective = effective_grade(
            current["override_grade"], current["published_grade"], decision.grade
        )
        tenant = measure["tenant"]
        grade, reason = decision.grade, decision.reason
        writes.append((measure_id, year, tenant, grade, reason, effective))
        history.append(
            (measure_id, tenant, year, "machine", old_machine, grade, reason, changed_by)
        )
        settled.append(
            _Settled(
                measure,
                year,
                previous=current["effective_grade"],
                effective=effective,
                machine=grade,
                is_override=current["override_grade"] is not None,
                reason=reason,
            )
        )
    await storage.grades.write_machine_grades(conn, writes)
    await storage.history.add_grade_histories(conn, history)
    return await _announce(conn, settled, plans)


@dataclass(frozen=True)
class _Settled:
    """A (measure, year) whose grade was just written: the effective grade before and now."""

    measure: asyncpg.Record
    year: int
    previous: str | None
    effective: str | None
    machine: str | None
    is_override: bool
    reason: str | None


async def _announce(
    conn: Conn, settled: Sequence[_Settled], plans: Mapping[UUID, storage.tenants.PlanGrading]
) -> list[Envelope[MeasureEvaluated]]:
    """Enqueue and return ``measure.evaluated`` for each settled (measure, year) that has an
    effective grade, in order: a handful of statements however many there are."""
    due = [s for s in settled if s.effective is not None]
    if not due:
        return []
    measure_ids = list(dict.fromkeys(s.measure["id"] for s in due))
    by_year = await storage.grades.effective_grades_of(conn, measure_ids)
    chains = await storage.nodes.owner_chains(conn, measure_ids)
    steps = Counter(s.measure["id"] for s in due)
    versions = await storage.nodes.bump_versions(conn, steps)
    # each event its own version, in order: the first gets the lowest of the measure's new ones
    next_version = {m: versions[m] - n + 1 for m, n in steps.items()}
    events: list[Envelope[MeasureEvaluated]] = []
    for s in due:
        assert s.effective is not None
        measure, plan = s.measure, plans[s.measure["plan_id"]]
        own, ancestors = chains.get(measure["id"], ([], []))
        owners = _owners_for_reporting(own, ancestors, plan.default_owner)
        grade = plan.scale.find(s.effective)
        version = next_version[measure["id"]]
        next_version[measure["id"]] += 1
        events.append(
            _measure_event(
                MeasureEvaluated(
                    measure_id=measure["id"],
                    plan_id=measure["plan_id"],
                    code=measure["code"],
                    title=measure["title"],
                    fiscal_year=s.year,
                    grade=s.effective,
                    grade_label=grade.label if grade else s.effective,
                    machine_grade=s.machine,
                    previous_grade=s.previous,
                    is_override=s.is_override,
                    is_failing=plan.scale.is_failing(s.effective),
                    consecutive_failing_years=consecutive_failing_years(
                        plan.scale, by_year.get(measure["id"], {}), s.year
                    ),
                    reason=s.reason,
                    department_codes=list(owners.codes),
                    level_label=level_label(plan.level_labels, measure["level"]),
                ),
                measure,
                version,
            )
        )
    await outbox.enqueue_many(conn, events)
    return events


async def override_grade(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    fiscal_year: int,
    grade: str | None,
    reason: str | None,
    *,
    now: datetime,
) -> Envelope[MeasureEvaluated] | None:
    """Set (or clear, with ``grade`` None) the human grade of (measure, year) with a reason."""
    check_may_override(actor)
    why = require_reason(reason)
    measure = await storage.nodes.measure_with_period_for_update(conn, measure_id)
    if measure is None or measure["tenant"] != actor.tenant:
        raise NotFound("施策", "Measure", str(measure_id))
    check_override_year(fiscal_year, measure["fy_from"], measure["fy_to"])
    plans = await storage.tenants.plans_grading(conn, [measure["plan_id"]])
    code = plans[measure["plan_id"]].scale.grade(grade).code if grade is not None else None
    current = await storage.grades.grade_for_update(conn, measure_id, fiscal_year)
    previous = current["override_grade"]
    check_override_change(current["has_row"], previous, code)
    effective = effective_grade(code, current["published_grade"], current["machine_grade"])
    await storage.grades.upsert_override(
        conn, measure_id, fiscal_year, measure["tenant"], code, why, actor.subject, now, effective
    )
    await storage.history.add_grade_history(
        conn,
        measure_id=measure_id,
        tenant=measure["tenant"],
        fiscal_year=fiscal_year,
        kind="override",
        previous=previous,
        grade=code,
        reason=why,
        changed_by=actor.subject,
    )
    settled = _Settled(
        measure,
        fiscal_year,
        previous=current["effective_grade"],
        effective=effective,
        machine=current["machine_grade"],
        is_override=code is not None,
        reason=why,
    )
    events = await _announce(conn, [settled], plans)
    return events[0] if events else None


async def settle_published(conn: Conn, pairs: Iterable[tuple[UUID, int]]) -> None:
    """After an import changed published grades: keep ``effective_grade`` in step, silently
    (published grades are history the ward already announced)."""
    for measure_id, year in pairs:
        await storage.grades.resettle_effective(conn, measure_id, year)


# --- milestones ---------------------------------------------------------------------------------


def _milestone_specs(document: Mapping[str, Any]) -> list[MilestoneSpec]:
    specs = []
    for raw in (document.get("plan") or {}).get("milestones") or []:
        milestone = Milestone.model_validate(raw)
        due = milestone.due_date()
        if due is not None:
            specs.append(
                MilestoneSpec(
                    milestone.key,
                    milestone.title,
                    due,
                    tuple(milestone.remind_days),
                    milestone.node,
                )
            )
    return specs


async def sweep_milestones(conn: Conn, now: datetime) -> list[Envelope[PlanMilestoneDue]]:
    """Announce the milestone reminders due on ``now``'s day in Japan (``plan.milestone_due``),
    each (milestone, step) once: the reminder rows and the events are written together."""
    today = now.astimezone(JST).date()
    events: list[Envelope[PlanMilestoneDue]] = []
    for plan in await storage.plans.plans_with_milestones(conn):
        sent = {
            (r["milestone_key"], r["remind_days"], r["due_on"])
            for r in await storage.plans.milestone_reminders_of(conn, plan["id"])
        }
        default_owner = ((plan["document"] or {}).get("plan") or {}).get("default_owner")
        for reminder in reminders_due(_milestone_specs(plan["document"] or {}), sent, today):
            m = reminder.milestone
            event: Envelope[PlanMilestoneDue] | None = None
            if not reminder.skipped:
                node_id = code = label = None
                departments = [default_owner] if default_owner else []
                if m.node_path is not None:
                    node_id = ids.node_id(plan["tenant"], plan["key"], m.node_path)
                    found = await storage.nodes.nodes_by_ids(conn, [node_id])
                    node = found[0] if found else None
                    if node is not None:
                        code = node["code"]
                        departments, label = await _event_context(conn, node_id)
                    else:
                        node_id = None
                event = new_event(
                    PlanMilestoneDue(
                        plan_id=plan["id"],
                        plan_title=plan["title"],
                        milestone_key=m.key,
                        title=m.title,
                        due_on=m.due_on,
                        days_left=reminder.days_left,
                        node_id=node_id,
                        code=code,
                        level_label=label,
                        department_codes=departments,
                    ),
                    tenant=plan["tenant"],
                    aggregate_id=f"{plan['id']}:{m.key}",
                    producer=PRODUCER,
                )
            written = await storage.plans.add_milestone_reminder(
                conn,
                plan["id"],
                m.key,
                reminder.remind_days,
                m.due_on,
                skipped=reminder.skipped,
                event_id=event.event_id if event else None,
                sent_at=now,
            )
            if written and event is not None:
                await outbox.enqueue(conn, event)
                events.append(event)
    return events


# --- progress reports (進捗報告) -----------------------------------------------------------------
# The workflow's rules are in domain/reports.py; every step below runs in the caller's
# transaction, records a transition row and enqueues its event on progress_report.workflow.


@dataclass(frozen=True)
class ReportContent:
    """What the 所管課 writes; ``adherence`` per schedule track of the year, ``evidence`` as
    (url, title)."""

    results: str = ""
    issues: str = ""
    direction: str = ""
    self_grade: str | None = None
    adherence: Sequence[reports.AdherenceEntry] = ()
    evidence: Sequence[tuple[str, str | None]] = ()


@dataclass(frozen=True)
class _ReportTarget:
    measure: asyncpg.Record
    period: reports.ReportPeriod
    answer: ReportingOwners
    """Who answers for the measure (:func:`owners_for_reporting`): reporting rights and the
    events' ``department_codes`` (the measure's own 所管課 lead first)."""

    @property
    def owners(self) -> list[str]:
        return list(self.answer.codes)

    @property
    def level_label(self) -> str:
        return level_label(self.measure["level_labels"], self.measure["level"]) or "施策"


def _lead_first(answer: ReportingOwners, own_lead_first: Sequence[str]) -> ReportingOwners:
    """The measure's own owners in the events' order (lead first, then as printed)."""
    if answer.source is OwnerSource.NODE and own_lead_first:
        return ReportingOwners(tuple(own_lead_first), answer.source)
    return answer


async def _report_target(
    conn: Conn, actor: Principal, measure_id: UUID, period: str
) -> _ReportTarget:
    measure = await storage.reports.measure_for_report(conn, measure_id)
    if measure is None or measure["tenant"] != actor.tenant:
        raise NotFound("施策", "Measure", str(measure_id))
    parsed = reports.parse_period(period)
    reports.check_period_in_plan(parsed, measure["fy_from"], measure["fy_to"])
    leads = await storage.nodes.owner_leads(conn, measure_id)  # printed order
    own = [r["department_code"] for r in sorted(leads, key=lambda r: not r["is_lead"])]
    answer = _lead_first(await owners_for_reporting(conn, measure_id), own)
    return _ReportTarget(measure, parsed, answer)


async def _report_for_step(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    expected_revision: int | None,
    to: ProgressReportState,
    *,
    check: Callable[[_ReportTarget], None] | None = None,
) -> tuple[_ReportTarget, asyncpg.Record]:
    """The report a workflow step moves to ``to``, locked: the caller's ``check`` of the target
    first, then the editor's revision and the step's order."""
    target = await _report_target(conn, actor, measure_id, period)
    if check is not None:
        check(target)
    current = await _current_report(conn, target)
    if expected_revision is not None:
        reports.check_revision(expected_revision, current["revision"])
    reports.check_transition(ProgressReportState(current["state"]), to)
    return target, current


async def _current_report(conn: Conn, target: _ReportTarget) -> asyncpg.Record:
    row = await storage.reports.current_report_for_update(
        conn, target.measure["id"], target.period.text
    )
    if row is None:
        raise NotFound(
            "進捗報告", "Progress report", f"{target.measure['code']} {target.period.text}"
        )
    return row


async def _check_content(
    conn: Conn, target: _ReportTarget, content: ReportContent
) -> list[tuple[str, str | None, str, str | None]]:
    """Validate what the 所管課 wrote; return the adherence rows with the planned labels."""
    for name, text in (
        ("results", content.results),
        ("issues", content.issues),
        ("direction", content.direction),
    ):
        reports.check_text(text, name)
    if content.self_grade is not None:
        scale = await storage.tenants.plan_scale(conn, target.measure["plan_id"])
        scale.grade(content.self_grade)
    schedule = await storage.nodes.schedule_of(conn, [target.measure["id"]])
    tracks = reports.planned_tracks(schedule)
    year = target.period.fiscal_year
    reports.check_adherence(content.adherence, tracks, year)
    for i, (url, _title) in enumerate(content.evidence):
        if not url.strip() or len(url) > 2000:
            raise DomainError(
                "REPORT_INVALID_EVIDENCE",
                "根拠資料のリンク（URL）を1〜2000文字で入力してください",
                "An evidence link needs a URL of 1 to 2000 characters",
                field=f"evidence[{i}].url",
            )
    return [
        (e.track, tracks[e.track].years.get(year), e.adherence.value, e.note)
        for e in content.adherence
    ]


async def _self_grade_code(conn: Conn, plan_id: UUID, grade: str | None) -> str | None:
    if grade is None:
        return None
    scale = await storage.tenants.plan_scale(conn, plan_id)
    return scale.grade(grade).code


async def _transition(
    conn: Conn,
    target: _ReportTarget,
    report: asyncpg.Record,
    event_type: type[ProgressReportTransitioned],
    *,
    to: ProgressReportState,
    actor: Principal,
    now: datetime,
    comment: str | None = None,
    extra: Mapping[str, Any] | None = None,
    set_grade: tuple[str | None, str | None] | None = None,
) -> asyncpg.Record:
    """Move ``report`` to ``to`` (rules already checked): the row, a transition row and the
    event, in the caller's transaction."""
    previous = ProgressReportState(report["state"])
    row = await storage.reports.set_state(
        conn,
        report["id"],
        to.value,
        actor=actor.subject,
        now=now,
        grade=set_grade[0] if set_grade else None,
        grade_reason=set_grade[1] if set_grade else None,
        set_grade=set_grade is not None,
    )
    await storage.reports.add_transition(
        conn,
        row,
        from_state=previous.value,
        to_state=to.value,
        actor=actor.subject,
        comment=comment,
        now=now,
    )
    grade = row["grade"] or row["self_grade"]
    scale = await storage.tenants.plan_scale(conn, target.measure["plan_id"])
    found = scale.find(grade)
    await _enqueue_report_event(
        conn,
        target,
        event_type(
            **_report_event_base(target),
            report_id=row["id"],
            report_version=row["version"],
            from_state=previous,
            to_state=to,
            actor=actor.subject,
            comment=comment,
            grade=grade,
            grade_label=found.label if found else grade,
            **(extra or {}),
        ),
        now,
    )
    return row


def _report_event_base(target: _ReportTarget) -> dict[str, Any]:
    return {
        "measure_id": target.measure["id"],
        "plan_id": target.measure["plan_id"],
        "code": target.measure["code"],
        "title": target.measure["title"],
        "level_label": target.level_label,
        "period": target.period.text,
        "fiscal_year": target.period.fiscal_year,
        "department_codes": target.owners,
    }


async def _enqueue_report_event(
    conn: Conn, target: _ReportTarget, payload: ProgressReportEvent, now: datetime
) -> None:
    event = new_event(
        payload,
        tenant=target.measure["tenant"],
        aggregate_id=f"{target.measure['id']}:{target.period.text}",
        producer=PRODUCER,
        occurred_at=now,
    )
    await outbox.enqueue(conn, event)


async def save_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    content: ReportContent,
    expected_revision: int | None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """Create (``expected_revision`` None) or edit the draft / returned report of a period."""
    target = await _report_target(conn, actor, measure_id, period)
    reports.check_may_report(actor, target.answer, target.level_label)
    current = await storage.reports.current_report_for_update(conn, measure_id, target.period.text)
    if current is None:
        reports.check_new_report(expected_revision)
    else:
        reports.check_editable(ProgressReportState(current["state"]))
        reports.check_revision(expected_revision, current["revision"])
    adherence = await _check_content(conn, target, content)
    self_grade = await _self_grade_code(conn, target.measure["plan_id"], content.self_grade)
    texts = {
        "results": content.results.strip(),
        "issues": content.issues.strip(),
        "direction": content.direction.strip(),
    }
    if current is None:
        row = await storage.reports.insert_report(
            conn,
            report_id=uuid4(),
            measure=target.measure,
            period=target.period.text,
            fiscal_year=target.period.fiscal_year,
            version=1,
            self_grade=self_grade,
            actor=actor.subject,
            now=now,
            **texts,
        )
        await storage.reports.add_transition(
            conn,
            row,
            from_state=None,
            to_state="draft",
            actor=actor.subject,
            comment=None,
            now=now,
        )
    else:
        row = await storage.reports.update_content(
            conn, current["id"], self_grade=self_grade, actor=actor.subject, now=now, **texts
        )
    await storage.reports.replace_adherence(conn, row["id"], adherence)
    await storage.reports.replace_evidence(
        conn, row["id"], [(u.strip(), (t or "").strip() or None) for u, t in content.evidence]
    )
    return row


async def submit_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    expected_revision: int | None = None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 所管課 submits (or resubmits) its report; tracks 遅延/未着手 at or after their
    planned year also emit one ``ScheduleSlipped``."""
    target, current = await _report_for_step(
        conn,
        actor,
        measure_id,
        period,
        expected_revision,
        ProgressReportState.SUBMITTED,
        check=lambda t: reports.check_may_report(actor, t.answer, t.level_label),
    )
    reports.check_results(current["results"])
    row = await _transition(
        conn,
        target,
        current,
        ProgressReportSubmitted,
        to=ProgressReportState.SUBMITTED,
        actor=actor,
        now=now,
    )
    entries = [
        reports.AdherenceEntry(r["track"], ScheduleAdherence(r["adherence"]), r["note"])
        for r in await storage.reports.adherence_of(conn, [row["id"]])
    ]
    tracks = reports.planned_tracks(await storage.nodes.schedule_of(conn, [measure_id]))
    slipped = reports.slipped(entries, tracks, target.period.fiscal_year)
    if slipped:
        await _enqueue_report_event(
            conn,
            target,
            ScheduleSlipped(
                **_report_event_base(target),
                report_id=row["id"],
                report_version=row["version"],
                tracks=slipped,
                reported_by=actor.subject,
            ),
            now,
        )
    return row


async def return_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    comment: str | None,
    expected_revision: int | None = None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 事務局 returns a submitted report to its 所管課 with a comment."""
    reports.check_may_review(actor)
    target, current = await _report_for_step(
        conn, actor, measure_id, period, expected_revision, ProgressReportState.RETURNED
    )
    text = reports.require_comment(comment)
    return await _transition(
        conn,
        target,
        current,
        ProgressReportReturned,
        to=ProgressReportState.RETURNED,
        actor=actor,
        now=now,
        comment=text,
    )


async def accept_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    comment: str | None = None,
    expected_revision: int | None = None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 事務局 accepts a submitted report; it then waits for the 本部."""
    reports.check_may_review(actor)
    target, current = await _report_for_step(
        conn, actor, measure_id, period, expected_revision, ProgressReportState.ACCEPTED
    )
    return await _transition(
        conn,
        target,
        current,
        ProgressReportAccepted,
        to=ProgressReportState.ACCEPTED,
        actor=actor,
        now=now,
        comment=(comment or "").strip() or None,
    )


async def approve_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    grade: str | None = None,
    reason: str | None = None,
    expected_revision: int | None = None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 本部 / CIO approves an accepted report; ``grade`` (with a reason when it differs from
    the self-assessment) overrides the 所管課's grade."""
    reports.check_may_approve(actor)
    target, current = await _report_for_step(
        conn, actor, measure_id, period, expected_revision, ProgressReportState.APPROVED
    )
    code = await _self_grade_code(conn, target.measure["plan_id"], grade)
    why = reports.check_override(current["self_grade"], code, reason)
    final = code if code is not None else current["self_grade"]
    overridden = code is not None and code != current["self_grade"]
    return await _transition(
        conn,
        target,
        current,
        ProgressReportApproved,
        to=ProgressReportState.APPROVED,
        actor=actor,
        now=now,
        comment=why,
        set_grade=(final, why if overridden else None),
        extra={"is_grade_override": overridden, "self_assessed_grade": current["self_grade"]},
    )


async def publish_progress_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    expected_revision: int | None = None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 事務局 or the 本部 publishes an approved report; a published correction supersedes
    the version before it (kept, readable in the history)."""
    reports.check_may_publish(actor)
    target, current = await _report_for_step(
        conn, actor, measure_id, period, expected_revision, ProgressReportState.PUBLISHED
    )
    for older in await storage.reports.published_versions_for_update(
        conn, measure_id, target.period.text
    ):
        superseded = await storage.reports.set_state(
            conn, older["id"], ProgressReportState.SUPERSEDED.value, actor=actor.subject, now=now
        )
        await storage.reports.add_transition(
            conn,
            superseded,
            from_state="published",
            to_state="superseded",
            actor=actor.subject,
            comment=f"第{current['version']}版で訂正",
            now=now,
        )
    return await _transition(
        conn,
        target,
        current,
        ProgressReportPublished,
        to=ProgressReportState.PUBLISHED,
        actor=actor,
        now=now,
    )


async def correct_published_report(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    period: str,
    reason: str | None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """Start a corrected version (draft, a copy of the published one); the published version
    stays public until the correction is published."""
    target = await _report_target(conn, actor, measure_id, period)
    reports.check_may_correct(actor, target.answer, target.level_label)
    why = require_reason(reason)
    current = await _current_report(conn, target)
    if current["state"] != ProgressReportState.PUBLISHED:
        raise DomainError(
            "REPORT_NOT_PUBLISHED",
            "訂正版を作成できるのは公表済みの進捗報告のみです",
            "Only a published progress report can be corrected",
        )
    row = await storage.reports.insert_report(
        conn,
        report_id=uuid4(),
        measure=target.measure,
        period=target.period.text,
        fiscal_year=target.period.fiscal_year,
        version=current["version"] + 1,
        results=current["results"],
        issues=current["issues"],
        direction=current["direction"],
        self_grade=current["self_grade"],
        actor=actor.subject,
        now=now,
    )
    await storage.reports.copy_details(conn, current["id"], row["id"])
    await storage.reports.add_transition(
        conn, row, from_state=None, to_state="draft", actor=actor.subject, comment=why, now=now
    )
    return row


async def set_report_deadline(
    conn: Conn,
    actor: Principal,
    period: str,
    due_on: date,
    reminder_days: Sequence[int] | None,
    *,
    now: datetime,
) -> asyncpg.Record:
    """The 事務局 sets (or moves) the due date of a period's reports for its ward."""
    reports.check_may_set_deadline(actor)
    assert actor.tenant is not None
    parsed = reports.parse_period(period)
    days = reports.check_reminder_days(
        list(reminder_days) if reminder_days is not None else list(reports.DEFAULT_REMINDER_DAYS)
    )
    return await storage.reports.upsert_deadline(
        conn, actor.tenant, parsed.text, due_on, days, actor.subject, now
    )


async def sweep_report_deadline(conn: Conn, deadline: Mapping[str, Any], now: datetime) -> int:
    """Signal one ward's period: a ``ProgressReportDueSoon`` at each reminder step and one
    ``ProgressReportOverdue`` once the date passed, per measure without a submitted report;
    each (measure, period, step, due date) exactly once. Returns the events enqueued."""
    today = now.astimezone(JST).date()
    reached, announce = reports.due_steps(deadline["due_on"], deadline["reminder_days"], today)
    if announce is None:
        return 0
    period = reports.parse_period(deadline["period"])
    measures = await storage.reports.unsubmitted_measures(conn, deadline["tenant"], period.text)
    if not measures:
        return 0
    for step in reached:
        if step != announce:
            await storage.reports.claim_signals(
                conn,
                [
                    (m["id"], period.text, step.step, deadline["due_on"], m["tenant"])
                    for m in measures
                ],
                now,
            )
    fresh = await storage.reports.claim_signals(
        conn,
        [(m["id"], period.text, announce.step, deadline["due_on"], m["tenant"]) for m in measures],
        now,
    )
    contexts = await storage.nodes.ownership_contexts(
        conn, [m["id"] for m in measures if m["id"] in fresh]
    )
    count = 0
    for m in measures:
        if m["id"] not in fresh:
            continue
        ctx = contexts[m["id"]]
        answer = _owners_for_reporting(ctx.own, ctx.ancestors, ctx.default_owner)
        target = _ReportTarget(m, period, _lead_first(answer, list(m["owners"])))
        payload: ProgressReportEvent
        if announce.step == "overdue":
            payload = ProgressReportOverdue(
                **_report_event_base(target), due_on=deadline["due_on"], days_overdue=announce.days
            )
        else:
            payload = ProgressReportDueSoon(
                **_report_event_base(target), due_on=deadline["due_on"], days_left=announce.days
            )
        await _enqueue_report_event(conn, target, payload, now)
        count += 1
    return count
