"""The evaluation rules, one case per rule and edge (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from uuid import uuid4

import pytest

from suishin.contracts.enums import Aggregation, Comparator, IndicatorStatus, Polarity
from suishin.indicators.domain.evaluation import (
    Evaluation,
    EvaluationFigures,
    classify_text_target,
    evaluate,
    overdue_report,
    select_target,
    years_to_evaluate,
)
from suishin.indicators.domain.model import (
    Cadence,
    IndicatorSpec,
    Observation,
    ReportingPeriod,
    ReportRejected,
    TargetSpec,
    check_report,
    normalise_unit,
)

ACHIEVED = IndicatorStatus.ACHIEVED
ON_TRACK = IndicatorStatus.ON_TRACK
AT_RISK = IndicatorStatus.AT_RISK
OFF_TRACK = IndicatorStatus.OFF_TRACK
NO_DATA = IndicatorStatus.NO_DATA
STALE = IndicatorStatus.STALE
GTE, LTE, EQ, APPROX = Comparator.AT_LEAST, Comparator.AT_MOST, Comparator.EQUAL, Comparator.ABOUT

# Late enough that yearly reports of FY2021-2024 are due, early enough for FY2025 to run.
LATER = datetime(2025, 10, 1, tzinfo=UTC)


def spec(**kw: object) -> IndicatorSpec:
    base: dict[str, object] = {
        "id": uuid4(),
        "tenant": "itabashi",
        "key": "dx2025.test",
        "title": "テスト指標",
        "unit": "件",
        "period_start_fy": 2021,
        "period_end_fy": 2025,
        "cadence": Cadence.NONE,
    }
    base.update(kw)
    return IndicatorSpec(**base)  # type: ignore[arg-type]


def target(
    fy: int, value: object = None, comparator: Comparator | None = GTE, **kw: object
) -> TargetSpec:
    return TargetSpec(
        fiscal_year=fy,
        value=None if value is None else D(str(value)),
        comparator=comparator if value is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def obs(period: str, value: object = None, text: str | None = None) -> Observation:
    number = None if value is None else D(str(value))
    return Observation(ReportingPeriod.parse(period), number, text)


def months(fy: int, *values: object) -> list[Observation]:
    out = []
    for i, v in enumerate(values):
        m = 4 + i
        year, month = (fy, m) if m <= 12 else (fy + 1, m - 12)
        out.append(obs(f"{year:04d}-{month:02d}", v))
    return out


def run(
    s: IndicatorSpec, fy: int, observations: list[Observation], now: datetime = LATER
) -> Evaluation:
    return evaluate(s, fy, observations, now)


# --- periods --------------------------------------------------------------------------------------


def test_periods_know_their_fiscal_year_and_coverage() -> None:
    assert ReportingPeriod.parse("FY2024").coverage == 1
    aug = ReportingPeriod.parse("2024-08")
    assert (aug.fiscal_year, aug.coverage) == (2024, D(5) / 12)
    feb = ReportingPeriod.parse("2025-02")
    assert (feb.fiscal_year, feb.coverage) == (2024, D(11) / 12)
    day = ReportingPeriod.parse("2024-04-30")
    assert day.fiscal_year == 2024 and day.coverage == D(30) / 365
    assert ReportingPeriod.parse("令和6年度").label == "FY2024"


# --- per-year flows -------------------------------------------------------------------------------


def test_a_year_report_that_meets_the_target_is_achieved_and_one_that_misses_is_off_track() -> None:
    s = spec(unit="シナリオ", targets=(target(2024, 10),))
    good = run(s, 2024, [obs("FY2024", 12)])
    assert (good.status, good.rule) == (ACHIEVED, "per_year_final")
    assert good.figures.actual == 12 and good.figures.target == 10
    assert good.figures.comparator == "gte"
    assert "12シナリオ" in good.reason and "10シナリオ以上" in good.reason
    bad = run(s, 2024, [obs("FY2024", 9)])
    assert (bad.status, bad.rule) == (OFF_TRACK, "per_year_final")
    assert "満たしていません" in bad.reason


def test_monthly_data_is_compared_with_the_target_pro_rated_linearly() -> None:
    s = spec(unit="時間", targets=(target(2024, 1200),))
    on = run(s, 2024, months(2024, 100, 100, 100, 100, 100))
    assert (on.status, on.rule) == (ON_TRACK, "per_year_prorated")
    assert on.figures.expected_to_date == 500 and on.figures.actual == 500
    assert on.figures.coverage == D(5) / 12
    assert "5か月分" in on.reason and "按分" in on.reason
    risk = run(s, 2024, months(2024, 92, 92, 92, 92, 92))  # 460 of 500: 8 % behind
    assert risk.status == AT_RISK
    off = run(s, 2024, months(2024, 60, 60, 60, 60, 60))  # 300 of 500
    assert off.status == OFF_TRACK
    assert "60%" in off.reason


def test_reaching_the_whole_target_early_is_achieved() -> None:
    s = spec(targets=(target(2024, 100),))
    e = run(s, 2024, months(2024, 60, 50))
    assert (e.status, e.rule) == (ACHIEVED, "per_year_reached")


def test_a_missing_month_is_unknown_not_zero() -> None:
    s = spec(targets=(target(2024, 120),))
    e = run(s, 2024, [obs("2024-04", 10), obs("2024-05", 10), obs("2024-07", 10)])
    assert e.figures.coverage == D(3) / 12
    assert e.figures.expected_to_date == 30
    assert e.status == ON_TRACK
    assert "欠けた月あり" in e.reason


def test_a_year_report_wins_over_the_months_of_the_same_year() -> None:
    s = spec(targets=(target(2024, 120),))
    e = run(s, 2024, [*months(2024, 1, 1, 1), obs("FY2024", 130)])
    assert (e.status, e.figures.actual, e.figures.coverage) == (ACHIEVED, 130, 1)


def test_an_as_of_value_of_a_flow_is_the_year_to_date_total() -> None:
    s = spec(targets=(target(2024, 365),))
    e = run(s, 2024, [obs("2024-04-30", 20)])  # 30 days: 30 expected
    assert e.figures.expected_to_date == 30
    assert e.status == OFF_TRACK
    assert "2024年4月30日時点" in e.reason


def test_a_year_without_its_own_target_has_none_nothing_is_carried_forward() -> None:
    s = spec(targets=(target(2024, 10),))
    e = run(s, 2025, [obs("FY2025", 11)])
    assert (e.status, e.rule, e.figures.target) == (NO_DATA, "no_target_this_year", None)
    assert "目標を示していません" in e.reason and "適用" not in e.reason


def test_a_year_printed_as_a_dash_has_no_target_even_between_targets() -> None:
    # a level with targets for 2024 and 2026 and 「―」 for 2025: no straight line through 2025
    dash = target(2025, text="―")
    s = spec(unit="%", targets=(target(2024, 50), dash, target(2026, 70)))
    e = run(s, 2025, [obs("FY2025", 40)])
    assert (e.status, e.rule) == (NO_DATA, "no_target_this_year")
    assert run(s, 2026, [obs("FY2026", 71)]).status == ACHIEVED


def test_nothing_reported_is_no_data() -> None:
    s = spec(targets=(target(2024, 10),))
    e = run(s, 2024, [obs("FY2023", 5)])
    assert (e.status, e.rule) == (NO_DATA, "no_measurement")
    assert e.figures.target == 10


# --- multi-year and cumulative targets ------------------------------------------------------------


def rpa_scenarios() -> IndicatorSpec:
    """板橋区 前期施策2: 3か年で計30シナリオ以上 (FY2021-2023), 13 and 10 done."""
    return spec(
        unit="シナリオ",
        period_start_fy=2021,
        period_end_fy=2023,
        targets=(target(2023, 30, from_fiscal_year=2021),),
    )


def test_a_multi_year_target_is_shared_out_over_its_years() -> None:
    s = rpa_scenarios()
    done = [obs("FY2021", 13), obs("FY2022", 10)]
    y1 = run(s, 2021, done)
    assert (y1.status, y1.rule) == (ACHIEVED, "cumulative_year_share")
    assert (y1.figures.actual, y1.figures.expected_to_date) == (13, 10)
    y2 = run(s, 2022, done)
    assert (y2.status, y2.figures.actual, y2.figures.expected_to_date) == (ACHIEVED, 23, 20)
    assert (y2.figures.span_from, y2.figures.span_to) == (2021, 2023)
    # the event carries the year's own figure beside the running total (the plans grader reads
    # a year share against printed bars with it)
    event = y2.figures.to_event()
    assert (event.actual, event.year_actual) == (23, 10)


def test_the_last_year_of_a_multi_year_target_is_judged_on_the_remainder() -> None:
    s = rpa_scenarios()
    done = [obs("FY2021", 13), obs("FY2022", 10)]
    waiting = run(s, 2023, done)
    assert waiting.status == NO_DATA
    assert waiting.figures.remaining == 7  # 30 - 13 - 10
    assert "残り7シナリオ" in waiting.reason
    met = run(s, 2023, [*done, obs("FY2023", 7)])
    assert (met.status, met.rule) == (ACHIEVED, "cumulative_final")
    assert met.figures.actual == 30 and met.figures.remaining == 7
    missed = run(s, 2023, [*done, obs("FY2023", 6)])
    assert (missed.status, missed.rule) == (OFF_TRACK, "cumulative_final")


def test_a_year_behind_its_share_is_at_risk_or_off_track() -> None:
    s = rpa_scenarios()
    assert run(s, 2021, [obs("FY2021", D("9.5"))]).status == AT_RISK  # 5 % behind 10
    assert run(s, 2021, [obs("FY2021", 8)]).status == OFF_TRACK  # 20 % behind


def test_a_running_year_of_a_multi_year_target_is_pro_rated_by_month() -> None:
    s = rpa_scenarios()
    e = run(s, 2023, [obs("FY2021", 13), obs("FY2022", 10), *months(2023, 1, 1, 1)])
    # 23 + 3 = 26 against 20 + 10 * 3/12 = 22.5
    assert (e.status, e.rule) == (ON_TRACK, "cumulative_prorated")
    assert e.figures.actual == 26 and e.figures.expected_to_date == D("22.5")


def test_a_reached_multi_year_total_is_achieved_before_the_last_year() -> None:
    s = rpa_scenarios()
    e = run(s, 2022, [obs("FY2021", 20), obs("FY2022", 11)])
    assert (e.status, e.rule) == (ACHIEVED, "cumulative_reached")


def test_missing_earlier_years_count_as_zero_and_say_so() -> None:
    s = rpa_scenarios()
    e = run(s, 2022, [obs("FY2022", 25)])
    assert e.figures.actual == 25
    assert "令和3年度は実績なしとして0で計算" in e.reason


def test_year_targets_inside_a_multi_year_target_are_the_years_share() -> None:
    """板橋区 dx2025-early.e02-1: 10, 10, 7 per year and 計30 over FY2021-2023."""
    s = spec(
        unit="シナリオ",
        aggregation=Aggregation.CUMULATIVE,
        period_start_fy=2021,
        period_end_fy=2023,
        targets=(
            target(2021, 10),
            target(2022, 10),
            target(2023, 7),
            target(2023, 30, from_fiscal_year=2021),
        ),
    )
    done = [obs("FY2021", 13), obs("FY2022", 10)]
    first = run(s, 2021, done)
    assert (first.status, first.rule, first.figures.actual) == (ACHIEVED, "per_year_final", 13)
    last = run(s, 2023, [*done, obs("FY2023", 7)])
    assert (last.status, last.figures.target, last.figures.remaining) == (ACHIEVED, 7, 7)
    assert "今年度の残り7シナリオ" in last.reason and "累計30シナリオ" in last.reason
    assert run(s, 2023, [*done, obs("FY2023", 6)]).status == OFF_TRACK


def test_a_year_target_still_counts_after_the_multi_year_total_is_reached() -> None:
    """板橋区 dx2025-early.e02-3: 計3回 reached in FY2022, yet 1回以上 set for FY2023."""
    s = spec(
        unit="回",
        aggregation=Aggregation.CUMULATIVE,
        period_start_fy=2021,
        period_end_fy=2023,
        targets=(target(2023, 1), target(2023, 3, from_fiscal_year=2021)),
    )
    assert run(s, 2023, [obs("FY2021", 2), obs("FY2022", 1), obs("FY2023", 0)]).status == OFF_TRACK


def test_cumulative_without_multi_year_target_reads_targets_as_running_totals() -> None:
    """板橋区 ict2020-addendum.m07: 累計 1 before the plan, 5 by FY2020."""
    s = spec(
        unit="施策",
        aggregation=Aggregation.CUMULATIVE,
        period_start_fy=2017,
        period_end_fy=2020,
        targets=(target(2020, 5),),
    )
    e = run(s, 2018, [obs("FY2017", 1), obs("FY2018", 2)])
    assert (e.status, e.figures.actual, e.figures.expected_to_date) == (ACHIEVED, 3, D("2.5"))


def test_cumulative_aggregation_follows_the_running_total_targets() -> None:
    s = spec(
        aggregation=Aggregation.CUMULATIVE,
        period_start_fy=2024,
        period_end_fy=2025,
        targets=(target(2024, 100), target(2025, 250)),
    )
    first = run(s, 2024, [obs("FY2024", 110)])
    assert (first.status, first.figures.actual) == (ACHIEVED, 110)
    second = run(s, 2025, [obs("FY2024", 110), *months(2025, 25, 25, 25, 25, 25, 25)])
    # running total 260 of 250 already reached
    assert (second.status, second.rule) == (ACHIEVED, "cumulative_reached")
    slow = run(s, 2025, [obs("FY2024", 110), *months(2025, 10, 10, 10, 10, 10, 10)])
    # 170 against 100 + 150 * 6/12 = 175: 3 % behind
    assert (slow.status, slow.figures.expected_to_date) == (AT_RISK, 175)


# --- levels -------------------------------------------------------------------------------------


def test_a_snapshot_is_compared_with_its_target_at_the_year_end() -> None:
    s = spec(aggregation=Aggregation.SNAPSHOT, targets=(target(2024, 230),))
    assert run(s, 2024, [obs("FY2024", 231)]).status == ACHIEVED
    e = run(s, 2024, [obs("FY2024", 220)])
    assert (e.status, e.rule) == (OFF_TRACK, "level_final")


def test_a_snapshot_during_the_year_follows_the_line_from_the_last_level() -> None:
    s = spec(aggregation=Aggregation.SNAPSHOT, targets=(target(2024, 220),))
    previous = obs("FY2023", 100)
    e = run(s, 2024, [previous, obs("2024-09-30", 161)])
    # 183 of 365 days along the line from 100 to 220
    assert e.rule == "level_prorated" and e.figures.reference == 100
    assert e.figures.expected_to_date == D("160.16")
    assert e.status == ON_TRACK
    assert run(s, 2024, [previous, obs("2024-09-30", 150)]).status == AT_RISK
    assert run(s, 2024, [previous, obs("2024-09-30", 110)]).status == OFF_TRACK


def test_a_snapshot_uses_the_baseline_when_there_is_no_earlier_value() -> None:
    s = spec(
        aggregation=Aggregation.SNAPSHOT,
        baseline_value=D(203),
        baseline_period="FY2017",
        period_start_fy=2018,
        period_end_fy=2020,
        targets=(target(2020, 230),),
    )
    e = run(s, 2018, [obs("FY2018", 212)])
    # on the line 203 -> 230 over three years the end of FY2018 is at 212
    assert (e.status, e.rule, e.figures.expected_to_date) == (ACHIEVED, "level_year_share", 212)


def test_a_snapshot_without_any_reference_is_not_judged_behind_during_the_year() -> None:
    s = spec(aggregation=Aggregation.SNAPSHOT, targets=(target(2024, 100),))
    e = run(s, 2024, [obs("2024-06", 40)])
    assert (e.status, e.rule) == (ON_TRACK, "level_in_progress")
    assert "比較できる前年度の値がない" in e.reason


def test_a_ratio_is_a_level_even_per_year() -> None:
    s = spec(unit="%", targets=(target(2024, 60),))
    e = run(s, 2024, months(2024, 50, 70, 65))  # never summed
    assert e.figures.actual == 65
    assert e.status == ON_TRACK


# --- polarity -----------------------------------------------------------------------------------


def test_lower_is_better() -> None:
    s = spec(polarity=Polarity.LOWER_IS_BETTER, targets=(target(2024, 600, LTE),))
    assert run(s, 2024, [obs("FY2024", 580)]).status == ACHIEVED
    assert run(s, 2024, [obs("FY2024", 601)]).status == OFF_TRACK
    # expected to date 250 after five months
    assert run(s, 2024, months(2024, 45, 45, 45, 45, 45)).status == ON_TRACK  # 225
    assert run(s, 2024, months(2024, 54, 54, 54, 54, 54)).status == AT_RISK  # 270
    assert run(s, 2024, months(2024, 60, 60, 60, 60, 60)).status == OFF_TRACK  # 300


def test_lower_is_better_with_no_comparator_reads_the_target_as_a_ceiling() -> None:
    s = spec(polarity=Polarity.LOWER_IS_BETTER, targets=(target(2024, 50, None),))
    e = run(s, 2024, [obs("FY2024", 40)])
    assert e.status == ACHIEVED and e.figures.comparator == "lte"


def test_keep_is_a_band_around_the_target() -> None:
    s = spec(
        polarity=Polarity.KEEP,
        aggregation=Aggregation.SNAPSHOT,
        unit="%",
        targets=(target(2024, 100, None),),
    )
    assert run(s, 2024, [obs("FY2024", 97)]).status == ACHIEVED  # within ±5 %
    assert run(s, 2024, [obs("FY2024", 103)]).status == ACHIEVED
    assert run(s, 2024, [obs("FY2024", 90)]).status == OFF_TRACK
    assert run(s, 2024, [obs("2024-06", 92)]).status == AT_RISK  # 3 beyond the band
    assert run(s, 2024, [obs("2024-06", 80)]).status == OFF_TRACK


def test_zero_tolerance_is_off_track_at_the_first_incident() -> None:
    s = spec(polarity=Polarity.ZERO_TOLERANCE, unit="件", targets=(target(2024, 0, LTE),))
    assert run(s, 2024, [obs("FY2024", 0)]).status == ACHIEVED
    mid = run(s, 2024, months(2024, 0, 0))
    assert (mid.status, mid.rule) == (ON_TRACK, "zero_tolerance")
    breach = run(s, 2024, months(2024, 0, 1))
    assert (breach.status, breach.rule) == (OFF_TRACK, "zero_tolerance_breached")
    assert run(s, 2024, []).status == NO_DATA


# --- comparators --------------------------------------------------------------------------------


def test_approx_targets_accept_the_tolerance() -> None:
    s = spec(unit="件", aggregation=Aggregation.SNAPSHOT, targets=(target(2024, 459000, APPROX),))
    assert run(s, 2024, [obs("FY2024", 440000)]).status == ACHIEVED  # 4.1 % short
    assert run(s, 2024, [obs("FY2024", 430000)]).status == OFF_TRACK  # 6.3 % short
    tight = spec(
        unit="件",
        aggregation=Aggregation.SNAPSHOT,
        tolerance=D("0.01"),
        targets=(target(2024, 459000, APPROX),),
    )
    assert run(tight, 2024, [obs("FY2024", 450000)]).status == OFF_TRACK
    assert "約459,000件" in run(s, 2024, [obs("FY2024", 440000)]).reason


def test_a_point_target_with_a_direction_is_a_threshold_to_reach() -> None:
    higher = spec(unit="%", targets=(target(2024, 30, EQ),))
    assert run(higher, 2024, [obs("FY2024", 35)]).status == ACHIEVED
    assert run(higher, 2024, [obs("FY2024", 25)]).status == OFF_TRACK
    keep = spec(polarity=Polarity.KEEP, targets=(target(2024, 12, EQ),))
    assert run(keep, 2024, [obs("FY2024", 12)]).status == ACHIEVED
    assert run(keep, 2024, [obs("FY2024", 13)]).status == OFF_TRACK


def test_the_comparator_decides_the_direction() -> None:
    s = spec(targets=(target(2024, 5, LTE),))  # higher is better, yet "5件以下"
    assert run(s, 2024, [obs("FY2024", 4)]).status == ACHIEVED
    assert run(s, 2024, [obs("FY2024", 6)]).status == OFF_TRACK


# --- text targets -------------------------------------------------------------------------------


def test_text_targets_are_classified() -> None:
    from suishin.indicators.domain.evaluation import Direction

    assert classify_text_target("拡大") is Direction.UP
    assert classify_text_target("キャッシュレス決済対応窓口拡大 検討") is Direction.UP
    assert classify_text_target("増加") is Direction.UP
    assert classify_text_target("削減") is Direction.DOWN
    assert classify_text_target("R3実績を踏まえ検討") is None
    assert classify_text_target("実施") is None
    assert classify_text_target(None) is None


def test_a_directional_text_target_compares_with_the_previous_year() -> None:
    s = spec(targets=(target(2025, text="増加"),))
    up = run(s, 2025, [obs("FY2024", 3), obs("FY2025", 5)])
    assert (up.status, up.rule, up.figures.reference) == (ACHIEVED, "text_directional", 3)
    assert "増加" in up.reason
    running = run(s, 2025, [obs("FY2024", 3), obs("2025-06", 4)])
    assert running.status == ON_TRACK
    assert run(s, 2025, [obs("FY2024", 3), obs("FY2025", 3)]).status == AT_RISK
    assert run(s, 2025, [obs("FY2024", 3), obs("FY2025", 2)]).status == OFF_TRACK


def test_expanding_a_level_compares_with_the_previous_year() -> None:
    s = spec(aggregation=Aggregation.SNAPSHOT, targets=(target(2025, text="拡大"),))
    assert run(s, 2025, [obs("FY2024", 3), obs("FY2025", 5)]).rule == "text_directional"
    assert run(s, 2025, [obs("FY2024", 3), obs("FY2025", 2)]).status == OFF_TRACK


def test_expanding_a_flow_means_adding_something() -> None:
    """板橋区 dx2025-early.e16-1: オンライン申請 拡大手続き数 82 then 55, target 拡大."""
    s = spec(
        unit="手続き",
        targets=(target(2023, text="拡大"), target(2023, text="拡大", from_fiscal_year=2021)),
    )
    e = run(s, 2022, [obs("FY2021", 82), obs("FY2022", 55)])
    assert (e.status, e.rule) == (ACHIEVED, "text_expansion")
    assert run(s, 2022, [obs("2022-06", 5)]).status == ON_TRACK
    assert run(s, 2022, [obs("FY2022", 0)]).status == AT_RISK


def test_a_directional_text_target_falls_back_to_the_baseline() -> None:
    s = spec(baseline_value=D(10), baseline_period="FY2020", targets=(target(2021, text="増加"),))
    e = run(s, 2021, [obs("FY2021", 12)])
    assert (e.status, e.figures.reference) == (ACHIEVED, 10)
    assert "基準値" in e.reason


def test_milestones_follow_what_the_report_says() -> None:
    s = spec(milestone=True, unit=None, targets=(target(2024, text="検討"),))
    assert run(s, 2024, [obs("FY2024", text="検討を実施し方針を決定")]).rule == "milestone_reported"
    assert run(s, 2024, [obs("FY2024", text="検討を実施し方針を決定")]).status == ACHIEVED
    progress = run(s, 2024, [obs("2024-09", text="検討中")])
    assert (progress.status, progress.rule) == (ON_TRACK, "milestone_in_progress")
    done = run(s, 2024, [obs("2024-09", text="構築完了")])
    assert (done.status, done.rule) == (ACHIEVED, "milestone_done")
    setback = run(s, 2024, [obs("FY2024", text="予算の都合で見送り")])
    assert (setback.status, setback.rule) == (OFF_TRACK, "milestone_setback")
    assert run(s, 2024, []).status == NO_DATA


def test_a_numeric_indicator_without_a_target_only_checks_that_it_was_reported() -> None:
    s = spec(targets=())
    e = run(s, 2024, [obs("FY2024", 13)])
    assert (e.status, e.rule) == (ON_TRACK, "no_target")


def test_a_year_may_switch_from_a_number_to_a_text_target() -> None:
    s = spec(targets=(target(2024, 3), target(2025, text="検討")))
    assert run(s, 2024, [obs("FY2024", 3)]).rule == "per_year_final"
    assert run(s, 2025, [obs("FY2025", 1)]).rule == "milestone_reported"


# --- staleness ----------------------------------------------------------------------------------


def monthly(**kw: object) -> IndicatorSpec:
    return spec(cadence=Cadence.MONTHLY, targets=(target(2024, 1200),), **kw)


def test_a_missing_monthly_report_after_its_due_date_is_stale() -> None:
    s = monthly()
    data = months(2024, 100, 100, 100, 100, 100)  # April-August
    assert run(s, 2024, data, datetime(2024, 10, 15, tzinfo=UTC)).status == ON_TRACK
    e = run(s, 2024, data, datetime(2024, 11, 15, tzinfo=UTC))  # September was due 30 Oct
    assert (e.status, e.rule) == (STALE, "report_overdue")
    assert e.figures.overdue_period == "2024-09"
    assert e.figures.due_date is not None and e.figures.due_date.isoformat() == "2024-10-30"
    assert "2024年9月分" in e.reason and "順調" in e.reason
    assert e.figures.actual == 500  # the figures so far stay visible
    fresh = run(s, 2024, [*data, obs("2024-09", 100)], datetime(2024, 11, 15, tzinfo=UTC))
    assert fresh.status == ON_TRACK


def test_a_missing_yearly_report_is_stale_after_the_lag() -> None:
    s = spec(cadence=Cadence.YEARLY, targets=(target(2024, 10),))
    assert run(s, 2024, [], datetime(2025, 6, 1, tzinfo=UTC)).status == NO_DATA
    e = run(s, 2024, [], datetime(2025, 7, 1, tzinfo=UTC))  # due 2025-06-29
    assert e.status == STALE and e.figures.overdue_period == "FY2024"
    assert run(s, 2024, [obs("FY2024", 11)], datetime(2025, 7, 1, tzinfo=UTC)).status == ACHIEVED


def test_a_custom_lag_moves_the_due_date() -> None:
    s = spec(cadence=Cadence.YEARLY, report_lag_days=30, targets=(target(2024, 10),))
    assert run(s, 2024, [], datetime(2025, 5, 2, tzinfo=UTC)).status == STALE


def test_quarterly_reports_are_due_after_each_quarter() -> None:
    s = spec(cadence=Cadence.QUARTERLY, targets=(target(2024, 100),))
    overdue = overdue_report(s, 2024, [], datetime(2024, 8, 16, tzinfo=UTC))
    assert overdue is not None and overdue[0].label == "2024-06"
    assert overdue_report(s, 2024, months(2024, 1, 1, 1), datetime(2024, 8, 16, tzinfo=UTC)) is None


def test_due_dates_before_the_indicator_was_tracked_are_not_alerts() -> None:
    s = monthly(tracked_since=datetime(2024, 11, 1, tzinfo=UTC))
    data = months(2024, 100, 100, 100, 100, 100)
    assert run(s, 2024, data, datetime(2024, 11, 15, tzinfo=UTC)).status == ON_TRACK
    # October's report (due 30 November) falls after tracking began
    assert run(s, 2024, data, datetime(2024, 12, 5, tzinfo=UTC)).status == STALE


def test_no_cadence_is_never_stale() -> None:
    s = spec(cadence=Cadence.NONE, targets=(target(2021, 10),))
    assert run(s, 2021, [], datetime(2030, 1, 1, tzinfo=UTC)).status == NO_DATA


# --- targets, years, figures --------------------------------------------------------------------


def test_target_selection_prefers_the_year_then_the_span_then_the_past() -> None:
    year = target(2023, 7)
    span = target(2023, 30, from_fiscal_year=2021)
    s = spec(targets=(span, year))
    assert select_target(s, 2023) == year
    assert select_target(s, 2022) == span
    later = spec(targets=(target(2022, 5),))
    assert select_target(later, 2021) is None  # per-year flows never borrow a later target
    snapshot = spec(aggregation=Aggregation.SNAPSHOT, targets=(target(2022, 5),))
    assert select_target(snapshot, 2021) == target(2022, 5)


def test_years_to_evaluate_are_the_started_plan_years() -> None:
    s = spec(period_start_fy=2021, period_end_fy=2025)
    may_2024 = datetime(2024, 5, 1, tzinfo=UTC)
    assert list(years_to_evaluate(s, may_2024)) == [2021, 2022, 2023, 2024]
    march_2024 = datetime(2024, 3, 1, tzinfo=UTC)
    assert list(years_to_evaluate(s, march_2024, from_fy=2022)) == [2022, 2023]
    assert list(years_to_evaluate(s, datetime(2030, 5, 1, tzinfo=UTC)))[-1] == 2025


def test_figures_survive_storage_and_map_to_the_event() -> None:
    e = run(rpa_scenarios(), 2022, [obs("FY2021", 13), obs("FY2022", 10)])
    again = EvaluationFigures.from_json(e.figures.to_json())
    assert again == e.figures
    event = e.figures.to_event()
    assert (event.actual, event.target, event.expected_to_date) == (23, 30, 20)
    assert event.unit == "シナリオ"


# --- report validation --------------------------------------------------------------------------


NOW = datetime(2025, 10, 1, tzinfo=UTC)


def check(s: IndicatorSpec, period: str = "FY2024", value: object = 1, **kw: object) -> str:
    try:
        check_report(
            s,
            period=period,
            value=None if value is None else D(str(value)),
            text_value=kw.get("text"),  # type: ignore[arg-type]
            unit=kw.get("unit"),  # type: ignore[arg-type]
            now=NOW,
        )
    except ReportRejected as exc:
        return exc.code
    return "ok"


def test_reports_are_checked_against_their_indicator() -> None:
    s = spec(unit="%")
    assert check(s) == "ok"
    assert check(s, unit="％") == "ok"  # full-width is the same unit
    assert check(s, unit=" % ") == "ok"
    assert check(s, unit="件") == "unit_mismatch"
    assert check(s, value=None, text="約100") == "non_numeric_value"
    assert check(s, value="NaN") == "non_numeric_value"
    assert check(s, value="1e100000") == "value_out_of_range"  # as GraphQL would pass it
    assert check(s, value="9" * 39) == "value_out_of_range"
    assert check(s, value="1e-40") == "value_out_of_range"
    assert check(s, value="9" * 38) == "ok"
    assert check(s, value="12.5") == "ok"
    assert check(s, value=None) == "missing_value"
    assert check(s, period="FY2019") == "period_outside_plan"
    assert check(s, period="2026-04") == "period_outside_plan"
    assert check(s, period="2025-11") == "period_in_future"
    assert check(s, period="2024-13") == "invalid_period"
    milestone = spec(milestone=True)
    assert check(milestone, value=None, text="構築完了") == "ok"
    assert check(milestone, value=None, text="  ") == "missing_value"


def test_unit_aliases_are_accepted() -> None:
    s = spec(unit="件", unit_aliases=("件数",))
    assert check(s, unit="件数") == "ok"


def test_units_compare_normalised_however_often_and_however_long() -> None:
    # normalise_unit caches short units; the answers are the same on every call
    for _ in range(2):
        assert normalise_unit("％ ") == normalise_unit("%") == "%"
        assert normalise_unit("ＰＴ") == "pt"
        assert normalise_unit(None) == ""
        assert spec(unit="ポイント").is_ratio and spec(unit="ＰＴ").is_ratio
        assert not spec(unit="件").is_ratio
        assert check(spec(unit="ＫＷｈ"), unit="kwh") == "ok"
        assert check(spec(unit="件"), unit="人") == "unit_mismatch"
    long = "ｋ" * 30 + " " + "Ｗ" * 30
    assert normalise_unit(long) == "k" * 30 + "w" * 30


@pytest.mark.parametrize("status", list(IndicatorStatus))
def test_every_status_has_a_japanese_label(status: IndicatorStatus) -> None:
    from suishin.indicators.domain.evaluation import STATUS_LABELS_JA

    assert STATUS_LABELS_JA[status]
