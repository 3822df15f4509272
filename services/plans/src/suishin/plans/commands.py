"""State changes requested by people (GraphQL mutations): lifecycle, edits, plan states.

Each function runs inside the caller's transaction, checks the rules first and raises a
:class:`DomainError` before writing anything, records history, and enqueues the events other
services care about in the same transaction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import MeasureStatus
from suishin.contracts.events import Envelope, MeasureStatusChanged, new_event
from suishin.kit import outbox
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, NotFound
from suishin.plans import storage
from suishin.plans.domain.lifecycle import check_may_edit, check_may_manage_plans, check_transition
from suishin.plans.domain.tree import PlanState, require_reason
from suishin.plans.storage import Conn

PRODUCER = "plans"


async def _measure_for_update(conn: Conn, actor: Principal, measure_id: UUID) -> asyncpg.Record:
    measure = await storage.node_for_update(conn, measure_id)
    if measure is None or measure["kind"] != "measure" or measure["tenant"] != actor.tenant:
        raise NotFound("施策", "Measure", str(measure_id))
    if measure["plan_state"] == PlanState.SUPERSEDED:
        raise DomainError(
            "PLAN_SUPERSEDED",
            "改訂済み（superseded）の計画の施策は変更できません",
            "Measures of a superseded plan cannot be changed",
        )
    return measure


async def _owner_codes(conn: Conn, node_id: UUID) -> list[str]:
    rows = await conn.fetch(
        "select department_code from node_owners where node_id = $1 order by position", node_id
    )
    return [r["department_code"] for r in rows]


async def change_measure_status(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    to: MeasureStatus,
    reason: str | None,
) -> Envelope[MeasureStatusChanged]:
    """Move a measure to ``to`` if the lifecycle and the actor's rights allow it."""
    measure = await _measure_for_update(conn, actor, measure_id)
    owners = await _owner_codes(conn, measure_id)
    check_may_edit(actor, owners)
    current = MeasureStatus(measure["status"]) if measure["status"] else None
    check_transition(current, to, actor=actor)
    why = require_reason(reason)
    return await apply_status(
        conn,
        measure,
        current,
        to,
        changed_by=actor.subject,
        reason=why,
        source="api",
        departments=owners,
    )


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
    """Write the status change, its history row and its event (rules already checked)."""
    await conn.execute(
        "update nodes set status = $2, updated_at = now() where id = $1", measure["id"], to.value
    )
    await storage.add_history(
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
    version = await storage.bump_version(conn, measure["id"])
    event = new_event(
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
        ),
        tenant=measure["tenant"],
        aggregate_id=str(measure["id"]),
        aggregate_version=version,
        producer=PRODUCER,
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
    owners_before = await conn.fetch(
        """select department_code, is_lead from node_owners where node_id = $1
           order by position""",
        measure_id,
    )
    check_may_edit(actor, [r["department_code"] for r in owners_before])
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
            await conn.execute("delete from node_owners where node_id = $1", measure_id)
            await conn.executemany(
                """insert into node_owners (node_id, tenant, department_code, is_lead, position)
                   values ($1, $2, $3, $4, $5)""",
                [
                    (measure_id, measure["tenant"], o.department_code, o.is_lead, i)
                    for i, o in enumerate(new_owners)
                ],
            )
        else:
            await conn.execute(
                f"update nodes set {field_name} = $2, updated_at = now() where id = $1",
                measure_id,
                after_value,
            )
        await storage.add_history(
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
    known = await storage.department_codes(conn, tenant, [o.department_code for o in owners])
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
    document = await conn.fetchval("select document from plans where id = $1", plan_id)
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
    row = await conn.fetchrow("select * from plans where id = $1 for update", plan_id)
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
    await conn.execute(
        """insert into plan_history (plan_id, tenant, field, previous, value, changed_by, reason,
                                     source)
           values ($1, $2, $3, $4, $5, $6, $7, $8)""",
        plan["id"],
        plan["tenant"],
        field,
        previous,
        value,
        changed_by,
        reason,
        source,
    )


async def publish_plan(conn: Conn, actor: Principal, plan_id: UUID, reason: str | None) -> None:
    plan = await _plan_for_update(conn, actor, plan_id)
    if plan["state"] != PlanState.DRAFT:
        raise DomainError(
            "INVALID_PLAN_STATE",
            f"公開できるのは下書きの計画のみです（現在: {plan['state']}）",
            f"Only a draft plan can be published (it is {plan['state']})",
        )
    why = (reason or "").strip() or "公開"
    await conn.execute(
        """update plans set state = 'published', published_at = now(), updated_at = now()
           where id = $1""",
        plan_id,
    )
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
        successor = await conn.fetchrow(
            "select id, tenant, state from plans where id = $1", by_plan_id
        )
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
    await conn.execute(
        """update plans set state = 'superseded', superseded_at = now(), superseded_by = $2,
               updated_at = now()
           where id = $1""",
        plan_id,
        by_plan_id,
    )
    await _plan_history(
        conn,
        plan,
        "state",
        plan["state"],
        {"state": "superseded", "by": str(by_plan_id) if by_plan_id else None},
        actor.subject,
        why,
    )
