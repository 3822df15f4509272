"""The tenant directory: the import of a directory file, the codes the API checks against,
the routing snapshot of several tenants (one query per table, or from a replica's cache checked
with one query), and the people and webhooks the dispatcher sends to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from suishin.notifications.domain.directory import Directory, rule_id, subscription_id
from suishin.notifications.domain.recipients import TenantSnapshot, snapshot
from suishin.notifications.domain.shaping import DigestSchedule

PERSON_SQL = """
    select p.tenant, p.id, p.name, p.email, coalesce(pr.language, p.language) as language,
           p.active, coalesce(pr.email_enabled, true) as email_enabled,
           coalesce(pr.cadence, 'immediate') as cadence,
           coalesce(pr.muted_kinds, '{}') as muted_kinds,
           coalesce(pr.respect_quiet_hours, true) as respect_quiet_hours
    from people p left join preferences pr on pr.tenant = p.tenant and pr.person_id = p.id
"""
"""People with their preferences (the defaults where they have none)."""


async def replace(conn: asyncpg.Connection, d: Directory, secrets: Mapping[str, str]) -> None:
    """Replace the tenant's directory with ``d`` (in the caller's transaction); ``secrets``
    holds each webhook's signing secret."""
    t = d.tenant
    await conn.execute(
        """insert into tenants (tenant, name, settings, escalation) values ($1, $2, $3, $4)
           on conflict (tenant) do update set name = excluded.name,
               settings = excluded.settings, escalation = excluded.escalation,
               imported_at = now()""",
        t,
        d.name,
        {
            **d.digest.model_dump(exclude_none=True),
            "year_style": d.year_style,
            "default_owner": [o.model_dump(exclude_none=True) for o in d.default_owner],
        },
        [e.model_dump(exclude_none=True) for e in d.escalation],
    )
    for table in ("assignments", "departments", "bodies", "posts", "webhooks"):
        await conn.execute(f"delete from {table} where tenant = $1", t)
    await conn.executemany(
        "insert into departments (tenant, code, name, bu, aliases) values ($1, $2, $3, $4, $5)",
        [(t, x.code, x.name, x.bu, x.aliases) for x in d.departments],
    )
    await conn.executemany(
        "insert into bodies (tenant, code, name) values ($1, $2, $3)",
        [(t, x.code, x.name) for x in d.bodies],
    )
    await conn.executemany(
        "insert into posts (tenant, code, name) values ($1, $2, $3)",
        [(t, x.code, x.name) for x in d.posts],
    )
    listed = [p.id for p in d.people]
    # People who left the directory stay (their inbox is history) but are inactive.
    await conn.execute(
        "update people set active = false where tenant = $1 and id <> all($2::text[])",
        t,
        listed,
    )
    await conn.executemany(
        """insert into people (tenant, id, name, email, language, active)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant, id) do update set name = excluded.name,
               email = excluded.email, language = excluded.language,
               active = excluded.active""",
        [(t, p.id, p.name, p.email, p.language, p.active) for p in d.people],
    )
    await conn.executemany(
        """insert into assignments (tenant, person_id, department_code, post_code, body_code,
               title, valid_from, valid_to) values ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (t, p.id, a.department, a.post, a.body, a.title, a.valid_from, a.valid_to)
            for p in d.people
            for a in p.assignments
        ],
    )
    await conn.executemany(
        """insert into preferences (tenant, person_id, email_enabled, cadence, muted_kinds,
               respect_quiet_hours) values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant, person_id) do update set
               email_enabled = excluded.email_enabled, cadence = excluded.cadence,
               muted_kinds = excluded.muted_kinds,
               respect_quiet_hours = excluded.respect_quiet_hours
           where not preferences.updated_by_user""",
        [
            (
                t,
                p.id,
                p.preferences.email,
                p.preferences.cadence.value,
                p.preferences.muted_kinds,
                p.preferences.respect_quiet_hours,
            )
            for p in d.people
        ],
    )
    await conn.execute("delete from subscriptions where tenant = $1 and source = 'directory'", t)
    await conn.executemany(
        """insert into subscriptions (id, tenant, person_id, event_types, plan_id,
               department_code, min_severity, source)
           values ($1, $2, $3, $4, $5, $6, $7, 'directory')""",
        [
            (
                subscription_id(t, p.id, i),
                t,
                p.id,
                s.event_types,
                s.plan_id,
                s.department,
                s.min_severity.value,
            )
            for p in d.people
            for i, s in enumerate(p.subscriptions)
        ],
    )
    await conn.executemany(
        """insert into webhooks (tenant, id, url, format, secret, enabled)
           values ($1, $2, $3, $4, $5, $6)""",
        [(t, w.id, w.url, w.format, secrets[w.id], w.enabled) for w in d.webhooks],
    )
    await conn.execute("delete from routing_rules where tenant = $1 and source = 'directory'", t)
    await conn.executemany(
        """insert into routing_rules (id, tenant, name, event_types, kinds, plan_ids,
               department_codes, min_severity, targets, webhook_ids, escalate, enabled,
               source, created_by)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'directory',
                   'directory-import')""",
        [
            (
                rule_id(t, r.name),
                t,
                r.name,
                r.event_types,
                r.kinds,
                r.plan_ids,
                r.departments,
                r.min_severity.value,
                [x.model_dump(exclude_none=True) for x in r.targets],
                r.webhooks,
                r.escalate,
                r.enabled,
            )
            for r in d.rules
        ],
    )


async def codes(conn: asyncpg.Connection, tenant: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kind, sql in (
        ("department", "select code from departments where tenant = $1"),
        ("post", "select code from posts where tenant = $1"),
        ("body", "select code from bodies where tenant = $1"),
        ("person", "select id as code from people where tenant = $1"),
        ("webhook", "select id as code from webhooks where tenant = $1"),
    ):
        out[kind] = {r["code"] for r in await conn.fetch(sql, tenant)}
    return out


async def snapshot_rows(
    conn: asyncpg.Connection, tenants: Iterable[str], now: datetime
) -> dict[str, dict[str, list[Any]]]:
    """What routing needs about these tenants, by tenant and table, with one query per table
    (not per tenant): tenants, departments, enabled rules, subscriptions, silences in force or
    to come, webhooks, people (with preferences) and assignments."""
    names = sorted(set(tenants))
    by_tenant: dict[str, dict[str, list[Any]]] = {t: {} for t in names}
    if not names:
        return by_tenant

    async def load(table: str, sql: str, *args: Any) -> None:
        for r in await conn.fetch(sql, names, *args):
            by_tenant[r["tenant"]].setdefault(table, []).append(r)

    await load("tenants", "select * from tenants where tenant = any($1::text[])")
    await load(
        "departments",
        "select tenant, code, name, aliases from departments where tenant = any($1::text[])",
    )
    await load(
        "rules",
        """select * from routing_rules where tenant = any($1::text[]) and enabled
           order by created_at, name""",
    )
    await load("subscriptions", "select * from subscriptions where tenant = any($1::text[])")
    await load(
        "silences",
        "select * from silences where tenant = any($1::text[]) and expires_at > $2",
        now,
    )
    await load("webhooks", "select * from webhooks where tenant = any($1::text[])")
    await load("people", PERSON_SQL + " where p.tenant = any($1::text[]) order by p.id")
    await load(
        "assignments",
        """select tenant, person_id, department_code, post_code, body_code, valid_from, valid_to
           from assignments where tenant = any($1::text[]) order by id""",
    )
    return by_tenant


async def addressee(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, person: str
) -> asyncpg.Record | None:
    """Name and language of a person an e-mail goes to."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """select p.name, coalesce(pr.language, p.language) as language from people p
           left join preferences pr on pr.tenant = p.tenant and pr.person_id = p.id
           where p.tenant = $1 and p.id = $2""",
        tenant,
        person,
    )
    return row


async def webhook(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, ident: str
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "select * from webhooks where tenant = $1 and id = $2", tenant, ident
    )
    return row


async def snapshots(
    conn: asyncpg.Connection,
    tenants: Iterable[str],
    now: datetime,
    default_digest: DigestSchedule,
) -> dict[str, TenantSnapshot]:
    """The routing snapshots of several tenants, with one query per table (not per tenant)."""
    rows = await snapshot_rows(conn, tenants, now)
    return {t: snapshot(t, rows[t], default_digest) for t in rows}


async def versions(conn: asyncpg.Connection, tenants: Iterable[str]) -> dict[str, int]:
    """The routing version of each of these tenants that has one (migration 004: a new one
    with every committed change to what :func:`snapshot_rows` reads)."""
    rows = await conn.fetch(
        "select tenant, version from routing_versions where tenant = any($1::text[])",
        list(tenants),
    )
    return {r["tenant"]: r["version"] for r in rows}


@dataclass(frozen=True)
class _Cached:
    version: int
    loaded: float
    now: datetime
    snapshot: TenantSnapshot


class SnapshotCache:
    """The routing snapshots of the tenants a replica has routed for, kept between batches.

    :meth:`snapshots` reads the tenants' versions (one query) and loads, with
    :func:`snapshot_rows`, only the tenants whose version differs from the cached one (or that
    have none, or whose snapshot is older than ``max_age`` seconds, or was loaded for a later
    ``now``: its silences are those not expired then). A change to a tenant's
    directory, rules, subscriptions, silences, webhooks or preferences, by this replica or any
    other, commits a new version with it (triggers of migration 004), so a batch whose version
    query starts after the commit routes with the changed data. The version is read before the
    rows: a change committed while they load makes the cached entry older than the data it
    holds, never newer, and the next batch loads it again. Silences and assignments are checked
    against the time and day at use (``silence_applies``, ``AssignmentView.holds``), so a
    snapshot stays valid as time passes."""

    def __init__(self, max_age: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[tuple[str, DigestSchedule], _Cached] = {}
        self.loads = 0
        """How many tenant snapshots were loaded from the tables (tests, metrics)."""

    async def snapshots(
        self,
        conn: asyncpg.Connection,
        tenants: Iterable[str],
        now: datetime,
        default_digest: DigestSchedule,
    ) -> dict[str, TenantSnapshot]:
        names = sorted(set(tenants))
        if not names:
            return {}
        current = await versions(conn, names)
        at = self._clock()
        out: dict[str, TenantSnapshot] = {}
        stale: list[str] = []
        for t in names:
            entry = self._entries.get((t, default_digest))
            if (
                entry is not None
                and entry.version == current.get(t, 0)
                and at - entry.loaded < self.max_age
                and entry.now <= now
            ):
                out[t] = entry.snapshot
            else:
                stale.append(t)
        if stale:
            rows = await snapshot_rows(conn, stale, now)
            for t in stale:
                snap = snapshot(t, rows[t], default_digest)
                self._entries[(t, default_digest)] = _Cached(current.get(t, 0), at, now, snap)
                out[t] = snap
            self.loads += len(stale)
        return out
