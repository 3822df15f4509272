"""Japanese fiscal years and era (和暦) dates as the wards print them.

The fiscal year (年度) runs April to March and is named after the calendar year it starts in:
2025-03-31 is in FY2024, 2025-04-01 in FY2025.

Era years in fiscal-year strings are mapped by the era's start year (平成N年度 = 1988 + N,
令和N年度 = 2018 + N). Plans written before 2019 print 平成31/32/33年度 for what became
令和元/2/3年度, so an era year is accepted a few years past the era's end
(:data:`ERA_OVERRUN_YEARS`). Dates and months are strict: 平成31年5月1日 does not exist, unless
the western year is printed too (平成31(2019)年5月1日, 平成32(2020)年1月): then it decides.

Input is normalised with NFKC first, so full-width digits and letters (令和６年度, Ｒ３), the
era ligatures (㍻, ㋿) and full-width punctuation (．／（）) read like their ASCII forms, and
whitespace is ignored (令和3年 12月).

Every parse error is a :class:`CalendarError` (a ``ValueError``, so pydantic validators turn
it into a validation error) with a Japanese and an English message.
"""

from __future__ import annotations

import calendar as _gregorian
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ERAS",
    "ERA_OVERRUN_YEARS",
    "FIRST_SUPPORTED_YEAR",
    "JST",
    "LAST_SUPPORTED_YEAR",
    "CalendarError",
    "Era",
    "era_of",
    "fiscal_year_bounds",
    "fiscal_year_of",
    "fiscal_year_of_period",
    "format_fiscal_year",
    "format_wareki_date",
    "parse_fiscal_year",
    "parse_fiscal_year_range",
    "parse_period",
    "parse_wareki_date",
    "period_bounds",
]

JST: Final = ZoneInfo("Asia/Tokyo")
"""Japan's time: days, fiscal years and wall-clock times of the platform are Japanese."""


class CalendarError(ValueError):
    """A date, month or fiscal year that cannot be read. The text carries both languages."""

    def __init__(self, message_ja: str, message_en: str) -> None:
        super().__init__(f"{message_ja} / {message_en}")
        self.message_ja = message_ja
        self.message_en = message_en


@dataclass(frozen=True)
class Era:
    name: str
    short: str
    start: date


ERAS: Final[tuple[Era, ...]] = (
    Era("大正", "T", date(1912, 7, 30)),
    Era("昭和", "S", date(1926, 12, 25)),
    Era("平成", "H", date(1989, 1, 8)),
    Era("令和", "R", date(2019, 5, 1)),
)
"""Supported eras, oldest first."""

ERA_OVERRUN_YEARS: Final = 10
"""How many years past its end an era's fiscal-year numbering is still read (平成33年度)."""

FIRST_SUPPORTED_YEAR: Final = ERAS[0].start.year
LAST_SUPPORTED_YEAR: Final = 2199

_ERA_BY_KEY: Final[dict[str, Era]] = {
    **{era.name: era for era in ERAS},
    **{era.short: era for era in ERAS},
}

# Only ASCII digits after NFKC: `\d` would also accept other scripts' digits.
_ERA = r"(?P<era>大正|昭和|平成|令和|[TSHR])(?P<era_year>元|[0-9]{1,3})"
_WESTERN = r"(?P<year>[0-9]{4})"
# 令和3(2021)年度 and 2021(令和3)年度 both appear in the plans.
_YEAR = (
    rf"(?:{_ERA}(?:\((?P<era_western>[0-9]{{4}})\))?"
    rf"|{_WESTERN}(?:\((?P<western_era>大正|昭和|平成|令和|[TSHR])"
    rf"(?P<western_era_year>元|[0-9]{{1,3}})\))?)"
)
_FISCAL_YEAR_RE: Final = re.compile(rf"(?:FY(?P<fy>[0-9]{{4}})|{_YEAR}(?:年度)?)")
_MONTH_RE: Final = re.compile(rf"{_YEAR}(?:年(?P<m1>[0-9]{{1,2}})月|[./-](?P<m2>[0-9]{{1,2}}))")
_DATE_RE: Final = re.compile(
    rf"{_YEAR}(?:年(?P<m1>[0-9]{{1,2}})月(?P<d1>[0-9]{{1,2}})日"
    rf"|(?P<sep>[./-])(?P<m2>[0-9]{{1,2}})(?P=sep)(?P<d2>[0-9]{{1,2}}))"
)
_AS_OF_SUFFIX_RE: Final = re.compile(r"(?:現在|時点|末)$")
_RANGE_SEPARATOR_RE: Final = re.compile(r"[~〜\-ー―‐]|から")


# --- fiscal years -----------------------------------------------------------------------------


def fiscal_year_of(d: date | datetime) -> int:
    """The fiscal year (April–March) a day belongs to; for an instant (an aware datetime), the
    fiscal year of its date in Japan (JST): the year turns at midnight of 1 April in Tokyo,
    not in UTC."""
    if isinstance(d, datetime):
        if d.tzinfo is None:
            raise ValueError("fiscal_year_of needs a date or an aware datetime")
        d = d.astimezone(JST).date()
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_bounds(fy: int) -> tuple[date, date]:
    """First and last day of a fiscal year: (fy-04-01, fy+1-03-31)."""
    _check_year(fy)
    return date(fy, 4, 1), date(fy + 1, 3, 31)


def parse_fiscal_year(text: str) -> int:
    """Read a fiscal year: FY2021, 2021, 2021年度, 令和3年度, 令和元年度, R3, Ｒ３, 平成33年度, …"""
    normal = _normalise(text)
    match = _FISCAL_YEAR_RE.fullmatch(normal)
    if match is None:
        raise CalendarError(
            f"年度として読めません: {text!r}（例: 令和3年度、R3、2021年度、FY2021）",
            f"not a fiscal year: {text!r} (e.g. 令和3年度, R3, 2021年度, FY2021)",
        )
    return _year_from_match(match, text, overrun=True)


def parse_fiscal_year_range(text: str) -> tuple[int, int]:
    """Read a fiscal-year span such as 平成28~31年度, 令和3年度～令和7年度 or 2021-2025年度.

    The end may omit the era (平成28~31年度 reads 31 as 平成31). Returns (first, last).
    """
    normal = _normalise(text)
    parts = _RANGE_SEPARATOR_RE.split(normal)
    if len(parts) != 2 or not all(parts):
        raise CalendarError(
            f"年度の期間として読めません: {text!r}（例: 令和3年度～令和7年度）",
            f"not a fiscal-year range: {text!r} (e.g. 令和3年度～令和7年度)",
        )
    head, tail = parts
    first = parse_fiscal_year(head)
    era_match = re.match(r"(大正|昭和|平成|令和|[TSHR])", head)
    if era_match and re.fullmatch(r"(元|[0-9]{1,3})(年度)?", tail):
        tail = era_match.group(1) + tail
    last = parse_fiscal_year(tail)
    if last < first:
        raise CalendarError(
            f"年度の期間の終わりが始まりより前です: {text!r}",
            f"fiscal-year range ends before it starts: {text!r}",
        )
    return first, last


def format_fiscal_year(
    fy: int, style: Literal["wareki", "western", "short", "fy"] = "wareki"
) -> str:
    """Print a fiscal year: 令和3年度 (wareki), 2021年度 (western), R3 (short) or FY2021 (fy).

    The era is the latest one that began in or before the fiscal year's calendar year, as
    official usage does (FY2019 is 令和元年度 although April 2019 was still 平成).
    """
    _check_year(fy)
    if style == "western":
        return f"{fy}年度"
    if style == "fy":
        return f"FY{fy}"
    era = _era_for_fiscal_year(fy)
    era_year = fy - era.start.year + 1
    if style == "short":
        return f"{era.short}{era_year}"
    if style == "wareki":
        return f"{era.name}{_era_year_label(era_year)}年度"
    raise CalendarError(f"未知の表記です: {style!r}", f"unknown style: {style!r}")


# --- dates ------------------------------------------------------------------------------------


def era_of(d: date) -> tuple[str, int]:
    """Era name and era year of a day: date(2023, 8, 1) → ("令和", 5)."""
    era = _era_for_date(d)
    return era.name, d.year - era.start.year + 1


def format_wareki_date(d: date) -> str:
    """Print a day in 和暦: 令和5年8月1日, 令和元年5月1日."""
    name, era_year = era_of(d)
    return f"{name}{_era_year_label(era_year)}年{d.month}月{d.day}日"


def parse_wareki_date(text: str) -> date:
    """Read a day: 令和5年8月1日, R5.8.1, R5/8/1, H30.4.1, 2023-08-01, 2023/8/1, 2023年8月1日."""
    normal = _normalise(text)
    match = _DATE_RE.fullmatch(normal)
    if match is None:
        raise CalendarError(
            f"日付として読めません: {text!r}（例: 令和5年8月1日、R5.8.1、2023-08-01）",
            f"not a date: {text!r} (e.g. 令和5年8月1日, R5.8.1, 2023-08-01)",
        )
    return _date_from_match(match, text)


# --- reporting periods ------------------------------------------------------------------------


def parse_period(text: str) -> str:
    """Normalise a reporting period to the contracts' form.

    Fiscal year → ``FY2024``; month (2024-08, 令和6年8月, R6.8) → ``2024-08``; as-of day
    (2024-08-01, 令和6年8月1日, 令和6年8月1日現在) → ``2024-08-01``. Already canonical input is
    returned unchanged.
    """
    normal = _AS_OF_SUFFIX_RE.sub("", _normalise(text))
    if (match := _DATE_RE.fullmatch(normal)) is not None:
        return _date_from_match(match, text).isoformat()
    if (match := _MONTH_RE.fullmatch(normal)) is not None:
        year, month = _month_from_match(match, text)
        return f"{year:04d}-{month:02d}"
    if (match := _FISCAL_YEAR_RE.fullmatch(normal)) is not None:
        return f"FY{_year_from_match(match, text, overrun=True)}"
    raise CalendarError(
        f"報告期間として読めません: {text!r}（例: 令和6年度、令和6年8月、令和6年8月1日）",
        f"not a reporting period: {text!r} (e.g. FY2024, 2024-08, 2024-08-01)",
    )


def fiscal_year_of_period(period: str) -> int:
    """The fiscal year a reporting period falls in: FY2024 → 2024, 2025-02 → 2024."""
    return fiscal_year_of(period_bounds(period)[0])


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day covered by a reporting period (any form :func:`parse_period` reads)."""
    canonical = parse_period(period)
    if canonical.startswith("FY"):
        return fiscal_year_bounds(int(canonical[2:]))
    if len(canonical) == 7:
        year, month = int(canonical[:4]), int(canonical[5:])
        return date(year, month, 1), date(year, month, _gregorian.monthrange(year, month)[1])
    day = date.fromisoformat(canonical)
    return day, day


# --- internals --------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    if not isinstance(text, str):
        raise CalendarError(
            f"文字列ではありません: {type(text).__name__}", f"not a string: {type(text).__name__}"
        )
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def _era_year_label(era_year: int) -> str:
    return "元" if era_year == 1 else str(era_year)


def _check_year(year: int) -> None:
    if not FIRST_SUPPORTED_YEAR <= year <= LAST_SUPPORTED_YEAR:
        raise CalendarError(
            f"対応範囲外の年です: {year}（{FIRST_SUPPORTED_YEAR}〜{LAST_SUPPORTED_YEAR}年）",
            f"year {year} is out of range ({FIRST_SUPPORTED_YEAR}-{LAST_SUPPORTED_YEAR})",
        )


def _era_for_fiscal_year(fy: int) -> Era:
    return [era for era in ERAS if era.start.year <= fy][-1]


def _era_for_date(d: date) -> Era:
    if d < ERAS[0].start or d.year > LAST_SUPPORTED_YEAR:
        raise CalendarError(
            f"対応範囲外の日付です: {d.isoformat()}",
            f"date {d.isoformat()} is out of the supported range "
            f"({ERAS[0].start.isoformat()} to {LAST_SUPPORTED_YEAR}-12-31)",
        )
    return [era for era in ERAS if era.start <= d][-1]


def _next_era_start(era: Era) -> date | None:
    index = ERAS.index(era)
    return ERAS[index + 1].start if index + 1 < len(ERAS) else None


def _year_from_match(match: re.Match[str], text: str, *, overrun: bool) -> int:
    """The western year of a matched year expression, checked against its era.

    ``overrun`` admits era years past the era's end (fiscal-year strings such as 平成33年度).
    """
    groups = match.groupdict()
    if groups.get("era"):
        era, era_year_text = _ERA_BY_KEY[groups["era"]], groups["era_year"]
        western_text = groups.get("era_western")
    elif groups.get("western_era"):
        era, era_year_text = _ERA_BY_KEY[groups["western_era"]], groups["western_era_year"]
        western_text = groups["year"]
    else:
        year = int(groups.get("fy") or groups["year"])
        _check_year(year)
        return year

    era_year = 1 if era_year_text == "元" else int(era_year_text)
    year = era.start.year + era_year - 1
    if era_year < 1:
        raise CalendarError(
            f"{era.name}{era_year}年は存在しません（元年が最初の年です）: {text!r}",
            f"{era.name} year {era_year} does not exist (the first year is 元年 = 1): {text!r}",
        )
    next_start = _next_era_start(era)
    if next_start is not None:
        last_year = next_start.year + (ERA_OVERRUN_YEARS if overrun else 0)
        if year > last_year:
            raise CalendarError(
                f"{era.name}{era_year}年は{era.name}の範囲外です: {text!r}",
                f"{era.name} year {era_year} is outside the {era.name} era: {text!r}",
            )
    _check_year(year)
    if western_text is not None and int(western_text) != year:
        raise CalendarError(
            f"和暦と西暦が一致しません（{era.name}{era_year}年は{year}年）: {text!r}",
            f"era year and western year disagree ({era.name} {era_year} is {year}): {text!r}",
        )
    return year


def _month_from_match(match: re.Match[str], text: str) -> tuple[int, int]:
    year = _year_from_match(match, text, overrun=_has_western_year(match))
    month = int(match.group("m1") or match.group("m2"))
    if not 1 <= month <= 12:
        raise CalendarError(f"月が正しくありません: {text!r}", f"month must be 1 to 12: {text!r}")
    era = _matched_era(match)
    if era is not None:
        first = date(year, month, 1)
        last = date(year, month, _gregorian.monthrange(year, month)[1])
        _check_within_era(era, first, last, text)
    elif date(year, month, 1) < ERAS[0].start.replace(day=1):
        _era_for_date(date(year, month, 1))  # raises: before the first supported era
    return year, month


def _date_from_match(match: re.Match[str], text: str) -> date:
    year = _year_from_match(match, text, overrun=_has_western_year(match))
    month = int(match.group("m1") or match.group("m2"))
    day = int(match.group("d1") or match.group("d2"))
    try:
        result = date(year, month, day)
    except ValueError as exc:
        raise CalendarError(
            f"存在しない日付です: {text!r}", f"no such date: {text!r} ({exc})"
        ) from None
    era = _matched_era(match)
    if era is not None:
        _check_within_era(era, result, result, text)
    else:
        _era_for_date(result)  # raises outside the supported range
    return result


def _has_western_year(match: re.Match[str]) -> bool:
    return bool(match.group("year") or match.group("era_western"))


def _matched_era(match: re.Match[str]) -> Era | None:
    """The era that alone dates the text, so the day or month must lie within it.

    When the western year is printed too (平成32(2020)年1月, written before the era changed),
    it is authoritative and the era is only a label.
    """
    if _has_western_year(match):
        return None
    return _ERA_BY_KEY[match.group("era")] if match.group("era") else None


def _check_within_era(era: Era, first: date, last: date, text: str) -> None:
    """Reject a day or month that lies wholly outside the era it is written in."""
    next_start = _next_era_start(era)
    if last < era.start or (next_start is not None and first >= next_start):
        span_ja = f"{era.start.isoformat()}から" + (
            f"{date.fromordinal(next_start.toordinal() - 1).isoformat()}まで" if next_start else ""
        )
        span_en = f"began on {era.start.isoformat()}" + (
            f" and ended before {next_start.isoformat()}" if next_start else ""
        )
        raise CalendarError(
            f"{era.name}の期間外です（{era.name}は{span_ja}）: {text!r}",
            f"outside the {era.name} era, which {span_en}: {text!r}",
        )
