"""Re-imports never revert targets revised in the system: each conflict is listed with the file's
and the system's value and nothing is written unless the import is confirmed (``overwrite``)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from suishin.contracts import ids
from suishin.contracts.enums import Comparator
from suishin.indicators import commands
from suishin.indicators.domain.definitions import TargetInput
from suishin.indicators.domain.reimport import TargetConflicts
from suishin.indicators.importer import find_import_conflicts, import_indicator_definitions

from .conftest import JUNE_2024, IndicatorsDb, plan_file, small_plan

pytestmark = pytest.mark.integration


async def snapshot(db: IndicatorsDb) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("indicators", "targets", "indicator_links", "indicator_status", "outbox"):
        rows = await db.pool.fetch(f"select * from {table}")
        out[table] = sorted(json.dumps(dict(r), default=str, sort_keys=True) for r in rows)
    return out


async def revise_in_system(db: IndicatorsDb, tenant: str, value: int) -> None:
    """事務局 raises p1.rpa's FY2025 target through the command ``reviseTarget`` uses."""
    async with db.pool.acquire() as conn, conn.transaction():
        await commands.revise_target(
            conn,
            tenant,
            ids.indicator_id(tenant, "p1.rpa"),
            TargetInput(2025, value=Decimal(value), comparator=Comparator.AT_LEAST),
            reason="中間見直し",
            revised_by="jimukyoku",
            now=JUNE_2024 + timedelta(days=30),
            shown_id="p1.rpa",
        )


async def test_a_reimport_lists_a_revised_target_with_both_values_and_writes_nothing(
    indicators_db: IndicatorsDb,
) -> None:
    data = small_plan("conflictku")
    first = await import_indicator_definitions(indicators_db.pool, plan_file(data), now=JUNE_2024)
    assert first.targets_created > 0 and first.target_revisions == 0
    assert "targets: " in first.summary() and " created" in first.summary()
    await revise_in_system(indicators_db, "conflictku", 20)
    before = await snapshot(indicators_db)

    with pytest.raises(TargetConflicts) as refused:
        await import_indicator_definitions(
            indicators_db.pool, plan_file(data), now=JUNE_2024 + timedelta(days=60)
        )
    assert await snapshot(indicators_db) == before
    [conflict] = refused.value.conflicts
    assert (conflict.indicator_key, conflict.slot) == ("p1.rpa", (2025, None))
    assert conflict.file_value is not None and conflict.file_value.value == 12
    assert conflict.system_value.value == 20 and conflict.revised_by == "jimukyoku"
    [error] = refused.value.errors
    assert error.code == "IMPORT_CONFLICT"
    assert "ファイル 「12 gte」" in error.message_ja and "システム 「20 gte」" in error.message_ja
    assert "FY2025 target of indicator p1.rpa" in error.message_en
    found = await find_import_conflicts(indicators_db.pool, plan_file(data))
    assert [(c.indicator_key, c.slot) for c in found] == [("p1.rpa", (2025, None))]


async def test_a_file_printing_the_system_value_is_no_conflict_and_unchanged(
    indicators_db: IndicatorsDb,
) -> None:
    data = small_plan("caughtupku")
    await import_indicator_definitions(indicators_db.pool, plan_file(data), now=JUNE_2024)
    await revise_in_system(indicators_db, "caughtupku", 20)
    caught_up = copy.deepcopy(data)
    caught_up["indicators"][0]["targets"][2]["value"] = 20
    report = await import_indicator_definitions(
        indicators_db.pool, plan_file(caught_up), now=JUNE_2024 + timedelta(days=60)
    )
    assert report.conflicts == []
    # the stored file entry follows the file; the targets themselves are already the file's
    assert report.targets_created == 0 and report.target_revisions == 0
    assert "targets: 0 created, 0 updated" in report.summary()


async def test_overwrite_lets_the_file_win_and_a_dropped_target_is_a_conflict(
    indicators_db: IndicatorsDb,
) -> None:
    data = small_plan("overwriteku")
    await import_indicator_definitions(indicators_db.pool, plan_file(data), now=JUNE_2024)
    await revise_in_system(indicators_db, "overwriteku", 20)
    dropped = copy.deepcopy(data)
    del dropped["indicators"][0]["targets"][2]  # the file no longer prints FY2025
    with pytest.raises(TargetConflicts) as refused:
        await import_indicator_definitions(indicators_db.pool, plan_file(dropped))
    [conflict] = refused.value.conflicts
    assert conflict.file_value is None
    assert "（なし / none）" in refused.value.errors[0].message_ja

    report = await import_indicator_definitions(
        indicators_db.pool,
        plan_file(data),
        now=JUNE_2024 + timedelta(days=60),
        overwrite=True,
    )
    assert [c.indicator_key for c in report.conflicts] == ["p1.rpa"]
    assert report.updated == ["p1.rpa"] and report.target_revisions == 1
    assert "1 system revision(s) overwritten" in report.summary()
    value = await indicators_db.pool.fetchval(
        "select value from targets where indicator_id = $1 and fiscal_year = 2025 "
        "and superseded_at is null",
        ids.indicator_id("overwriteku", "p1.rpa"),
    )
    assert value == 12
    # the file's value is the current one again: no conflict, nothing to do
    assert await find_import_conflicts(indicators_db.pool, plan_file(data)) == []
    again = await import_indicator_definitions(indicators_db.pool, plan_file(data))
    assert again.updated == [] and again.created == []
