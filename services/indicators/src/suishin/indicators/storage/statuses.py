"""SQL of evaluated statuses: the current status per indicator and fiscal year, and the history
of announced changes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import IndicatorStatus
from suishin.indicators.domain.evaluation import Evaluation


@dataclass(frozen=True)
class StoredStatus:
    status: IndicatorStatus
    rule: str
    reason: str
    figures: dict[str, Any]

    def same_as(self, evaluation: Evaluation) -> bool:
        return (
            self.status == evaluation.status
            and self.rule == evaluation.rule
            and self.reason == evaluation.reason
            and self.figures == evaluation.figures.to_json()
        )


async def load_statuses(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[tuple[UUID, int], StoredStatus]:
    rows = await conn.fetch(
        """select indicator_id, fiscal_year, status, rule, reason, figures
           from indicator_status where indicator_id = any($1::uuid[])""",
        list(indicator_ids),
    )
    return {
        (r["indicator_id"], r["fiscal_year"]): StoredStatus(
            IndicatorStatus(r["status"]), r["rule"], r["reason"], r["figures"]
        )
        for r in rows
    }


async def write_statuses(
    conn: asyncpg.Connection, rows: Sequence[tuple[UUID, Evaluation]], evaluated_at: datetime
) -> None:
    if not rows:
        return
    await conn.execute(
        """insert into indicator_status (indicator_id, fiscal_year, status, rule, reason, figures,
               evaluated_at, changed_at)
           select i, f, s, r, re, fg::jsonb, $7, $7
           from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
                as t(i, f, s, r, re, fg)
           on conflict (indicator_id, fiscal_year) do update
           set status = excluded.status, rule = excluded.rule, reason = excluded.reason,
               figures = excluded.figures, evaluated_at = excluded.evaluated_at,
               changed_at = case when indicator_status.status = excluded.status
                                 then indicator_status.changed_at
                                 else excluded.changed_at end""",
        [i for i, _ in rows],
        [e.fiscal_year for _, e in rows],
        [e.status.value for _, e in rows],
        [e.rule for _, e in rows],
        [e.reason for _, e in rows],
        [json.dumps(e.figures.to_json(), ensure_ascii=False) for _, e in rows],
        evaluated_at,
    )


async def record_status_changes(
    conn: asyncpg.Connection,
    changes: Sequence[tuple[UUID, Evaluation, IndicatorStatus | None, UUID]],
    versions: Mapping[UUID, int],
) -> None:
    """History rows for announced changes and the indicators' new aggregate versions."""
    if not changes:
        return
    await conn.execute(
        """insert into status_history (indicator_id, fiscal_year, from_status, to_status, rule,
               reason, figures, event_id)
           select i, f, fs, ts, r, re, fg::jsonb, e
           from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::uuid[]) as t(i, f, fs, ts, r, re, fg, e)""",
        [c[0] for c in changes],
        [c[1].fiscal_year for c in changes],
        [c[2].value if c[2] else None for c in changes],
        [c[1].status.value for c in changes],
        [c[1].rule for c in changes],
        [c[1].reason for c in changes],
        [json.dumps(c[1].figures.to_json(), ensure_ascii=False) for c in changes],
        [c[3] for c in changes],
    )
    await conn.execute(
        """update indicators i set status_version = v.version
           from unnest($1::uuid[], $2::bigint[]) as v(id, version) where i.id = v.id""",
        list(versions),
        list(versions.values()),
    )


async def status_rows(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, dict[int, asyncpg.Record]]:
    """Whole status rows of each indicator by fiscal year."""
    rows = await conn.fetch(
        """select * from indicator_status where indicator_id = any($1::uuid[])
           order by indicator_id, fiscal_year""",
        list(indicator_ids),
    )
    out: dict[UUID, dict[int, asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], {})[r["fiscal_year"]] = r
    return out


async def status_row(
    conn: asyncpg.Connection, indicator_id: UUID, fiscal_year: int
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "select * from indicator_status where indicator_id = $1 and fiscal_year = $2",
        indicator_id,
        fiscal_year,
    )
    return row


async def change_history(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[asyncpg.Record]]:
    """Every announced change of each indicator, oldest first."""
    rows = await conn.fetch(
        """select * from status_history where indicator_id = any($1::uuid[])
           order by indicator_id, changed_at, id""",
        list(indicator_ids),
    )
    out: dict[UUID, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(r)
    return out
