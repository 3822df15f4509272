"""Plan-file import, ingestion rules and the stale sweep against the real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from suishin.contracts import ids
from suishin.contracts.events import IndicatorStatusChanged, parse_event
from suishin.indicators.commands import ingest
from suishin.indicators.domain.model import ReportingPeriod
from suishin.indicators.domain.reports import Report
from suishin.indicators.importer import REIMPORT_REASON, import_indicator_definitions
from suishin.indicators.storage.indicators import (
    INDICATOR_COLUMNS,
    load_indicators,
    load_indicators_by_key,
    with_targets,
)
from suishin.indicators.storage.measurements import (
    NewMeasurement,
    current_observations,
    write_measurements,
)
from suishin.indicators.sweep import sweep

from .conftest import JUNE_2024, IndicatorsDb, dataset, plan_file, small_plan

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 1, tzinfo=UTC)
STATUS_2024 = (
    "select status, figures from indicator_status where indicator_id = $1 and fiscal_year = 2024"
)


def report(
    key: str,
    period: str,
    value: object = None,
    *,
    tenant: str = "storeku",
    idem: str | None = None,
    at: datetime = T0,
    **kw: Any,
) -> Report:
    return Report(
        tenant=tenant,
        indicator_key=key,
        period=period,
        value=None if value is None else Decimal(str(value)),
        text_value=kw.pop("text", None),
        unit=kw.pop("unit", None),
        source="test",
        idempotency_key=idem or f"{key}:{period}:{value}:{at.isoformat()}",
        occurred_at=at,
        **kw,
    )


async def apply(db: IndicatorsDb, *reports: Report, now: datetime = JUNE_2024) -> Any:
    async with db.pool.acquire() as conn, conn.transaction():
        return await ingest(conn, list(reports), now=now)


async def outbox_events(conn: asyncpg.Connection, key: str) -> list[IndicatorStatusChanged]:
    rows = await conn.fetch("select body from outbox order by id")
    events = [parse_event(r["body"], expect=IndicatorStatusChanged) for r in rows]
    return [e.payload for e in events if e.payload.indicator_key == key]


@pytest.fixture(scope="module")
async def imported(indicators_db: IndicatorsDb) -> IndicatorsDb:
    pf = plan_file(small_plan("storeku"))
    await import_indicator_definitions(indicators_db.pool, pf, now=JUNE_2024)
    # the same keys in another ward, to recognise another tenant's indicator
    await import_indicator_definitions(indicators_db.pool, plan_file(small_plan("otherku")))
    return indicators_db


# --- import --------------------------------------------------------------------------------------


async def test_import_stores_definitions_links_owners_targets_and_sub_series(
    indicators_db: IndicatorsDb,
) -> None:
    pf = plan_file(small_plan("importku"))
    steps: list[tuple[int, int]] = []
    result = await import_indicator_definitions(
        indicators_db.pool, pf, now=JUNE_2024, progress=lambda d, t: steps.append((d, t))
    )
    assert sorted(result.created) == [
        "p1.cashless",
        "p1.hours",
        "p1.konbini",
        "p1.rpa",
        "p1.sns",
        "p1.sns/x",
    ]
    assert result.status_changes == 0 and steps[-1] == (6, 6)
    async with indicators_db.pool.acquire() as conn:
        rpa = await conn.fetchrow(
            "select * from indicators where tenant = 'importku' and key = 'p1.rpa'"
        )
        assert rpa["id"] == ids.indicator_id("importku", "p1.rpa")
        assert rpa["owner_departments"] == ["IT推進課"]
        assert rpa["baseline_value"] == 10 and rpa["baseline_period"] == "FY2022"
        assert rpa["tracked_since"] == JUNE_2024
        links = await conn.fetch(
            "select node_id, node_path, plan_id from indicator_links where indicator_id = $1 "
            "order by node_path",
            rpa["id"],
        )
        assert [(r["node_id"], r["node_path"]) for r in links] == [
            (pf.node_id("1"), "1"),
            (pf.node_id("1/1"), "1/1"),
        ]
        assert {r["plan_id"] for r in links} == {pf.plan_id()}
        sub = await conn.fetchrow(
            "select * from indicators where key = 'p1.sns/x' and tenant = 'importku'"
        )
        assert sub["parent_id"] == ids.indicator_id("importku", "p1.sns")
        assert sub["title"] == "SNS発信回数（X（旧Twitter））" and sub["sub_series_key"] == "x"
        sub_targets = await conn.fetch(
            "select value, from_fiscal_year from targets where indicator_id = $1", sub["id"]
        )
        assert [(r["value"], r["from_fiscal_year"]) for r in sub_targets] == [(30, 2023)]
        konbini = await conn.fetch(
            """select value, revision, reason, superseded_at, valid_from from targets
               where indicator_id = $1 and fiscal_year = 2025 order by revision""",
            ids.indicator_id("importku", "p1.konbini"),
        )
        assert [(r["value"], r["revision"]) for r in konbini] == [(32, 1), (35, 2)]
        assert konbini[0]["superseded_at"] == datetime(2024, 10, 1, tzinfo=UTC)
        assert konbini[1]["reason"] == "前年度実績を踏まえ上方修正"
        assert konbini[1]["superseded_at"] is None
        # Nothing reported yet: nothing is announced.
        assert await conn.fetchval("select count(*) from outbox") == 0


async def test_reimport_changes_nothing_and_a_changed_target_becomes_a_revision(
    indicators_db: IndicatorsDb,
) -> None:
    data = small_plan("reimportku")
    await import_indicator_definitions(indicators_db.pool, plan_file(data), now=JUNE_2024)
    again = await import_indicator_definitions(indicators_db.pool, plan_file(data), now=JUNE_2024)
    assert again.created == [] and again.updated == [] and len(again.unchanged) == 6
    assert again.target_revisions == 0

    data["indicators"][0]["targets"][2]["value"] = 15  # p1.rpa FY2025: 12 -> 15
    changed = await import_indicator_definitions(
        indicators_db.pool, plan_file(data), now=JUNE_2024 + timedelta(days=1)
    )
    assert changed.updated == ["p1.rpa"] and changed.target_revisions == 1
    async with indicators_db.pool.acquire() as conn:
        rows = await conn.fetch(
            """select value, revision, reason, superseded_at from targets
               where indicator_id = $1 and fiscal_year = 2025 order by revision""",
            ids.indicator_id("reimportku", "p1.rpa"),
        )
    assert [(r["value"], r["revision"], r["reason"]) for r in rows] == [
        (12, 1, None),
        (15, 2, REIMPORT_REASON),
    ]
    assert rows[0]["superseded_at"] is not None and rows[1]["superseded_at"] is None


async def test_an_import_that_fails_half_way_writes_nothing(indicators_db: IndicatorsDb) -> None:
    pf = dataset("itabashi-dx2025-early")  # more than one chunk of definitions

    def fail(done: int, total: int) -> None:
        raise RuntimeError(f"interrupted at {done}/{total}")

    with pytest.raises(RuntimeError, match="interrupted"):
        await import_indicator_definitions(indicators_db.pool, pf, progress=fail)
    async with indicators_db.pool.acquire() as conn:
        assert (
            await conn.fetchval("select count(*) from indicators where plan_key = $1", pf.plan.key)
            == 0
        )


@pytest.mark.parametrize(
    "name",
    [
        "itabashi-dx2025-early",
        "itabashi-dx2025-late",
        "itabashi-ict2020-addendum",
        "nerima-ict2016",
        "nerima-ict2020",
        "bunkyo-ict-vision-2019",
    ],
)
async def test_every_reference_dataset_imports(indicators_db: IndicatorsDb, name: str) -> None:
    pf = dataset(name)
    expected = len(pf.indicators) + sum(len(i.sub_series) for i in pf.indicators)
    result = await import_indicator_definitions(indicators_db.pool, pf)
    assert result.total == expected and len(result.created) == expected
    again = await import_indicator_definitions(indicators_db.pool, pf)
    assert len(again.unchanged) == expected
    # the ingest path reads the targets with the indicators (one statement); the listings
    # read them apart: the same records either way
    async with indicators_db.pool.acquire() as conn:
        rows = await conn.fetch(
            f"select {INDICATOR_COLUMNS} from indicators i where i.plan_id = $1", pf.plan_id()
        )
        apart = await with_targets(conn, rows)
        together = await load_indicators(conn, list(apart), lock=False)
        by_key = await load_indicators_by_key(conn, [(r.tenant, r.key) for r in apart.values()])
    assert len(apart) == expected and any(r.spec.targets for r in apart.values())
    assert together == apart
    assert {type(t.value) for r in together.values() for t in r.spec.targets} <= {
        Decimal,
        type(None),
    }
    assert {r.id: r for r in by_key.values()} == apart


# --- ingestion -----------------------------------------------------------------------------------


async def test_a_repeated_idempotency_key_is_applied_once(imported: IndicatorsDb) -> None:
    first = await apply(imported, report("p1.rpa", "FY2023", 11, idem="dup-1"))
    assert len(first.accepted) == 1
    again = await apply(imported, report("p1.rpa", "FY2023", 11, idem="dup-1"))
    assert again.accepted == [] and len(again.duplicates) == 1
    same_batch = await apply(
        imported,
        report("p1.rpa", "FY2023", 9, idem="dup-2"),
        report("p1.rpa", "FY2023", 9, idem="dup-2"),
    )
    assert len(same_batch.accepted) == 1 and len(same_batch.duplicates) == 1
    reused = await apply(imported, report("p1.rpa", "FY2023", 99, idem="dup-1"))
    assert [r.code for _, r in reused.rejected] == ["idempotency_key_reused"]
    async with imported.pool.acquire() as conn:
        keys = await conn.fetch(
            "select idempotency_key from measurements where idempotency_key like 'dup-%' order by 1"
        )
    assert [r["idempotency_key"] for r in keys] == ["dup-1", "dup-2"]


async def test_a_batch_reads_and_writes_measurements_in_one_statement_each(
    indicators_db: IndicatorsDb,
) -> None:
    """Duplicates, a reused key, new values that supersede current ones and a late report, in
    one batch: one read of the measurements (the batch's keys, the current values, the new
    ids) and one write (the new rows and the values they supersede)."""
    await import_indicator_definitions(indicators_db.pool, plan_file(small_plan("oneku")))
    imported = indicators_db

    def one(key: str, period: str, value: int, idem: str, at: datetime) -> Report:
        return report(key, period, value, tenant="oneku", idem=idem, at=at)

    await apply(imported, one("p1.rpa", "FY2023", 1, "one-1", T0))
    await apply(imported, one("p1.hours", "2024-04", 1, "one-2", T0))
    later = T0 + timedelta(days=1)
    batch = [
        one("p1.rpa", "FY2023", 1, "one-1", T0),  # a duplicate
        one("p1.rpa", "FY2023", 5, "one-2", later),  # a reused key
        one("p1.rpa", "FY2023", 2, "one-3", later),  # supersedes
        one("p1.hours", "2024-04", 3, "one-4", later),  # supersedes
        one("p1.hours", "2024-04", 4, "one-5", T0 - timedelta(days=1)),  # late
    ]
    seen: list[str] = []
    async with imported.pool.acquire() as conn, conn.transaction():
        conn.add_query_logger(lambda query: seen.append(query.query))
        result = await ingest(conn, batch, now=JUNE_2024)
        touching = [q for q in seen if "measurements" in q]
        rows = await conn.fetch(
            """select idempotency_key, is_current, superseded_by is not null as superseded
               from measurements where tenant = 'oneku' order by 1"""
        )
    assert len(result.accepted) == 3 and len(result.duplicates) == 1
    assert [r.code for _, r in result.rejected] == ["idempotency_key_reused"]
    assert [tuple(r) for r in rows] == [
        ("one-1", False, True),
        ("one-2", False, True),
        ("one-3", True, False),
        ("one-4", True, False),
        ("one-5", False, True),
    ]
    assert len(touching) == 2, touching


async def test_a_correction_supersedes_and_keeps_the_earlier_value(imported: IndicatorsDb) -> None:
    key = "p1.rpa"
    await apply(imported, report(key, "FY2024", 8, idem="c-1", at=T0))
    async with imported.pool.acquire() as conn:
        status = await conn.fetchrow(
            STATUS_2024,
            ids.indicator_id("storeku", key),
        )
    assert status["status"] == "off_track" and status["figures"]["actual"] == "8"
    fixed = await apply(
        imported,
        report(key, "FY2024", 11, idem="c-2", at=T0 + timedelta(days=3), is_correction=True),
    )
    [change] = fixed.changes
    assert (change.from_status, change.evaluation.status) == ("off_track", "achieved")
    async with imported.pool.acquire() as conn:
        rows = await conn.fetch(
            """select id, value, is_current, superseded_by, is_correction from measurements
               where indicator_id = $1 and period = 'FY2024' order by id""",
            ids.indicator_id("storeku", key),
        )
        assert [(r["value"], r["is_current"]) for r in rows] == [(8, False), (11, True)]
        assert rows[0]["superseded_by"] == rows[1]["id"] and rows[1]["is_correction"]
        events = await outbox_events(conn, key)
    fy2024 = [e for e in events if e.fiscal_year == 2024]
    # (the first event's from_status is no_data if an earlier test evaluated FY2024 already)
    assert [e.to_status for e in fy2024] == ["off_track", "achieved"]
    assert fy2024[1].from_status == "off_track"
    last = fy2024[-1]
    pf = plan_file(small_plan("storeku"))
    assert last.measure_ids == [pf.node_id("1"), pf.node_id("1/1")]
    assert last.department_codes == ["IT推進課"] and last.plan_ids == [pf.plan_id()]
    assert last.figures.actual == 11 and last.figures.target == 10 and last.rule == "per_year_final"
    assert "11シナリオ" in last.reason


async def test_one_correction_rule_whatever_the_occurred_at(imported: IndicatorsDb) -> None:
    """Current = greatest (is_correction, occurred_at, received order); nothing is dropped."""
    key, period = "p1.sns", "FY2024"
    await apply(imported, report(key, period, 10, idem="r-original", at=T0 + timedelta(days=5)))
    # a correction recorded before the value it corrects still supersedes it
    early = await apply(imported, report(key, period, 8, idem="r-fix-1", at=T0, is_correction=True))
    assert len(early.accepted) == 1
    # an ordinary report does not replace a correction, even recorded later: kept as history
    ordinary = await apply(
        imported, report(key, period, 12, idem="r-later", at=T0 + timedelta(days=9))
    )
    assert len(ordinary.accepted) == 1 and ordinary.changes == []
    # a later correction supersedes the earlier correction; an older one does not
    await apply(
        imported,
        report(key, period, 9, idem="r-fix-2", at=T0 + timedelta(days=1), is_correction=True),
        report(key, period, 7, idem="r-fix-0", at=T0 - timedelta(days=1), is_correction=True),
    )
    async with imported.pool.acquire() as conn:
        rows = await conn.fetch(
            """select m.idempotency_key, m.is_current, w.idempotency_key as by
               from measurements m left join measurements w on w.id = m.superseded_by
               where m.indicator_id = $1 and m.period = $2 order by m.id""",
            ids.indicator_id("storeku", key),
            period,
        )
    assert [tuple(r) for r in rows] == [
        ("r-original", False, "r-fix-1"),
        ("r-fix-1", False, "r-fix-2"),
        ("r-later", False, "r-fix-1"),
        ("r-fix-2", True, None),
        ("r-fix-0", False, "r-fix-2"),
    ]


async def test_a_late_report_recorded_earlier_does_not_replace_the_current_value(
    imported: IndicatorsDb,
) -> None:
    key = "p1.konbini"
    await apply(imported, report(key, "FY2023", 31, idem="o-new", at=T0 + timedelta(days=10)))
    late = await apply(imported, report(key, "FY2023", 20, idem="o-old", at=T0))
    assert len(late.accepted) == 1 and late.changes == []
    async with imported.pool.acquire() as conn:
        rows = await conn.fetch(
            """select idempotency_key, is_current, superseded_by from measurements
               where indicator_id = $1 and period = 'FY2023' order by occurred_at""",
            ids.indicator_id("storeku", key),
        )
    assert [(r["idempotency_key"], r["is_current"]) for r in rows] == [
        ("o-old", False),
        ("o-new", True),
    ]
    # and two reports of one batch in the wrong order end the same way
    batch = await apply(
        imported,
        report(key, "FY2024", 33, idem="b-new", at=T0 + timedelta(days=2)),
        report(key, "FY2024", 25, idem="b-old", at=T0 + timedelta(days=1)),
    )
    assert len(batch.accepted) == 2
    async with imported.pool.acquire() as conn:
        current = await conn.fetchval(
            "select value from measurements where indicator_id = $1 and period = 'FY2024' "
            "and is_current",
            ids.indicator_id("storeku", key),
        )
    assert current == 33


async def test_a_write_returns_the_current_values_the_table_then_holds(
    indicators_db: IndicatorsDb,
) -> None:
    """The ingest evaluates the current values ``write_measurements`` returns instead of reading
    them again: after every kind of write they are what ``current_observations`` reads
    (a value as the database gives it back, e.g. ``1E+2`` as ``100``)."""
    await import_indicator_definitions(indicators_db.pool, plan_file(small_plan("writtenku")))
    rpa, sns = ids.indicator_id("writtenku", "p1.rpa"), ids.indicator_id("writtenku", "p1.sns")

    def new(indicator: Any, period: str, value: object, at: datetime, **kw: Any) -> Any:
        return NewMeasurement(
            tenant="writtenku",
            indicator_id=indicator,
            period=ReportingPeriod.parse(period),
            value=None if value is None else Decimal(str(value)),
            text_value=kw.pop("text", None),
            unit=None,
            source="test",
            idempotency_key=f"written-{uuid.uuid4()}",
            reported_by=None,
            is_correction=kw.pop("is_correction", False),
            comment=None,
            occurred_at=at,
            event_id=None,
            via="kafka",
        )

    batches = [
        [new(rpa, "FY2023", 5, T0), new(rpa, "FY2024", "1E+2", T0)],  # new periods
        [new(rpa, "FY2024", 7, T0 + timedelta(days=1))],  # a later value; FY2023 untouched
        [new(rpa, "FY2024", 9, T0 - timedelta(days=9))],  # a late report loses
        [  # two of one period in a batch, and a correction that wins over both
            new(rpa, "FY2025", 1, T0 + timedelta(days=2)),
            new(rpa, "FY2025", 2, T0 + timedelta(days=3)),
            new(rpa, "FY2024", "3.50", T0, is_correction=True),
            new(sns, "FY2024", None, T0, text="テキスト"),
        ],
    ]

    def rows(current: Any) -> dict[Any, list[tuple[str, Any, Any, str]]]:
        return {
            i: sorted((o.period.label, o.value, o.text, str(o.value)) for o in obs)
            for i, obs in current.items()
        }

    async with indicators_db.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            for batch in batches:
                written = await write_measurements(conn, batch)
                read = await current_observations(conn, list(written.current))
                assert set(written.current) == {m.indicator_id for m in batch}
                assert rows(written.current) == rows(read)
            assert rows(written.current)[rpa] == [
                ("FY2023", Decimal("5"), None, "5"),
                ("FY2024", Decimal("3.50"), None, "3.50"),
                ("FY2025", Decimal("2"), None, "2"),
            ]
        finally:
            await tx.rollback()


async def test_reports_that_cannot_be_applied_are_refused_with_a_reason(
    imported: IndicatorsDb,
) -> None:
    result = await apply(
        imported,
        report("p1.nope", "FY2024", 1),
        report("p1.rpa", "FY2024", 1, tenant="thirdku"),
        report("p1.rpa", "FY2024", 1, unit="件"),
        report("p1.rpa", "FY2019", 1),
        report("p1.rpa", "FY2024", None, text="十数件"),
        report("p1.rpa", "2024-09", 1),
        report("p1.cashless", "FY2024", None),
        report("p1.rpa", "FY2024", 1, unit="シナリオ", idem="refusals-ok"),
    )
    assert [(r.indicator_key, e.code) for r, e in result.rejected] == [
        ("p1.nope", "unknown_indicator"),
        ("p1.rpa", "unknown_tenant"),
        ("p1.rpa", "unit_mismatch"),
        ("p1.rpa", "period_outside_plan"),
        ("p1.rpa", "non_numeric_value"),
        ("p1.rpa", "period_in_future"),
        ("p1.cashless", "missing_value"),
    ]
    assert [a.report.idempotency_key for a in result.accepted] == ["refusals-ok"]


async def test_a_thousand_reports_in_one_batch(imported: IndicatorsDb) -> None:
    reports = [
        report(
            "p1.hours",
            "2024-04" if i % 2 else "2024-05",
            i,
            idem=f"bulk-{i}",
            at=T0 + timedelta(seconds=i),
        )
        for i in range(1000)
    ]
    result = await apply(imported, *reports)
    assert len(result.accepted) == 1000
    async with imported.pool.acquire() as conn:
        current = await conn.fetch(
            """select period, value from measurements where indicator_id = $1 and is_current
               order by period""",
            ids.indicator_id("storeku", "p1.hours"),
        )
        status = await conn.fetchrow(
            STATUS_2024,
            ids.indicator_id("storeku", "p1.hours"),
        )
    # the latest recorded value of each month is current: 999 (April) and 998 (May)
    assert [(r["period"], r["value"]) for r in current] == [("2024-04", 999), ("2024-05", 998)]
    assert status["figures"]["actual"] == "1997" and status["status"] == "achieved"


async def test_the_sweep_marks_overdue_reports_stale_and_announces_it(
    indicators_db: IndicatorsDb,
) -> None:
    pf = plan_file(small_plan("sweepku"))
    await import_indicator_definitions(indicators_db.pool, pf, now=JUNE_2024)
    hours = ids.indicator_id("sweepku", "p1.hours")
    await apply(
        indicators_db,
        report("p1.hours", "2024-04", 100, tenant="sweepku", idem="s-4"),
        report("p1.hours", "2024-05", 100, tenant="sweepku", idem="s-5"),
    )

    async def statuses_of_hours() -> list[str]:
        async with indicators_db.pool.acquire() as conn:
            rows = await conn.fetch(
                "select body from outbox where convert_from(body, 'utf8')::jsonb"
                " -> 'payload' ->> 'indicator_id' = $1 order by id",
                str(hours),
            )
        return [parse_event(r["body"]).payload.to_status for r in rows]

    # The sweep covers every tenant; this test looks at its own indicator only.
    await sweep(indicators_db.pool, datetime(2024, 7, 20, tzinfo=UTC))
    assert "stale" not in await statuses_of_hours()
    await sweep(indicators_db.pool, datetime(2024, 8, 5, tzinfo=UTC))  # June was due 30 July
    assert (await statuses_of_hours())[-1] == "stale"
    async with indicators_db.pool.acquire() as conn:
        row = await conn.fetchrow(
            STATUS_2024,
            hours,
        )
        assert row["status"] == "stale" and row["figures"]["overdue_period"] == "2024-06"
        body = await conn.fetchval(
            "select body from outbox where convert_from(body, 'utf8') like '%' || $1 || '%' "
            "order by id desc limit 1",
            str(hours),
        )
    stale = parse_event(body, expect=IndicatorStatusChanged)
    assert stale.payload.to_status == "stale" and stale.payload.from_status == "on_track"
    assert stale.aggregate_id == str(hours) and (stale.aggregate_version or 0) >= 2
    assert "2024年6月分の実績報告が期限（2024-07-30）を過ぎても" in stale.payload.reason
    # a second sweep at the same time announces nothing more
    before = len(await statuses_of_hours())
    await sweep(indicators_db.pool, datetime(2024, 8, 5, tzinfo=UTC))
    assert len(await statuses_of_hours()) == before
    # the overdue report arrives: no longer stale
    late = await apply(
        indicators_db,
        report("p1.hours", "2024-06", 100, tenant="sweepku", idem="s-6"),
        now=datetime(2024, 8, 6, tzinfo=UTC),
    )
    assert [c.evaluation.status.value for c in late.changes] == ["on_track"]


async def test_a_year_the_plan_prints_as_a_dash_has_no_target(indicators_db: IndicatorsDb) -> None:
    data = small_plan("dashku")
    rpa = next(i for i in data["indicators"] if i["key"] == "p1.rpa")
    rpa["targets"] = [
        {"fiscal_year": 2023, "comparator": "gte", "value": 10},
        {"fiscal_year": 2024, "none": True, "printed": "―"},
        {"fiscal_year": 2025, "comparator": "gte", "value": 12},
    ]
    await import_indicator_definitions(indicators_db.pool, plan_file(data), now=T0)
    result = await apply(
        indicators_db, report("p1.rpa", "FY2024", 3, tenant="dashku", unit="シナリオ")
    )
    assert len(result.accepted) == 1
    row = await indicators_db.pool.fetchrow(STATUS_2024, ids.indicator_id("dashku", "p1.rpa"))
    # not 2023's 10 carried forward: the year has no target and is not judged
    figures = row["figures"] if isinstance(row["figures"], dict) else json.loads(row["figures"])
    assert row["status"] == "no_data" and figures.get("target") is None
    assert figures["target_text"] == "―"
