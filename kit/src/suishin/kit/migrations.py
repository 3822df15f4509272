"""Per-service schema migrations: plain SQL files applied in order, recorded in a table.

Files are named ``NNN_description.sql``. The kit's own tables (outbox, inbox) are applied
first as ``kit_NNN``. A file that changed after it was applied is an error, not a silent skip.
"""

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

KIT_MIGRATIONS = resources.files("suishin.kit") / "migrations"


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(
    directory: Path | resources.abc.Traversable, prefix: str = ""
) -> list[Migration]:
    files = sorted(
        (f for f in directory.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
    )
    return [Migration(prefix + f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files]


async def migrate(
    conn: asyncpg.Connection,
    schema: str,
    directory: Path | resources.abc.Traversable | None,
) -> list[str]:
    """Create ``schema`` and apply pending migrations; return the versions applied."""
    migrations = load_migrations(KIT_MIGRATIONS, "kit_")
    if directory is not None:
        migrations += load_migrations(directory)
    applied: list[str] = []
    # One migrator per schema at a time, even with several replicas starting together.
    lock_key = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:8], "big", signed=True)
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", lock_key)
        await conn.execute(f'create schema if not exists "{schema}"')
        await conn.execute(f'set local search_path to "{schema}", public')
        await conn.execute(
            """create table if not exists schema_migrations (
                   version text primary key,
                   checksum text not null,
                   applied_at timestamptz not null default now())"""
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("select version, checksum from schema_migrations")
        }
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration {schema}/{m.version} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "insert into schema_migrations (version, checksum) values ($1, $2)",
                m.version,
                m.checksum,
            )
            applied.append(m.version)
    if applied:
        log.info("migrated", extra={"schema": schema, "applied": applied})
    return applied


async def open_migrated_pool(
    database_url: str,
    schema: str,
    directory: Path | resources.abc.Traversable | None,
    *,
    min_size: int = 1,
    max_size: int = 4,
) -> asyncpg.Pool:
    """A pool on ``schema`` of the database (created if missing) with its migrations applied:
    what a service opens at start, and what the CLI and tools open to work on its schema."""
    from suishin.kit.db import create_pool, ensure_database

    await ensure_database(database_url)
    pool = await create_pool(database_url, schema, min_size=min_size, max_size=max_size)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, directory)
    except BaseException:
        await pool.close()
        raise
    return pool
