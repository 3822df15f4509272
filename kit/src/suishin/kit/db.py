"""asyncpg pools, bound to one service schema through ``search_path``."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename,
            encoder=lambda v: json.dumps(v, ensure_ascii=False, default=str),
            decoder=json.loads,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection released to a pool needs besides asyncpg's own clean-up (which rolls
    back an open transaction and drops the connection's listeners): nothing. The platform keeps
    no session state on pooled connections (``set local`` and transaction-level advisory locks
    only; LISTEN on connections of their own), so asyncpg's default reset query (``RESET ALL``,
    ``UNLISTEN *``, ``CLOSE ALL``, unlocking advisory locks) would be a round trip to the
    server after every use of a connection — on every consumer batch and relay pass."""


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections see ``schema`` first, then ``public``; released connections
    are not reset beyond a rollback (:func:`_keep_session`)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": f'"{schema}",public', "application_name": schema},
    )
    assert pool is not None
    return pool


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if it does not exist (embedded default)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    name = parts.path.lstrip("/") or "postgres"
    if name == "postgres":
        return
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'create database "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                # another service created it at the same moment
                pass
    finally:
        await conn.close()


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection with an open transaction, committed on success."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


def record_to_dict(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(record) if record is not None else None


def contains_pattern(text: str) -> str:
    """An ``ILIKE`` pattern matching ``text`` anywhere, its wildcards taken literally.

    ``%``, ``_`` and the escape character ``\\`` (PostgreSQL's default) are escaped, so a search
    for ``%`` finds a percent sign instead of everything."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
