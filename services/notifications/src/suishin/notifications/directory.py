"""The directory file of a tenant (``datasets/directory/<tenant>.yaml``, the model in
:mod:`suishin.notifications.domain.directory`): reading it, and importing it into the service."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import asyncpg
import yaml

from suishin.notifications import commands
from suishin.notifications.domain.directory import Directory, Webhook

log = logging.getLogger(__name__)


def load_directory(path: Path | str) -> Directory:
    """Read and validate a directory file (raises pydantic.ValidationError or yaml.YAMLError)."""
    data = yaml.safe_load(Path(path).read_text("utf-8"))
    return Directory.model_validate(data)


def webhook_secret(webhook: Webhook) -> str:
    """A webhook's signing secret: from its environment variable, else given inline."""
    if webhook.secret_env:
        value = os.environ.get(webhook.secret_env)
        if value:
            return value
        if not webhook.secret:
            raise ValueError(
                f"webhook {webhook.id}: environment variable {webhook.secret_env} unset"
            )
    if not webhook.secret:
        raise ValueError(f"webhook {webhook.id}: needs secret or secret_env")
    return webhook.secret


async def import_directory(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, directory: Directory
) -> dict[str, int]:
    """Replace the tenant's directory with ``directory`` in one transaction.

    Rules and subscriptions that came from a directory file are replaced; those people created
    through the API are kept, and so are preferences a person changed themselves. Importing the
    same file twice changes nothing.
    """
    secrets = {w.id: webhook_secret(w) for w in directory.webhooks}
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn, conn.transaction():
            counts = await commands.import_directory(conn, directory, secrets)
    else:
        async with pool_or_conn.transaction():
            counts = await commands.import_directory(pool_or_conn, directory, secrets)
    log.info("directory imported", extra={"tenant": directory.tenant, **counts})
    return counts
