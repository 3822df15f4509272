"""``suishin import`` runs the indicators step after the plans step; ``import-indicators``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from suishin.cli.main import app
from suishin.contracts import ids
from suishin.contracts.enums import Comparator
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.testing import Infrastructure, isolated_env, unique_prefix
from suishin.indicators.commands import ingest
from suishin.indicators.domain.definitions import TargetInput
from suishin.indicators.domain.reports import Report
from suishin.indicators.storage.targets import revise_target
from suishin.kit.db import create_pool

from .conftest import DATASETS

pytestmark = pytest.mark.integration


def count(url: str, schema: str, sql: str) -> int:
    async def run() -> int:
        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_suishin_import_includes_the_indicator_definitions(infra: Infrastructure) -> None:
    prefix = unique_prefix()
    env = isolated_env(infra, prefix)
    plan = str(DATASETS / "itabashi-dx2025-early.yaml")
    runner = CliRunner()
    result = runner.invoke(app, ["import", plan], env=env)
    assert result.exit_code == 0, result.output
    assert "indicators: 56 created, 0 updated, 0 unchanged" in result.output
    schema = f"{prefix}_indicators"
    assert count(infra.database_url, schema, "select count(*) from indicators") == 56
    again = runner.invoke(app, ["import-indicators", plan], env=env)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 56 unchanged" in again.output


@pytest.mark.parametrize(
    "name", ["itabashi-dx2025-early", "itabashi-ict2020-addendum", "nerima-ict2020"]
)
def test_export_writes_the_indicators_back(
    infra: Infrastructure, tmp_path: Path, name: str
) -> None:
    env = isolated_env(infra, unique_prefix())
    plan = load_plan_file(DATASETS / f"{name}.yaml")
    runner = CliRunner()
    imported = runner.invoke(app, ["import", str(DATASETS / f"{name}.yaml")], env=env)
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "exported.yaml"
    exported = runner.invoke(
        app,
        ["export", plan.plan.key, "--tenant", plan.tenant.slug, "-o", str(out)],
        env=env,
    )
    assert exported.exit_code == 0, exported.output
    assert load_plan_file(out).indicators == plan.indicators


def test_export_shows_what_changed_since_the_import(infra: Infrastructure, tmp_path: Path) -> None:
    prefix = unique_prefix()
    env = isolated_env(infra, prefix)
    name = "itabashi-dx2025-early"
    plan = load_plan_file(DATASETS / f"{name}.yaml")
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(DATASETS / f"{name}.yaml")], env=env).exit_code == 0
    key = "dx2025-early.e02-1"
    asyncio.run(revise_and_report(infra.database_url, f"{prefix}_indicators", plan, key))
    out = tmp_path / "exported.yaml"
    result = runner.invoke(
        app, ["export", plan.plan.key, "--tenant", "itabashi", "-o", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    [indicator] = [i for i in load_plan_file(out).indicators if i.key == key]
    fy2023 = [t for t in indicator.targets if t.fiscal_year == 2023 and t.from_fiscal_year is None]
    assert [t.value for t in fy2023] == [8]
    [revision] = indicator.target_revisions
    assert (revision.old.value, revision.new.value, revision.reason) == (7, 8, "中間見直し")
    assert [(a.period, a.value) for a in indicator.actuals][-1] == ("FY2023", 9)


async def revise_and_report(url: str, schema: str, plan: PlanFile, key: str) -> None:
    pool = await create_pool(url, schema)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await revise_target(
                conn,
                ids.indicator_id("itabashi", key),
                TargetInput(2023, value=Decimal(8), comparator=Comparator.AT_LEAST),
                reason="中間見直し",
                revised_by="test",
                now=datetime.now(UTC),
            )
            await ingest(
                conn,
                [
                    Report(
                        tenant="itabashi",
                        indicator_key=key,
                        period="FY2023",
                        value=Decimal(9),
                        text_value=None,
                        unit=None,
                        source="rpa-log",
                        idempotency_key="export-1",
                        occurred_at=datetime.now(UTC),
                    )
                ],
                now=datetime.now(UTC),
            )
    finally:
        await pool.close()


def test_import_indicators_refuses_an_invalid_file(infra: Infrastructure, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenant: {slug: x, name: X}\nplan: {key: p}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import-indicators", str(bad)], env=isolated_env(infra))
    assert result.exit_code == 1
    assert "plan.title" in result.output and "何も取り込んでいません" in result.output
