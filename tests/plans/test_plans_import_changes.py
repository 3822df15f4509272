"""Re-imports update in place (history and events only for real status changes); bad plan
files are refused with every problem and write nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from suishin.cli.main import app
from suishin.contracts import ids
from suishin.contracts.planfile import PlanFile, PlanFileInvalid, loads_plan_file
from suishin.plans import importer
from suishin.plans.exporter import export_plan_file
from suishin.plans.importer import ImportRefused, import_plan_file

from .conftest import PlansDb, sample_plan_data

pytestmark = pytest.mark.integration

TABLES = [
    "tenants",
    "departments",
    "plans",
    "nodes",
    "node_owners",
    "node_goals",
    "node_schedule",
    "node_lineage",
    "node_history",
    "published_grades",
    "grades",
    "outbox",
    "plan_history",
]


async def snapshot(db: PlansDb) -> dict[str, Any]:
    """Every row of every table (to prove that nothing at all was written)."""
    out: dict[str, Any] = {}
    for table in TABLES:
        rows = await db.pool.fetch(f"select * from {table}")
        out[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    return out


def plan(data: dict[str, Any]) -> PlanFile:
    return PlanFile.model_validate(data)


def node_id(path: str) -> Any:
    return ids.node_id("sampleku", "p1", path)


async def test_first_import_records_initial_statuses_without_events(plans_db: PlansDb) -> None:
    report = await import_plan_file(plans_db.pool, plan(sample_plan_data()))
    assert report.plan_created and report.nodes_created == 6
    assert report.events == 0
    assert await plans_db.pool.fetchval("select count(*) from outbox") == 0
    history = await plans_db.pool.fetch(
        "select field, previous, value, source from node_history order by id"
    )
    assert [(h["field"], h["previous"], h["value"], h["source"]) for h in history] == [
        ("status", None, "継続", "import"),
        ("status", None, "新規", "import"),
        ("status", None, "拡充", "import"),
    ]
    owners = await plans_db.pool.fetch(
        "select department_code, is_lead from node_owners where node_id = $1 order by position",
        node_id("基本方針Ⅰ/1"),
    )
    assert [(o["department_code"], o["is_lead"]) for o in owners] == [
        ("IT推進課", True),
        ("区民課", False),
    ]
    goals = await plans_db.pool.fetch(
        "select goal_id, is_primary from node_goals where node_id = $1 order by position",
        node_id("基本方針Ⅰ/1"),
    )
    assert [(g["goal_id"], g["is_primary"]) for g in goals] == [
        (node_id("基本方針Ⅱ"), True),
        (node_id("基本方針Ⅰ"), False),
    ]
    lineage = await plans_db.pool.fetchrow(
        "select * from node_lineage where node_id = $1", node_id("基本方針Ⅰ/1")
    )
    assert lineage["from_node_id"] == ids.node_id("sampleku", "p0", "旧/3")
    # the published grade counts as the effective grade
    grade = await plans_db.pool.fetchrow(
        "select * from grades where measure_id = $1", node_id("基本方針Ⅰ/1")
    )
    assert grade["effective_grade"] == "achieved" and grade["machine_grade"] is None


async def test_reimport_of_the_same_file_changes_nothing(plans_db: PlansDb) -> None:
    before = await snapshot(plans_db)
    report = await import_plan_file(plans_db.pool, plan(sample_plan_data()))
    assert not report.changed
    assert await snapshot(plans_db) == before


async def test_changed_file_updates_in_place(plans_db: PlansDb) -> None:
    data = sample_plan_data()
    group1 = data["nodes"][0]["children"]
    group1[0]["status"] = "完了"  # a real status change
    group1[0]["owners"] = ["IT推進課"]
    group1[1]["title"] = "Web会議・テレワークの推進"
    group1.reverse()  # printed order changes: 2 before 1
    data["nodes"][1]["children"] = [
        {
            "code": "№ 3",
            "normalized_code": "3",
            "kind": "measure",
            "level": 1,
            "title": "キャッシュレス決済",
            "owners": ["区民課"],
            "status": "新規",
        }
    ]
    history_before = await plans_db.pool.fetchval("select max(id) from node_history")
    changed = plan(data)
    report = await import_plan_file(plans_db.pool, changed)

    assert (report.nodes_created, report.nodes_deleted) == (1, 1)
    assert report.status_changes == 1 and report.events == 1
    events = await plans_db.pool.fetch("select topic, body from outbox")
    assert [e["topic"] for e in events] == ["measure.status_changed"]
    body = json.loads(events[0]["body"])
    assert body["aggregate_id"] == str(node_id("基本方針Ⅰ/1"))
    assert (body["payload"]["from_status"], body["payload"]["to_status"]) == ("継続", "完了")
    assert body["payload"]["changed_by"] == "import"
    new_history = await plans_db.pool.fetch(
        "select node_id, field from node_history where id > $1", history_before
    )
    assert sorted((r["field"], str(r["node_id"])) for r in new_history) == sorted(
        [
            ("status", str(node_id("基本方針Ⅰ/1"))),
            ("owners", str(node_id("基本方針Ⅰ/1"))),
            ("title", str(node_id("基本方針Ⅰ/2"))),
            ("status", str(node_id("基本方針Ⅱ/3"))),  # initial status of the new measure
        ]
    )
    assert not await plans_db.pool.fetchval(
        "select count(*) from nodes where id = $1", node_id("基本方針Ⅱ/1")
    )
    order = await plans_db.pool.fetch(
        "select path from nodes where parent_id = $1 order by sort_key", node_id("基本方針Ⅰ")
    )
    assert [r["path"] for r in order] == ["基本方針Ⅰ/2", "基本方針Ⅰ/1"]
    exported = await export_plan_file(plans_db.pool, "sampleku", "p1")
    assert exported == changed
    # and once more: nothing
    assert not (await import_plan_file(plans_db.pool, changed)).changed


async def test_rule_violations_are_all_reported_and_nothing_is_written(plans_db: PlansDb) -> None:
    valid = plan(sample_plan_data())
    broken = valid.model_copy(deep=True)
    group1 = broken.nodes[0].children
    group1[1].normalized_code = "1"  # duplicate code under 基本方針Ⅰ
    group1[0].owners = ["IT推進課", "存在しない課"]  # unknown department
    group1[0].primary_goal = "基本方針Ⅰ/1/1"  # its own sub-item: a cycle
    broken.nodes[1].children[0].related_goals = ["基本方針Ⅹ"]  # unknown goal
    before = await snapshot(plans_db)
    with pytest.raises(ImportRefused) as refused:
        await import_plan_file(plans_db.pool, broken)
    codes = sorted(e.code for e in refused.value.errors)
    assert codes == ["DUPLICATE_CODE", "GOAL_CYCLE", "UNKNOWN_DEPARTMENT", "UNKNOWN_GOAL"]
    assert all(e.message_ja and e.message_en for e in refused.value.errors)
    assert await snapshot(plans_db) == before


async def test_a_failure_half_way_rolls_the_whole_import_back(
    plans_db: PlansDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample_plan_data()
    data["plan"]["key"] = "p2"
    data["nodes"][0]["children"][0]["status"] = "廃止"

    async def explode(*_args: Any) -> None:
        raise RuntimeError("disk full")

    before = await snapshot(plans_db)
    monkeypatch.setattr(importer, "_write_published_grades", explode)
    with pytest.raises(RuntimeError):
        await import_plan_file(plans_db.pool, plan(data))
    assert await snapshot(plans_db) == before


def thousand_error_file() -> str:
    data = sample_plan_data()
    data["nodes"][0]["children"] = [
        {
            "code": str(i),
            "kind": "measure",
            "level": 1,
            "title": f"施策{i}",
            "owners": [f"未登録課{i}"],
        }
        for i in range(1000)
    ]
    data["nodes"][1]["children"] = []
    data["published_evaluations"] = None
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_a_file_with_1000_errors_reports_every_one_and_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(thousand_error_file(), encoding="utf-8")
    with pytest.raises(PlanFileInvalid) as invalid:
        loads_plan_file(path.read_text(encoding="utf-8"), str(path))
    errors = invalid.value.errors
    assert len(errors) == 1000
    assert {e.code for e in errors} == {"unknown_department"}
    assert all(e.line is not None and e.path.startswith("nodes[0].children[") for e in errors)
    # The CLI prints every one, in Japanese and English, and stops before touching a database.
    result = CliRunner().invoke(
        app, ["import", str(path), "--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if "未登録課" in line]
    assert len(lines) == 1000
    assert f"{path}:" in lines[0] and "unknown department" in lines[0] and "部署" in lines[0]


def test_cli_imports_and_exports_a_plan(
    plans_db: PlansDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUISHIN_SCHEMA_PREFIX", plans_db.settings.schema_prefix)
    data = copy.deepcopy(sample_plan_data())
    data["plan"]["key"] = "cli-plan"
    source = tmp_path / "cli-plan.yaml"
    import yaml

    source.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = plans_db.settings.database_url
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(source), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "plans: sampleku/cli-plan" in result.output
    again = runner.invoke(app, ["import", str(source), "--database-url", url])
    assert "変更なし (unchanged)" in again.output
    out = tmp_path / "out.yaml"
    exported = runner.invoke(
        app, ["export", "cli-plan", "--tenant", "sampleku", "-o", str(out), "--database-url", url]
    )
    assert exported.exit_code == 0, exported.output
    assert loads_plan_file(out.read_text(encoding="utf-8")) == PlanFile.model_validate(data)
    xlsx = tmp_path / "progress.xlsx"
    result = runner.invoke(
        app,
        [
            "export-xlsx",
            "--tenant",
            "sampleku",
            "--plan",
            "cli-plan",
            "-o",
            str(xlsx),
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx)["進捗状況一覧"]
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert [r[0] for r in rows] == ["№ 1", "№ 2", "№ 1"]
    assert rows[0][2] == "IT推進課（主）、区民課、ほか関係課"
    assert rows[0][6] == "達成"  # FY2021 grade (published)
    missing = runner.invoke(
        app, ["export", "nope", "--tenant", "sampleku", "-o", str(out), "--database-url", url]
    )
    assert missing.exit_code == 1 and "not found" in missing.output
