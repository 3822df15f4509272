"""Fixtures of the indicators tests: a migrated schema per module, a clock tests can move,
plan files, and tokens."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio

from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.testing import Infrastructure, isolated_settings
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.clock import FixedClock
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
MIGRATIONS = resources.files("suishin.indicators") / "migrations"


Clock = FixedClock  # the evaluation clock of a test: fixed until the test moves it


@dataclass
class IndicatorsDb:
    settings: IndicatorsSettings
    schema: str
    pool: asyncpg.Pool


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def indicators_db(infra: Infrastructure) -> AsyncIterator[IndicatorsDb]:
    """A migrated indicators schema of this module's own (no broker, no runtime)."""
    settings = isolated_settings(IndicatorsSettings, infra)
    schema = settings.schema_name("indicators")
    await ensure_database(settings.database_url)
    pool = await create_pool(settings.database_url, schema, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await migrate(conn, schema, MIGRATIONS)
    try:
        yield IndicatorsDb(settings, schema, pool)
    finally:
        await pool.close()


def dataset(name: str) -> PlanFile:
    return load_plan_file(DATASETS / f"{name}.yaml")


def small_plan(tenant: str = "sampleku", **changes: Any) -> dict[str, Any]:
    """A small plan file (as data) with one indicator of each kind the tests need."""
    data: dict[str, Any] = {
        "tenant": {"slug": tenant, "name": "見本区"},
        "departments": [
            {"code": "IT推進課", "name": "IT推進課"},
            {"code": "区民課", "name": "区民課"},
            {"code": "広報課", "name": "広報課"},
        ],
        "plan": {
            "key": "p1",
            "title": "見本区DX推進計画",
            "kind": "実施計画",
            "period": {"start": 2023, "end": 2025},
            "level_labels": ["施策", "事業量"],
        },
        "nodes": [
            {
                "code": "1",
                "kind": "measure",
                "level": 0,
                "title": "RPAの活用",
                "owners": ["IT推進課"],
                "children": [
                    {"code": "1", "kind": "item", "level": 1, "title": "シナリオ作成"},
                ],
            },
            {
                "code": "2",
                "kind": "measure",
                "level": 0,
                "title": "証明書のコンビニ交付",
                "owners": ["区民課"],
            },
            {
                "code": "3",
                "kind": "measure",
                "level": 0,
                "title": "SNSでの発信",
                "owners": ["広報課"],
            },
        ],
        "indicators": [
            {
                "key": "p1.rpa",
                "title": "RPA作成シナリオ数",
                "nodes": ["1", "1/1"],
                "unit": "シナリオ",
                "baseline": {"value": 10, "fiscal_year": 2022},
                "targets": [
                    {"fiscal_year": 2023, "comparator": "gte", "value": 10},
                    {"fiscal_year": 2024, "comparator": "gte", "value": 10},
                    {"fiscal_year": 2025, "comparator": "gte", "value": 12},
                ],
            },
            {
                "key": "p1.hours",
                "title": "RPA削減時間",
                "nodes": ["1"],
                "unit": "時間",
                "granularity": "month",
                "cadence": "monthly",
                "targets": [
                    {"fiscal_year": 2024, "comparator": "gte", "value": 1200},
                    {"fiscal_year": 2025, "comparator": "gte", "value": 1500},
                ],
            },
            {
                "key": "p1.konbini",
                "title": "コンビニ交付率",
                "nodes": ["2"],
                "unit": "%",
                "targets": [
                    {"fiscal_year": 2024, "comparator": "gte", "value": 30},
                    {"fiscal_year": 2025, "comparator": "gte", "value": 35},
                ],
                "target_revisions": [
                    {
                        "fiscal_year": 2025,
                        "old": {"comparator": "gte", "value": 32},
                        "new": {"comparator": "gte", "value": 35},
                        "reason": "前年度実績を踏まえ上方修正",
                        "revised_on": "2024-10",
                    }
                ],
            },
            {
                "key": "p1.sns",
                "title": "SNS発信回数",
                "nodes": ["3"],
                "unit": "回",
                "aggregation": "cumulative",
                "targets": [
                    {
                        "fiscal_year": 2025,
                        "from_fiscal_year": 2023,
                        "comparator": "gte",
                        "value": 90,
                    },
                    {
                        "fiscal_year": 2025,
                        "from_fiscal_year": 2023,
                        "comparator": "gte",
                        "value": 30,
                        "sub_series": "x",
                    },
                ],
                "sub_series": [{"key": "x", "title": "X（旧Twitter）"}],
            },
            {
                "key": "p1.cashless",
                "title": "キャッシュレス決済対応窓口",
                "nodes": ["2"],
                "qualitative": True,
                "targets": [
                    {"fiscal_year": 2024, "text": "拡大"},
                    {"fiscal_year": 2025, "text": "検討"},
                ],
            },
        ],
    }
    data.update(changes)
    return copy.deepcopy(data)


def plan_file(data: dict[str, Any]) -> PlanFile:
    return PlanFile.model_validate(data)


JUNE_2024 = datetime(2024, 6, 15, 9, 0, tzinfo=UTC)
