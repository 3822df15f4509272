"""``suishin directory import FILE``: load a tenant's notification directory (people, posts,
departments, bodies, webhooks, default routing rules) into the notifications service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import asyncpg
import typer
import yaml
from pydantic import ValidationError

from suishin.cli.config import cli_settings
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate
from suishin.notifications.directory import import_directory, load_directory
from suishin.notifications.settings import NotificationsSettings

directory_app = typer.Typer(help="Notification directories (who holds which post, per ward).")


async def load_directories(
    paths: Sequence[Path], settings: NotificationsSettings | None = None
) -> dict[str, dict[str, int]]:
    """Validate every file first, then import each (used by the CLI and the demo loader)."""
    settings = settings or cli_settings(NotificationsSettings)
    directories = [load_directory(p) for p in paths]
    await ensure_database(settings.database_url)
    schema = settings.schema_name("notifications")
    pool: asyncpg.Pool = await create_pool(settings.database_url, schema, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, schema, resources.files("suishin.notifications") / "migrations")
        return {d.tenant: await import_directory(pool, d) for d in directories}
    finally:
        await pool.close()


@directory_app.command("import")
def import_command(
    files: list[Path] = typer.Argument(..., help="datasets/directory/<tenant>.yaml file(s)."),
) -> None:
    """Validate and import directory files (all or nothing per file; re-import is a no-op)."""
    try:
        result = asyncio.run(load_directories(files))
    except (ValidationError, ValueError, yaml.YAMLError, OSError) as exc:
        message = f"名簿を読み込めません / cannot import the directory:\n{exc}"
        typer.secho(message, fg="red", err=True)
        raise typer.Exit(1) from exc
    for tenant, counts in result.items():
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        typer.echo(f"{tenant}: {summary}")
