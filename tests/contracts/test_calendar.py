"""Japanese fiscal years and era dates: example tables and properties."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from suishin.contracts.calendar import (
    ERA_OVERRUN_YEARS,
    ERAS,
    JST,
    LAST_SUPPORTED_YEAR,
    CalendarError,
    Era,
    era_of,
    fiscal_year_bounds,
    fiscal_year_of,
    fiscal_year_of_period,
    format_fiscal_year,
    format_wareki_date,
    parse_fiscal_year,
    parse_fiscal_year_range,
    parse_period,
    parse_wareki_date,
    period_bounds,
)

FIRST_DAY = ERAS[0].start
LAST_DAY = date(LAST_SUPPORTED_YEAR, 12, 31)
supported_days = st.dates(min_value=FIRST_DAY, max_value=LAST_DAY)
supported_fiscal_years = st.integers(min_value=FIRST_DAY.year, max_value=LAST_SUPPORTED_YEAR)

_TO_FULL_WIDTH = str.maketrans(
    {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ./-()"}
)


def full_width(text: str) -> str:
    return text.translate(_TO_FULL_WIDTH)


# --- fiscal years -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "fiscal_year"),
    [
        (date(2025, 3, 31), 2024),
        (date(2025, 4, 1), 2025),
        (date(2024, 12, 31), 2024),
        (date(2024, 1, 1), 2023),
    ],
)
def test_fiscal_year_of(day: date, fiscal_year: int) -> None:
    assert fiscal_year_of(day) == fiscal_year


def test_the_fiscal_year_of_an_instant_turns_at_midnight_in_tokyo() -> None:
    # 1 April 00:30 in Tokyo is still 31 March in UTC: the new fiscal year has begun.
    assert fiscal_year_of(datetime(2025, 3, 31, 15, 30, tzinfo=UTC)) == 2025
    assert fiscal_year_of(datetime(2025, 3, 31, 14, 59, tzinfo=UTC)) == 2024
    assert fiscal_year_of(datetime(2025, 4, 1, 0, 30, tzinfo=JST)) == 2025
    with pytest.raises(ValueError):
        fiscal_year_of(datetime(2025, 4, 1, 12, 0))  # naive: which day is it?


def test_fiscal_year_bounds() -> None:
    assert fiscal_year_bounds(2024) == (date(2024, 4, 1), date(2025, 3, 31))
    assert fiscal_year_bounds(2023) == (date(2023, 4, 1), date(2024, 3, 31))


@pytest.mark.parametrize(
    ("text", "fiscal_year"),
    [
        ("FY2021", 2021),
        ("fy2021", 2021),
        ("2021", 2021),
        ("2021年度", 2021),
        ("令和3年度", 2021),
        ("令和元年度", 2019),
        ("R3", 2021),
        ("R3年度", 2021),
        ("Ｒ３", 2021),
        ("r3", 2021),
        ("H30", 2018),
        ("平成30年度", 2018),
        ("平成３０年度", 2018),
        ("平成元年度", 1989),
        ("平成31年度", 2019),
        ("平成32年度", 2020),
        ("平成33年度", 2021),
        ("令和６年度", 2024),
        ("昭和64年度", 1989),
        ("S63", 1988),
        ("大正15年度", 1926),
        ("  令和3年度\u3000", 2021),
        ("令和３(2021)年度", 2021),
        ("令和３（２０２１）年度", 2021),
        ("2021(令和3)年度", 2021),
        ("㍻30年度", 2018),
        ("㋿6年度", 2024),
    ],
)
def test_parse_fiscal_year(text: str, fiscal_year: int) -> None:
    assert parse_fiscal_year(text) == fiscal_year


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "令和0年度",
        "R0",
        "令和-1年度",
        "令和3年",  # a calendar year, not a fiscal year
        "令和3(2022)年度",  # era and western year disagree
        "平成45年度",  # far past the end of 平成
        "昭和80年度",
        "FY1800",
        "1800",
        "2300年度",
        "R999",
        "FY21",
        "21",
        "平成",
        "X3",
        "令和三年度",
        "٢٠٢١",  # Arabic-Indic digits are not read as a year
        "2024-08",
    ],
)
def test_parse_fiscal_year_rejects(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_fiscal_year(text)


def test_calendar_error_is_bilingual_value_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_fiscal_year("令和0年度")
    error = caught.value
    assert isinstance(error, CalendarError)
    assert "存在しません" in str(error)
    assert "does not exist" in str(error)
    assert error.message_ja in str(error) and error.message_en in str(error)


@pytest.mark.parametrize(
    ("fiscal_year", "style", "text"),
    [
        (2019, "wareki", "令和元年度"),
        (2021, "wareki", "令和3年度"),
        (2018, "wareki", "平成30年度"),
        (1989, "wareki", "平成元年度"),
        (1988, "wareki", "昭和63年度"),
        (2021, "western", "2021年度"),
        (2021, "short", "R3"),
        (2019, "short", "R1"),
        (2018, "short", "H30"),
    ],
)
def test_format_fiscal_year(fiscal_year: int, style: str, text: str) -> None:
    assert format_fiscal_year(fiscal_year, style) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("fiscal_year", [1800, 2200, 0, -5])
def test_format_fiscal_year_out_of_range(fiscal_year: int) -> None:
    with pytest.raises(CalendarError):
        format_fiscal_year(fiscal_year)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("平成28~31年度", (2016, 2019)),
        ("平成28～31年度", (2016, 2019)),
        ("平成31年度－平成33年度", (2019, 2021)),
        ("平成31年度～平成33年度", (2019, 2021)),
        ("令和3年度から令和7年度", (2021, 2025)),
        ("令和３(2021)年度〜令和７(2025)年度", (2021, 2025)),
        ("2021-2025年度", (2021, 2025)),
        ("平成28~令和元年度", (2016, 2019)),
    ],
)
def test_parse_fiscal_year_range(text: str, span: tuple[int, int]) -> None:
    assert parse_fiscal_year_range(text) == span


@pytest.mark.parametrize("text", ["令和7年度～令和3年度", "令和3年度", "～令和3年度", "a~b"])
def test_parse_fiscal_year_range_rejects(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_fiscal_year_range(text)


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("令和5年8月1日", date(2023, 8, 1)),
        ("R5.8.1", date(2023, 8, 1)),
        ("R5/8/1", date(2023, 8, 1)),
        ("H30.4.1", date(2018, 4, 1)),
        ("平成31年4月30日", date(2019, 4, 30)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("2023-08-01", date(2023, 8, 1)),
        ("2023/8/1", date(2023, 8, 1)),
        ("2023年8月1日", date(2023, 8, 1)),
        ("令和５年８月１日", date(2023, 8, 1)),
        ("Ｒ５．８．１", date(2023, 8, 1)),
        ("２０２３／８／１", date(2023, 8, 1)),
        ("令和3(2021)年 12月 1日", date(2021, 12, 1)),
        ("昭和64年1月7日", date(1989, 1, 7)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("令和6年2月29日", date(2024, 2, 29)),
    ],
)
def test_parse_wareki_date(text: str, day: date) -> None:
    assert parse_wareki_date(text) == day


@pytest.mark.parametrize(
    "text",
    [
        "平成31年5月1日",  # 令和 began on 2019-05-01
        "令和元年4月30日",
        "昭和64年1月8日",
        "平成元年1月7日",
        "令和5年2月29日",
        "2023-02-30",
        "2023-13-01",
        "R5.8/1",  # mixed separators
        "R5.8",  # a month, not a day
        "令和0年1月1日",
        "1900-01-01",
        "2300-01-01",
        "令和5年8月1日ごろ",
    ],
)
def test_parse_wareki_date_rejects(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_wareki_date(text)


@pytest.mark.parametrize(
    ("day", "era"),
    [
        (date(2023, 8, 1), ("令和", 5)),
        (date(2019, 5, 1), ("令和", 1)),
        (date(2019, 4, 30), ("平成", 31)),
        (date(1989, 1, 7), ("昭和", 64)),
        (date(1926, 12, 25), ("昭和", 1)),
    ],
)
def test_era_of(day: date, era: tuple[str, int]) -> None:
    assert era_of(day) == era


def test_format_wareki_date() -> None:
    assert format_wareki_date(date(2023, 8, 1)) == "令和5年8月1日"
    assert format_wareki_date(date(2019, 5, 1)) == "令和元年5月1日"
    assert format_wareki_date(date(2019, 4, 30)) == "平成31年4月30日"


def test_era_of_rejects_days_before_the_first_era() -> None:
    with pytest.raises(CalendarError):
        era_of(date(1900, 1, 1))


# --- periods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("FY2024", "FY2024"),
        ("2024", "FY2024"),
        ("令和6年度", "FY2024"),
        ("R6", "FY2024"),
        ("2024-08", "2024-08"),
        ("2024/8", "2024-08"),
        ("2024年8月", "2024-08"),
        ("令和6年8月", "2024-08"),
        ("R6.8", "2024-08"),
        ("Ｒ６．８", "2024-08"),
        ("平成31年4月", "2019-04"),
        ("令和元年5月", "2019-05"),
        ("2024-08-01", "2024-08-01"),
        ("令和6年8月1日", "2024-08-01"),
        ("令和6年8月1日現在", "2024-08-01"),
        ("R6.8.1時点", "2024-08-01"),
        # Printed before the era changed: the western year in parentheses decides.
        ("平成32(2020)年1月", "2020-01"),
        ("平成 31(2019)年 5 月", "2019-05"),
        ("平成31(2019)年5月1日", "2019-05-01"),
    ],
)
def test_parse_period(text: str, period: str) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize(
    "text",
    [
        "令和元年4月",
        "平成31年5月",
        "平成32年1月",  # without the western year the era alone dates it
        "平成32(2021)年1月",
        "2024-13",
        "令和6年",
        "today",
        "FY",
        "2024-08-32",
    ],
)
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(CalendarError):
        parse_period(text)


def test_parsed_periods_satisfy_the_envelope_pattern() -> None:
    from suishin.contracts.events import IndicatorReported

    for text in ("令和6年度", "R6.8", "令和6年8月1日現在"):
        IndicatorReported(
            indicator_key="k", period=parse_period(text), source="s", idempotency_key="i"
        )


@pytest.mark.parametrize(
    ("period", "fiscal_year", "bounds"),
    [
        ("FY2024", 2024, (date(2024, 4, 1), date(2025, 3, 31))),
        ("2025-02", 2024, (date(2025, 2, 1), date(2025, 2, 28))),
        ("2024-04", 2024, (date(2024, 4, 1), date(2024, 4, 30))),
        ("2025-03-31", 2024, (date(2025, 3, 31), date(2025, 3, 31))),
    ],
)
def test_period_bounds_and_fiscal_year(
    period: str, fiscal_year: int, bounds: tuple[date, date]
) -> None:
    assert fiscal_year_of_period(period) == fiscal_year
    assert period_bounds(period) == bounds


# --- properties -------------------------------------------------------------------------------


@given(supported_days)
@example(date(2019, 4, 30))
@example(date(2019, 5, 1))
@example(date(1989, 1, 7))
@example(date(1989, 1, 8))
def test_wareki_date_round_trip(day: date) -> None:
    text = format_wareki_date(day)
    assert parse_wareki_date(text) == day
    assert parse_wareki_date(full_width(text)) == day
    name, era_year = era_of(day)
    era = next(e for e in ERAS if e.name == name)
    assert parse_wareki_date(f"{era.short}{era_year}.{day.month}.{day.day}") == day
    assert parse_period(text) == day.isoformat()


@given(supported_fiscal_years, st.sampled_from(["wareki", "western", "short"]))
def test_fiscal_year_round_trip(fiscal_year: int, style: str) -> None:
    text = format_fiscal_year(fiscal_year, style)  # type: ignore[arg-type]
    assert parse_fiscal_year(text) == fiscal_year
    assert parse_fiscal_year(full_width(text)) == fiscal_year
    assert parse_period(text) == f"FY{fiscal_year}"


@given(supported_days)
def test_fiscal_year_of_is_consistent_with_bounds(day: date) -> None:
    first, last = fiscal_year_bounds(fiscal_year_of(day))
    assert first <= day <= last
    assert fiscal_year_of(first) == fiscal_year_of(last) == fiscal_year_of(day)
    assert fiscal_year_of(first - timedelta(days=1)) == fiscal_year_of(day) - 1
    assert fiscal_year_of(last + timedelta(days=1)) == fiscal_year_of(day) + 1


@given(st.sampled_from(ERAS), st.integers(min_value=1, max_value=45))
def test_era_fiscal_years_map_by_start_year(era: Era, era_year: int) -> None:
    expected = era.start.year + era_year - 1
    text = f"{era.name}{era_year}年度"
    later = [e for e in ERAS if e.start > era.start]
    readable = not later or expected <= later[0].start.year + ERA_OVERRUN_YEARS
    if readable:
        assert parse_fiscal_year(text) == expected
    else:
        with pytest.raises(CalendarError):
            parse_fiscal_year(text)


@given(st.text(max_size=40))
@example("平成")
@example("令和9999999999999999999999年度")
@example("R" + "9" * 5000)
@example("Ｒ３（２０２１）")
def test_parsers_raise_only_calendar_errors(text: str) -> None:
    for parse in (parse_fiscal_year, parse_wareki_date, parse_period, parse_fiscal_year_range):
        try:
            parse(text)
        except CalendarError:
            pass


@given(
    st.from_regex(
        r"(令和|平成|昭和|R|H|S)(元|[1-9][0-9]?)年([1-9]|1[0-2])月([1-9]|[12][0-9]|3[01])日",
        fullmatch=True,
    )
)
def test_full_width_and_half_width_inputs_are_equal(text: str) -> None:
    for parse in (parse_wareki_date, parse_period):
        try:
            half = parse(text)
        except CalendarError:
            with pytest.raises(CalendarError):
                parse(full_width(text))
        else:
            assert parse(full_width(text)) == half
