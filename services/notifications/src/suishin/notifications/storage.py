"""Reads and writes behind the GraphQL subgraph (inbox, acknowledgement, preferences,
subscriptions, rules, silences, delivery log). Every query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from suishin.kit.errors import DomainError, NotFound


async def inbox_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant: str,
    recipient: str,
    *,
    first: int,
    after: tuple[datetime, UUID] | None,
    unread_only: bool,
) -> tuple[list[dict[str, Any]], bool, int]:
    """Newest first, keyset-paginated after the (created_at, id) position ``after``; (rows,
    has_next_page, total_count)."""
    position = after
    rows = await conn.fetch(
        """select * from notifications
           where tenant = $1 and recipient_id = $2 and (not $3 or read_at is null)
             and ($4::timestamptz is null or (created_at, id) < ($4, $5::uuid))
           order by created_at desc, id desc limit $6""",
        tenant,
        recipient,
        unread_only,
        position[0] if position else None,
        position[1] if position else None,
        first + 1,
    )
    total = await conn.fetchval(
        """select count(*) from notifications where tenant = $1 and recipient_id = $2
           and (not $3 or read_at is null)""",
        tenant,
        recipient,
        unread_only,
    )
    return [dict(r) for r in rows[:first]], len(rows) > first, int(total)


async def unread_count(conn: asyncpg.Connection | asyncpg.Pool, tenant: str, recipient: str) -> int:
    return int(
        await conn.fetchval(
            """select count(*) from notifications
               where tenant = $1 and recipient_id = $2 and read_at is null""",
            tenant,
            recipient,
        )
    )


async def notification(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, ident: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "select * from notifications where tenant = $1 and id = $2", tenant, ident
    )
    return dict(row) if row else None


async def notifications_by_ids(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select * from notifications where tenant = $1 and id = any($2::uuid[])", tenant, list(ids)
    )
    return [dict(r) for r in rows]


async def acknowledge(
    pool: asyncpg.Pool, tenant: str, recipient: str, ident: UUID, comment: str | None, now: datetime
) -> dict[str, Any]:
    """Acknowledge one's own notification; its alert stops escalating."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """select * from notifications where tenant = $1 and id = $2 and recipient_id = $3
               for update""",
            tenant,
            ident,
            recipient,
        )
        if row is None:
            raise NotFound("通知", "Notification", str(ident))
        if row["acknowledged_at"] is not None:
            raise DomainError(
                "ALREADY_ACKNOWLEDGED",
                "この通知は既に対応済みです",
                "This notification is already acknowledged",
                field="notificationId",
            )
        updated = await conn.fetchrow(
            """update notifications set acknowledged_at = $2, ack_comment = $3,
                   read_at = coalesce(read_at, $2)
               where id = $1 returning *""",
            ident,
            now,
            comment,
        )
        if row["alert_id"] is not None:
            await conn.execute(
                """update alerts set state = 'acknowledged', acknowledged_at = $2,
                       acknowledged_by = $3, ack_comment = $4, escalate_at = null
                   where id = $1 and state = 'open'""",
                row["alert_id"],
                now,
                recipient,
                comment,
            )
        return dict(updated)


async def mark_read(
    pool: asyncpg.Pool, tenant: str, recipient: str, ids: Sequence[UUID] | None, now: datetime
) -> list[dict[str, Any]]:
    """Mark the given notifications (or all when ``ids`` is None) read."""
    rows = await pool.fetch(
        """update notifications set read_at = coalesce(read_at, $4)
           where tenant = $1 and recipient_id = $2
             and ($3::uuid[] is null or id = any($3::uuid[]))
             and ($3::uuid[] is not null or read_at is null)
           returning *""",
        tenant,
        recipient,
        list(ids) if ids is not None else None,
        now,
    )
    return [dict(r) for r in rows]


async def deliveries_for(
    conn: asyncpg.Connection | asyncpg.Pool, notification_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    """Deliveries of the notifications, including the group or digest e-mail that carried them."""
    rows = await conn.fetch(
        """select d.*, coalesce(d.notification_id, x.notification_id) as for_notification
           from deliveries d
           left join deliveries x on x.group_id = d.id
           where d.notification_id = any($1::uuid[]) or x.notification_id = any($1::uuid[])
           order by d.created_at, d.id""",
        list(notification_ids),
    )
    return [dict(r) for r in rows]


async def attempts_for(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select * from delivery_attempts where delivery_id = any($1::uuid[])
           order by delivery_id, attempt, id""",
        list(delivery_ids),
    )
    return [dict(r) for r in rows]


async def preferences(pool: asyncpg.Pool, tenant: str, person: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        """select p.language as person_language, pr.* from people p
           left join preferences pr on pr.tenant = p.tenant and pr.person_id = p.id
           where p.tenant = $1 and p.id = $2""",
        tenant,
        person,
    )
    if row is None:
        return {"known": False}
    return {"known": True, **dict(row)}


async def update_preferences(
    pool: asyncpg.Pool, tenant: str, person: str, changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        exists = await conn.fetchval(
            "select 1 from people where tenant = $1 and id = $2", tenant, person
        )
        if not exists:
            raise DomainError(
                "UNKNOWN_PERSON",
                "通知先の名簿に登録されていません（事務局に登録を依頼してください）",
                "You are not in the notification directory; ask the secretariat to add you",
            )
        await conn.execute(
            """insert into preferences (tenant, person_id) values ($1, $2)
               on conflict do nothing""",
            tenant,
            person,
        )
        await conn.execute(
            """update preferences set
                   email_enabled = coalesce($3, email_enabled),
                   cadence = coalesce($4, cadence),
                   muted_kinds = coalesce($5, muted_kinds),
                   respect_quiet_hours = coalesce($6, respect_quiet_hours),
                   language = coalesce($7, language),
                   updated_at = $8, updated_by_user = true
               where tenant = $1 and person_id = $2""",
            tenant,
            person,
            changes.get("email_enabled"),
            changes.get("cadence"),
            changes.get("muted_kinds"),
            changes.get("respect_quiet_hours"),
            changes.get("language"),
            now,
        )
    return await preferences(pool, tenant, person)


async def subscriptions(pool: asyncpg.Pool, tenant: str, person: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from subscriptions where tenant = $1 and person_id = $2
           order by created_at, id""",
        tenant,
        person,
    )
    return [dict(r) for r in rows]


async def create_subscription(
    pool: asyncpg.Pool, tenant: str, person: str, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = await pool.fetchrow(
        """insert into subscriptions (id, tenant, person_id, event_types, plan_id,
               department_code, min_severity, source, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, 'user', $8) returning *""",
        uuid4(),
        tenant,
        person,
        values["event_types"],
        values.get("plan_id"),
        values.get("department_code"),
        values["min_severity"],
        now,
    )
    return dict(row)


async def delete_subscription(pool: asyncpg.Pool, tenant: str, person: str, ident: UUID) -> bool:
    status = await pool.execute(
        "delete from subscriptions where tenant = $1 and person_id = $2 and id = $3",
        tenant,
        person,
        ident,
    )
    return status.endswith(" 1")


async def directory_codes(pool: asyncpg.Pool, tenant: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, sql in (
        ("department", "select code from departments where tenant = $1"),
        ("post", "select code from posts where tenant = $1"),
        ("body", "select code from bodies where tenant = $1"),
        ("person", "select id as code from people where tenant = $1"),
        ("webhook", "select id as code from webhooks where tenant = $1"),
    ):
        out[kind] = {r["code"] for r in await pool.fetch(sql, tenant)}
    return out


async def rules(pool: asyncpg.Pool, tenant: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "select * from routing_rules where tenant = $1 order by created_at, name", tenant
    )
    return [dict(r) for r in rows]


async def create_rule(
    pool: asyncpg.Pool, tenant: str, values: dict[str, Any], created_by: str, now: datetime
) -> dict[str, Any]:
    row = await pool.fetchrow(
        """insert into routing_rules (id, tenant, name, event_types, kinds, plan_ids,
               department_codes, min_severity, targets, webhook_ids, escalate, enabled, source,
               created_by, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, 'user', $12, $13)
           returning *""",
        uuid4(),
        tenant,
        values["name"],
        values["event_types"],
        values["kinds"],
        values["plan_ids"],
        values["department_codes"],
        values["min_severity"],
        values["targets"],
        values["webhook_ids"],
        values["escalate"],
        created_by,
        now,
    )
    return dict(row)


async def set_rule_enabled(
    pool: asyncpg.Pool, tenant: str, ident: UUID, enabled: bool
) -> dict[str, Any]:
    row = await pool.fetchrow(
        "update routing_rules set enabled = $3 where tenant = $1 and id = $2 returning *",
        tenant,
        ident,
        enabled,
    )
    if row is None:
        raise NotFound("ルーティングルール", "Routing rule", str(ident))
    return dict(row)


async def silences(
    pool: asyncpg.Pool, tenant: str, now: datetime, include_expired: bool
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from silences where tenant = $1 and ($3 or expires_at > $2)
           order by expires_at desc, id""",
        tenant,
        now,
        include_expired,
    )
    return [dict(r) for r in rows]


async def create_silence(
    pool: asyncpg.Pool, tenant: str, values: dict[str, Any], created_by: str, now: datetime
) -> dict[str, Any]:
    row = await pool.fetchrow(
        """insert into silences (id, tenant, kinds, subject, department_code, recipient_id,
               reason, created_by, starts_at, expires_at, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning *""",
        uuid4(),
        tenant,
        values["kinds"],
        values.get("subject"),
        values.get("department_code"),
        values.get("recipient_id"),
        values["reason"],
        created_by,
        values["starts_at"],
        values["expires_at"],
        now,
    )
    return dict(row)


async def expire_silence(
    pool: asyncpg.Pool, tenant: str, ident: UUID, now: datetime
) -> dict[str, Any]:
    row = await pool.fetchrow(
        """update silences set expires_at = greatest(starts_at + interval '1 microsecond', $3)
           where tenant = $1 and id = $2 returning *""",
        tenant,
        ident,
        now,
    )
    if row is None:
        raise NotFound("サイレンス", "Silence", str(ident))
    return dict(row)


async def routing_outcomes(
    pool: asyncpg.Pool, tenant: str, first: int, outcome: str | None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from routing_outcomes where tenant = $1 and ($2::text is null or outcome = $2)
           order by created_at desc, id desc limit $3""",
        tenant,
        outcome,
        first,
    )
    return [dict(r) for r in rows]
