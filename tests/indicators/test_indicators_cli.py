"""``suishin import`` runs the indicators step after the plans step; ``import-indicators``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from suishin.cli.main import app
from suishin.kit.testing import Infrastructure, isolated_env, unique_prefix

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


def test_import_indicators_refuses_an_invalid_file(infra: Infrastructure, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenant: {slug: x, name: X}\nplan: {key: p}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["import-indicators", str(bad)], env=isolated_env(infra))
    assert result.exit_code == 1
    assert "plan.title" in result.output and "何も取り込んでいません" in result.output
