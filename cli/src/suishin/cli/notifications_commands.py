"""``suishin directory import FILE``: load a tenant's notification directory (people, posts,
departments, bodies, webhooks, default routing rules) into the notifications service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import typer
import yaml
from pydantic import ValidationError

from suishin.cli.config import cli_settings
from suishin.notifications.directory import import_directory, load_directory
from suishin.notifications.runtime import open_pool
from suishin.notifications.settings import NotificationsSettings

directory_app = typer.Typer(help="Notification directories (who holds which post, per ward).")


async def load_directories(
    paths: Sequence[Path], settings: NotificationsSettings | None = None
) -> dict[str, dict[str, int]]:
    """Validate every file first, then import each (used by the CLI and the demo loader)."""
    settings = settings or cli_settings(NotificationsSettings)
    directories = [load_directory(p) for p in paths]
    pool = await open_pool(settings, max_size=2)
    try:
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
