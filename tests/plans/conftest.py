"""Fixtures of the plans tests: a migrated plans schema of its own per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate
from suishin.kit.testing import Infrastructure, isolated_settings
from suishin.plans.app import MIGRATIONS
from suishin.plans.settings import PlansSettings

DATASETS = Path(__file__).resolve().parents[2] / "datasets"


@dataclass
class PlansDb:
    settings: PlansSettings
    schema: str
    pool: asyncpg.Pool


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plans_db(infra: Infrastructure) -> AsyncIterator[PlansDb]:
    settings = isolated_settings(PlansSettings, infra)
    schema = settings.schema_name("plans")
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    try:
        yield PlansDb(settings, schema, pool)
    finally:
        await pool.close()


def dataset(name: str) -> PlanFile:
    return load_plan_file(DATASETS / f"{name}.yaml")


def dataset_names() -> list[str]:
    return sorted(p.stem for p in DATASETS.glob("*.yaml"))
