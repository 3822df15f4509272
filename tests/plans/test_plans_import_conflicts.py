"""Re-imports never lose work done in the system: values changed through the API since the last
import are listed as conflicts (file value and system value) and nothing is written unless the
caller confirms with ``overwrite``."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from suishin.cli.main import app
from suishin.contracts import ids
from suishin.contracts.enums import MeasureStatus
from suishin.contracts.planfile import PlanFile
from suishin.kit.auth import Principal, Role
from suishin.plans import commands
from suishin.plans.domain.reimport import ImportConflicts
from suishin.plans.importer import find_import_conflicts, import_plan_file

from .conftest import PlansDb, sample_plan_data
from .test_plans_import_changes import snapshot

pytestmark = pytest.mark.integration

ADMIN = Principal("jimukyoku", "sampleku", frozenset({Role.ADMIN}))


def plan(data: dict[str, Any]) -> PlanFile:
    return PlanFile.model_validate(data)


def node_id(key: str, path: str) -> Any:
    return ids.node_id("sampleku", key, path)


def data_for(key: str) -> dict[str, Any]:
    data = sample_plan_data()
    data["plan"]["key"] = key
    data["published_evaluations"] = None
    return data


async def edit_in_system(db: PlansDb, key: str) -> None:
    """A status change and a title and owners edit through the commands the API uses."""
    async with db.pool.acquire() as conn, conn.transaction():
        await commands.change_measure_status(
            conn, ADMIN, node_id(key, "基本方針Ⅰ/1"), MeasureStatus.EXPANDED, "前倒しで拡充"
        )
        await commands.update_measure(
            conn,
            ADMIN,
            node_id(key, "基本方針Ⅰ/2"),
            commands.MeasureEdit(
                title="Web会議・テレワークの推進",
                owners=[commands.OwnerInput("区民課", True)],
            ),
            "所管替え",
        )


async def test_a_reimport_lists_each_system_change_with_both_values_and_writes_nothing(
    plans_db: PlansDb,
) -> None:
    data = data_for("c1")
    await import_plan_file(plans_db.pool, plan(data))
    await edit_in_system(plans_db, "c1")
    before = await snapshot(plans_db)

    with pytest.raises(ImportConflicts) as refused:
        await import_plan_file(plans_db.pool, plan(data))
    assert await snapshot(plans_db) == before
    found = {(c.path, c.field): (c.file_value, c.system_value) for c in refused.value.conflicts}
    assert found == {
        ("基本方針Ⅰ/1", "status"): ("継続", "拡充"),
        ("基本方針Ⅰ/2", "title"): ("Web会議の推進", "Web会議・テレワークの推進"),
        ("基本方針Ⅰ/2", "owners"): (
            [{"department": "子育て支援課", "lead": False}],
            [{"department": "区民課", "lead": True}],
        ),
    }
    assert all(c.changed_by == "jimukyoku" for c in refused.value.conflicts)
    status = next(e for e in refused.value.errors if e.field == "基本方針Ⅰ/1")
    assert status.code == "IMPORT_CONFLICT"
    assert "「継続」" in status.message_ja and "「拡充」" in status.message_ja
    assert "file 「継続」 / system 「拡充」" in status.message_en
    # the read-only check finds the same conflicts
    assert {(c.path, c.field) for c in await find_import_conflicts(plans_db.pool, plan(data))} == (
        set(found)
    )


async def test_a_file_that_states_the_system_value_or_changes_other_fields_is_no_conflict(
    plans_db: PlansDb,
) -> None:
    data = data_for("c2")
    await import_plan_file(plans_db.pool, plan(data))
    await edit_in_system(plans_db, "c2")
    caught_up = copy.deepcopy(data)
    first, second = caught_up["nodes"][0]["children"]
    first["status"] = "拡充"
    second["title"] = "Web会議・テレワークの推進"
    second["owners"], second["lead"] = ["区民課"], "区民課"
    caught_up["nodes"][1]["children"][0]["title"] = "電子申請の拡大（全手続）"  # a file-only edit
    report = await import_plan_file(plans_db.pool, plan(caught_up))
    assert report.conflicts == [] and report.nodes_updated == 1
    assert report.status_changes == 0 and report.events == 0
    assert report.summary().startswith("sampleku/c2: nodes 0 created, 1 updated, 0 deleted")
    assert not (await import_plan_file(plans_db.pool, plan(caught_up))).changed


async def test_overwrite_lets_the_file_win_and_reports_what_it_replaced(plans_db: PlansDb) -> None:
    data = data_for("c3")
    await import_plan_file(plans_db.pool, plan(data))
    await edit_in_system(plans_db, "c3")
    events_before = await plans_db.pool.fetchval("select count(*) from outbox")

    report = await import_plan_file(plans_db.pool, plan(data), overwrite=True)
    assert len(report.conflicts) == 3 and report.status_changes == 1
    assert "3 system change(s) overwritten" in report.summary()
    row = await plans_db.pool.fetchrow(
        "select status, title from nodes where id = $1", node_id("c3", "基本方針Ⅰ/1")
    )
    assert row["status"] == "継続"
    assert await plans_db.pool.fetchval("select count(*) from outbox") == events_before + 1
    # the file's values are the system's again: a plain re-import is a no-op
    assert (await find_import_conflicts(plans_db.pool, plan(data))) == []
    assert not (await import_plan_file(plans_db.pool, plan(data))).changed


async def test_a_deleted_node_and_a_published_plan_are_conflicts_too(plans_db: PlansDb) -> None:
    data = data_for("c4")
    data["plan"]["state"] = "draft"
    await import_plan_file(plans_db.pool, plan(data))
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.publish_plan(conn, ADMIN, ids.plan_id("sampleku", "c4"), "公表")
        await commands.change_measure_status(
            conn, ADMIN, node_id("c4", "基本方針Ⅱ/1"), MeasureStatus.COMPLETED, "完了した"
        )
    shrunk = copy.deepcopy(data)
    shrunk["nodes"][1]["children"] = []
    with pytest.raises(ImportConflicts) as refused:
        await import_plan_file(plans_db.pool, plan(shrunk))
    found = {(c.path, c.field): (c.file_value, c.system_value) for c in refused.value.conflicts}
    assert found == {("", "state"): ("draft", "published"), ("基本方針Ⅱ/1", "node"): (None, None)}
    messages = " ".join(e.message_en for e in refused.value.errors)
    assert "would delete it" in messages and "file 「draft」 / system 「published」" in messages


async def test_an_override_survives_a_reimport(plans_db: PlansDb) -> None:
    data = data_for("c5")
    await import_plan_file(plans_db.pool, plan(data))
    measure = node_id("c5", "基本方針Ⅰ/1")
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.override_grade(
            conn, ADMIN, measure, 2021, "not_achieved", "実績を確認", now=datetime.now(UTC)
        )
    data["published_evaluations"] = sample_plan_data()["published_evaluations"]
    await import_plan_file(plans_db.pool, plan(data))
    grade = await plans_db.pool.fetchrow(
        "select override_grade, effective_grade from grades where measure_id = $1 "
        "and fiscal_year = 2021",
        measure,
    )
    assert (grade["override_grade"], grade["effective_grade"]) == ("not_achieved",) * 2


def test_the_cli_refuses_conflicts_and_imports_with_overwrite(
    plans_db: PlansDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUISHIN_SCHEMA_PREFIX", plans_db.settings.schema_prefix)
    data = data_for("c6")
    source = tmp_path / "c6.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = plans_db.settings.database_url
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(source), "--database-url", url]).exit_code == 0
    asyncio.run(_with_own_pool(plans_db, "c6"))
    refused = runner.invoke(app, ["import", str(source), "--database-url", url])
    assert refused.exit_code == 1, refused.output
    shown = " ".join(refused.output.split())  # rich wraps long lines
    assert "IMPORT_CONFLICT" in shown and "--overwrite" in shown
    assert "file 「継続」 / system 「拡充」" in shown
    done = runner.invoke(app, ["import", str(source), "--overwrite", "--database-url", url])
    assert done.exit_code == 0, done.output
    assert "system change(s) overwritten" in " ".join(done.output.split())


async def _with_own_pool(db: PlansDb, key: str) -> None:
    """The CLI test runs outside the session loop: edit through a pool of its own."""
    from suishin.kit.db import create_pool

    pool = await create_pool(db.settings.database_url, db.schema, min_size=1, max_size=1)
    try:
        await edit_in_system(PlansDb(db.settings, db.schema, pool), key)
    finally:
        await pool.close()


def test_conflict_messages_are_json_for_lists() -> None:
    from suishin.plans.domain.reimport import ImportConflict

    error = ImportConflict("1", "tags", ["重点I"], [], "someone").error()
    assert json.dumps(["重点I"], ensure_ascii=False) in error.message_en
