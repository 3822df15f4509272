"""Recompute statuses after a change and announce the ones that changed (in the caller's
transaction, through the outbox)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope, IndicatorStatusChanged, new_event
from suishin.indicators import storage
from suishin.indicators.evaluation import Evaluation, evaluate, years_to_evaluate
from suishin.indicators.storage import IndicatorRecord
from suishin.kit.outbox import enqueue_many

PRODUCER = "indicators"


@dataclass(frozen=True)
class StatusChange:
    indicator: IndicatorRecord
    evaluation: Evaluation
    from_status: IndicatorStatus | None
    event: Envelope[IndicatorStatusChanged]


async def reevaluate(
    conn: asyncpg.Connection,
    indicators: Mapping[UUID, IndicatorRecord],
    now: datetime,
    *,
    from_fiscal_year: Mapping[UUID, int] | None = None,
) -> list[StatusChange]:
    """Evaluate the plan years of ``indicators`` that have started by ``now`` (from
    ``from_fiscal_year`` on, per indicator, when given), store what changed and enqueue
    ``indicator.status_changed`` for every status that changed.

    The caller holds the indicators' row locks (``load_indicators(..., lock=True)``), so two
    transactions never announce the same change twice. A first evaluation that finds no data
    is stored but not announced: "nothing reported yet" is not news.
    """
    if not indicators:
        return []
    ids = list(indicators)
    observations = await storage.current_observations(conn, ids)
    stored = await storage.load_statuses(conn, ids)
    to_write: list[tuple[UUID, Evaluation]] = []
    changed: list[tuple[IndicatorRecord, Evaluation, IndicatorStatus | None]] = []
    for indicator_id, record in indicators.items():
        start = from_fiscal_year.get(indicator_id) if from_fiscal_year else None
        obs = observations.get(indicator_id, [])
        for fy in years_to_evaluate(record.spec, now, from_fy=start):
            evaluation = evaluate(record.spec, fy, obs, now)
            previous = stored.get((indicator_id, fy))
            if previous is not None and previous.same_as(evaluation):
                continue
            to_write.append((indicator_id, evaluation))
            before = previous.status if previous is not None else None
            if before == evaluation.status:
                continue
            if before is None and evaluation.status is IndicatorStatus.NO_DATA:
                continue
            changed.append((record, evaluation, before))
    await storage.write_statuses(conn, to_write, now)
    if not changed:
        return []
    links = await storage.load_links(conn, list({r.id for r, _, _ in changed}))
    versions: dict[UUID, int] = {}
    changes: list[StatusChange] = []
    for record, evaluation, before in changed:
        version = versions.get(record.id, record.status_version) + 1
        versions[record.id] = version
        link = links.get(record.id, storage.Links([], []))
        payload = IndicatorStatusChanged(
            indicator_id=record.id,
            indicator_key=record.key,
            title=record.spec.title,
            period=evaluation.period,
            fiscal_year=evaluation.fiscal_year,
            from_status=before,
            to_status=evaluation.status,
            figures=evaluation.figures.to_event(),
            rule=evaluation.rule,
            reason=evaluation.reason,
            measure_ids=link.node_ids,
            department_codes=list(record.owner_departments),
            plan_ids=link.plan_ids or ([record.plan_id] if record.plan_id else []),
        )
        event = new_event(
            payload,
            tenant=record.tenant,
            aggregate_id=str(record.id),
            producer=PRODUCER,
            aggregate_version=version,
        )
        changes.append(StatusChange(record, evaluation, before, event))
    await storage.record_status_changes(
        conn,
        [(c.indicator.id, c.evaluation, c.from_status, c.event.event_id) for c in changes],
        versions,
    )
    await enqueue_many(conn, [c.event for c in changes])
    return changes
