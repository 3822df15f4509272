"""Fixtures of the plans tests: a migrated plans schema of its own per module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio

from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.testing import Infrastructure, isolated_settings
from suishin.kit.db import create_pool, ensure_database
from suishin.kit.migrations import migrate
from suishin.plans.runtime import MIGRATIONS
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


def sample_plan_data() -> dict[str, Any]:
    """A small plan with every feature the importer stores (edit copies of it in tests)."""
    return {
        "tenant": {"slug": "sampleku", "name": "見本区"},
        "grading_scale": {
            "rule": "itabashi-dx2025-early",
            "grades": [
                {"code": "achieved_plus", "label": "達成＋", "label_variants": ["達成+"]},
                {"code": "achieved", "label": "達成"},
                {"code": "not_achieved", "label": "未達成", "failing": True},
            ],
        },
        "departments": [
            {"code": "政策経営部", "name": "政策経営部", "kind": "bu"},
            {"code": "IT推進課", "name": "IT推進課", "parent": "政策経営部"},
            {"code": "区民課", "name": "区民課"},
            {"code": "子育て支援課", "name": "子育て支援課"},
        ],
        "plan": {
            "key": "p1",
            "title": "見本区DX推進計画",
            "kind": "実施計画",
            "period": {"start": "令和3年度", "end": 2023},
            "phase": "前期",
            "state": "published",
            "level_labels": ["基本方針", "施策", "事業量"],
            "tags": [{"code": "重点I", "label": "重点戦略Ⅰ"}],
        },
        "nodes": [
            {
                "code": "基本方針Ⅰ",
                "kind": "group",
                "level": 0,
                "title": "業務の改善",
                "children": [
                    {
                        "code": "№ 1",
                        "normalized_code": "1",
                        "kind": "measure",
                        "level": 1,
                        "title": "RPAの拡大",
                        "owners": ["IT推進課", "区民課"],
                        "lead": "IT推進課",
                        "others_text": "ほか関係課",
                        "primary_goal": "基本方針Ⅱ",
                        "related_goals": ["基本方針Ⅰ"],
                        "tags": ["重点I"],
                        "status": "継続",
                        "schedule": [
                            {"fiscal_year": 2021, "label": "検討", "phase": "planning"},
                            {
                                "fiscal_year": "R4",
                                "label": "構築",
                                "phase": "building",
                                "notes": [{"kind": "inferred", "text": "結合セルから推定"}],
                            },
                        ],
                        "lineage": [
                            {"kind": "carried_over", "from_plan": "p0", "from_path": "旧/3"}
                        ],
                        "children": [
                            {"code": "1", "kind": "item", "level": 2, "title": "作成シナリオ数"}
                        ],
                    },
                    {
                        "code": "№ 2",
                        "normalized_code": "2",
                        "kind": "measure",
                        "level": 1,
                        "title": "Web会議の推進",
                        "owners": ["子育て支援課"],
                        "status": "新規",
                    },
                ],
            },
            {
                "code": "基本方針Ⅱ",
                "kind": "group",
                "level": 0,
                "title": "区民サービスの向上",
                "children": [
                    {
                        "code": "№ 1",
                        "normalized_code": "1",
                        "kind": "measure",
                        "level": 1,
                        "title": "電子申請の拡大",
                        "owners": ["区民課"],
                        "status": "拡充",
                    }
                ],
            },
        ],
        "published_evaluations": {
            "grades": [{"path": "基本方針Ⅰ/1", "fiscal_year": 2021, "grade": "achieved"}]
        },
    }
