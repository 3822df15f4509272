"""Plan files carry published progress reports: the reference datasets' printed results (板橋区
前期 実績, 練馬区 前計画 取組結果) load as published reports, a re-import changes nothing, a changed
file updates them, and the plan file's rules refuse reports for unknown measures or tracks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from suishin.contracts import ids
from suishin.contracts.planfile import PlanFile
from suishin.plans import storage
from suishin.plans.exporter import export_plan_data
from suishin.plans.importer import import_plan_file

from .conftest import PlansDb, dataset, sample_plan_data

pytestmark = pytest.mark.integration


async def snapshot(db: PlansDb) -> list[tuple[Any, ...]]:
    rows = await db.pool.fetch(
        """select measure_id, period, version, state, results, grade, revision, source
           from progress_reports order by measure_id, period, version"""
    )
    return [tuple(r) for r in rows]


async def test_reference_datasets_load_their_printed_results(plans_db: PlansDb) -> None:
    early = dataset("itabashi-dx2025-early")
    previous = dataset("nerima-ict2016")
    assert len(early.progress_reports) == 50 and len(previous.progress_reports) == 31
    for plan_file in (early, previous):
        report = await import_plan_file(plans_db.pool, plan_file)
        assert report.progress_reports_written == len(plan_file.progress_reports)
    rows = await snapshot(plans_db)
    assert len(rows) == 81 and {(r[3], r[7]) for r in rows} == {("published", "import")}
    # the public read of the ward: 前期 FY2021, graded as published
    published = await storage.reports.published(
        plans_db.pool, "itabashi", "dx2025-early", "FY2021", limit=500
    )
    assert len(published) == 25
    first = published[0]
    assert first["measure_id"] == ids.node_id("itabashi", "dx2025-early", "基本方針Ⅰ/施策1")
    assert "実証実験件数（新たなICTの活用）：2件" in first["results"]
    assert first["grade"] == "achieved"
    nerima = await storage.reports.published(plans_db.pool, "nerima", "ict2016", None, limit=500)
    assert {r["period"] for r in nerima} == {"FY2019"}
    assert {r["grade"] for r in nerima} == {"A", "B"}
    # re-importing changes nothing; the export writes the same reports back
    for plan_file in (early, previous):
        again = await import_plan_file(plans_db.pool, plan_file)
        assert not again.changed and again.progress_reports_written == 0
    assert await snapshot(plans_db) == rows
    exported = await export_plan_data(plans_db.pool, "nerima", "ict2016")
    assert PlanFile.model_validate(exported).progress_reports == previous.progress_reports


async def test_a_changed_file_updates_and_deletes_its_reports(plans_db: PlansDb) -> None:
    data = sample_plan_data()
    data["tenant"] = {"slug": "reportku", "name": "報告区"}
    data["progress_reports"] = [
        {"path": "基本方針Ⅰ/1", "period": "FY2021", "results": "検討した", "grade": "achieved"},
        {
            "path": "基本方針Ⅰ/1",
            "period": "FY2022",
            "results": "構築中",
            "adherence": [{"adherence": "delayed", "note": "調達遅れ"}],
        },
    ]
    await import_plan_file(plans_db.pool, PlanFile.model_validate(data))
    m1 = ids.node_id("reportku", "p1", "基本方針Ⅰ/1")
    adherence = await plans_db.pool.fetch(
        """select a.track, a.planned, a.adherence from progress_report_adherence a
           join progress_reports r on r.id = a.report_id
           where r.measure_id = $1 and r.period = 'FY2022'""",
        m1,
    )
    assert [tuple(a) for a in adherence] == [("", "構築", "delayed")]
    data["progress_reports"][0]["results"] = "検討を完了した"
    del data["progress_reports"][1]
    report = await import_plan_file(plans_db.pool, PlanFile.model_validate(data))
    assert report.progress_reports_written == 2  # one updated, one deleted
    rows = await plans_db.pool.fetch(
        "select period, results, revision from progress_reports where measure_id = $1", m1
    )
    assert [tuple(r) for r in rows] == [("FY2021", "検討を完了した", 2)]


def test_the_plan_file_refuses_reports_it_cannot_place() -> None:
    data = sample_plan_data()
    data["progress_reports"] = [
        {"path": "基本方針Ⅰ", "period": "FY2021", "results": "x"},  # a group, not a measure
        {"path": "基本方針Ⅰ/1", "period": "FY2030", "results": "x"},
        {"path": "基本方針Ⅰ/1", "period": "FY2022", "results": "x", "grade": "S"},
        {
            "path": "基本方針Ⅰ/2",
            "period": "FY2022",
            "results": "x",
            "adherence": [{"track": "運用", "adherence": "delayed"}],
        },
    ]
    with pytest.raises(ValidationError) as refused:
        PlanFile.model_validate(data)
    text = str(refused.value)
    for code in ("unknown_node", "fiscal_year_out_of_period", "unknown_grade", "unknown_track"):
        assert f"[{code}]" in text, code
