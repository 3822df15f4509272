"""Indicator definitions, reporting periods and report validation (pure, no I/O).

An indicator (指標/KPI/事業量) measures one or more measures or goals of a plan. Its definition
says how its numbers are read (unit, polarity, aggregation, period granularity), what is
expected (baseline, targets per fiscal year, multi-year targets) and how often a report is due
(cadence). Sub-series (per channel, per system) are indicators of their own whose key is
``<parent key>/<sub-series key>``: they have their own targets, actuals and status.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from suishin.contracts.calendar import (
    CalendarError,
    fiscal_year_bounds,
    fiscal_year_of,
    parse_period,
    period_bounds,
)
from suishin.contracts.enums import Aggregation, Comparator, Polarity, Role
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError

SUB_SERIES_SEPARATOR = "/"
"""Joins an indicator key and a sub-series key; plan-file keys never contain it."""


def may_report_for(principal: Principal, owner_departments: set[str] | frozenset[str]) -> bool:
    """所管課 reporters report only for what their department owns; admins for anything."""
    return principal.is_admin or (
        principal.has(Role.REPORTER) and bool(principal.departments.intersection(owner_departments))
    )


class Granularity(StrEnum):
    """The periods an indicator's actuals are reported for."""

    FISCAL_YEAR = "fiscal_year"
    MONTH = "month"
    AS_OF = "as_of"


class Cadence(StrEnum):
    """How often a report is due; ``none`` never goes stale."""

    YEARLY = "yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    NONE = "none"


DEFAULT_REPORT_LAG_DAYS: dict[Cadence, int] = {
    # Days after a period ends until its report is due. Yearly results are compiled for the
    # 本部会議 in the first quarter of the next fiscal year.
    Cadence.YEARLY: 90,
    Cadence.QUARTERLY: 45,
    Cadence.MONTHLY: 30,
    Cadence.NONE: 0,
}
DEFAULT_APPROX_TOLERANCE = Decimal("0.05")
"""約 targets: ±5 % unless the indicator says otherwise."""
DEFAULT_AT_RISK_MARGIN = Decimal("0.10")
"""Up to 10 % behind the expected figure is at risk; further behind is off track."""

RATIO_UNITS = frozenset({"%", "割", "ポイント", "pt", "％"})
"""Units of levels: a ratio is not summed over months and not pro-rated."""


def sub_series_key(parent_key: str, sub_key: str) -> str:
    return f"{parent_key}{SUB_SERIES_SEPARATOR}{sub_key}"


def normalise_unit(unit: str | None) -> str:
    """Units compare after NFKC (全角 → 半角), without spaces, case-insensitively."""
    if unit is None:
        return ""
    return _normalised(unit) if len(unit) <= 40 else _normalise(unit)


@functools.lru_cache(maxsize=1024)
def _normalised(unit: str) -> str:
    # asked three times a report (its unit, the definition's, whether it is a ratio); a plan
    # has a few dozen units, so the cache stays small whatever reporters send
    return _normalise(unit)


def _normalise(unit: str) -> str:
    return "".join(unicodedata.normalize("NFKC", unit).split()).casefold()


_RATIO_UNITS_NORMALISED = frozenset(normalise_unit(u) for u in RATIO_UNITS)


# --- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ReportingPeriod:
    """A reporting period: fiscal year ``FY2024``, month ``2024-08`` or day ``2024-08-01``."""

    end: date
    start: date
    label: str
    kind: Granularity
    fiscal_year: int

    @classmethod
    def parse(cls, text: str) -> ReportingPeriod:
        """Read a period (any form the calendar reads); raises ``CalendarError``."""
        return _parse_period(text)

    @classmethod
    def _read(cls, text: str) -> ReportingPeriod:
        label = parse_period(text)
        start, end = period_bounds(label)
        if label.startswith("FY"):
            kind = Granularity.FISCAL_YEAR
        elif len(label) == 7:
            kind = Granularity.MONTH
        else:
            kind = Granularity.AS_OF
        return cls(end=end, start=start, label=label, kind=kind, fiscal_year=fiscal_year_of(start))

    @property
    def coverage(self) -> Decimal:
        """Share of its fiscal year covered from 1 April through the period's end (0–1]."""
        if self.kind is Granularity.FISCAL_YEAR:
            return Decimal(1)
        if self.kind is Granularity.MONTH:
            return Decimal(months_into_fiscal_year(self.end)) / 12
        fy_start, fy_end = fiscal_year_bounds(self.fiscal_year)
        return Decimal((self.end - fy_start).days + 1) / Decimal((fy_end - fy_start).days + 1)


@functools.lru_cache(maxsize=8192)
def _parse_period(text: str) -> ReportingPeriod:
    # Periods repeat endlessly in a stream of reports; parsing 和暦 forms is not free.
    return ReportingPeriod._read(text)


def months_into_fiscal_year(d: date) -> int:
    """1 for April … 12 for March."""
    return (d.month - 4) % 12 + 1


def fiscal_year_label(fy: int) -> str:
    return f"FY{fy}"


# --- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSpec:
    """One target: for a fiscal year, or over several (``from_fiscal_year`` set)."""

    fiscal_year: int
    value: Decimal | None = None
    comparator: Comparator | None = None
    text: str | None = None
    from_fiscal_year: int | None = None
    printed: str | None = None

    @property
    def is_span(self) -> bool:
        return self.from_fiscal_year is not None

    @property
    def is_text(self) -> bool:
        return self.value is None

    def same_value(self, other: TargetSpec) -> bool:
        return (
            _dec_eq(self.value, other.value)
            and self.comparator == other.comparator
            and (self.text or None) == (other.text or None)
        )


def _dec_eq(a: Decimal | None, b: Decimal | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b


@dataclass(frozen=True)
class IndicatorSpec:
    """What evaluation needs to know about an indicator."""

    id: UUID
    tenant: str
    key: str
    title: str
    unit: str | None = None
    polarity: Polarity = Polarity.HIGHER_IS_BETTER
    aggregation: Aggregation = Aggregation.PER_YEAR
    granularity: Granularity = Granularity.FISCAL_YEAR
    cadence: Cadence = Cadence.YEARLY
    period_start_fy: int = 2000
    period_end_fy: int = 2100
    targets: tuple[TargetSpec, ...] = ()
    qualitative: bool = False
    milestone: bool = False
    baseline_value: Decimal | None = None
    baseline_period: str | None = None
    tolerance: Decimal | None = None
    at_risk_margin: Decimal | None = None
    report_lag_days: int | None = None
    unit_aliases: tuple[str, ...] = ()
    tracked_since: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    evaluated_from_fy: int | None = None
    """First year evaluated (the plan period's start when earlier actuals are accepted)."""

    @property
    def first_evaluated_fy(self) -> int:
        if self.evaluated_from_fy is None:
            return self.period_start_fy
        return max(self.period_start_fy, self.evaluated_from_fy)

    @property
    def is_ratio(self) -> bool:
        return normalise_unit(self.unit) in _RATIO_UNITS_NORMALISED

    @property
    def is_level(self) -> bool:
        """Levels (snapshots, ratios) take the latest value; flows are summed."""
        return self.aggregation is Aggregation.SNAPSHOT or self.is_ratio

    @property
    def is_text_only(self) -> bool:
        return self.qualitative or self.milestone

    @property
    def approx_tolerance(self) -> Decimal:
        return self.tolerance if self.tolerance is not None else DEFAULT_APPROX_TOLERANCE

    @property
    def margin(self) -> Decimal:
        return self.at_risk_margin if self.at_risk_margin is not None else DEFAULT_AT_RISK_MARGIN

    @property
    def lag(self) -> timedelta:
        days = self.report_lag_days
        return timedelta(days=DEFAULT_REPORT_LAG_DAYS[self.cadence] if days is None else days)

    def in_plan(self, fiscal_year: int) -> bool:
        return self.period_start_fy <= fiscal_year <= self.period_end_fy

    def accepts_unit(self, unit: str | None) -> bool:
        if unit is None or not unit.strip() or self.unit is None:
            return True
        sent = normalise_unit(unit)
        return sent in {normalise_unit(u) for u in (self.unit, *self.unit_aliases)}


# --- reports ----------------------------------------------------------------------------------


class ReportRejected(DomainError):
    """A report that must not be applied; ``code`` is the dead-letter reason."""


@dataclass(frozen=True)
class Observation:
    """The current value of one period (what evaluation reads)."""

    period: ReportingPeriod
    value: Decimal | None = None
    text: str | None = None


MAX_VALUE_DIGITS = 38
"""Digits a reported value may have (as the ``indicator.reported`` contract allows)."""


def _digits(value: Decimal) -> int:
    """Digits ``value`` needs written out in full: 1E+5 needs 6, 1E-5 needs 5."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    return len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)


def check_report(
    spec: IndicatorSpec,
    *,
    period: str,
    value: Decimal | None,
    text_value: str | None,
    unit: str | None,
    now: datetime,
) -> ReportingPeriod:
    """Validate one report against its indicator; raise :class:`ReportRejected` if it is bad."""
    try:
        parsed = ReportingPeriod.parse(period)
    except CalendarError as exc:
        raise ReportRejected(
            "invalid_period",
            f"期間「{period}」を読めません（例: FY2024, 2024-08, 2024-08-01）",
            f"cannot read period {period!r} (e.g. FY2024, 2024-08, 2024-08-01)",
            "period",
        ) from exc
    if not spec.in_plan(parsed.fiscal_year):
        raise ReportRejected(
            "period_outside_plan",
            f"期間 {parsed.label} は計画期間"
            f"（{spec.period_start_fy}〜{spec.period_end_fy}年度）の外です",
            f"period {parsed.label} is outside the plan period "
            f"(FY{spec.period_start_fy}-FY{spec.period_end_fy})",
            "period",
        )
    if parsed.start > now.astimezone(UTC).date():
        raise ReportRejected(
            "period_in_future",
            f"期間 {parsed.label} はまだ始まっていません",
            f"period {parsed.label} has not started yet",
            "period",
        )
    if value is not None and not value.is_finite():
        raise ReportRejected(
            "non_numeric_value",
            f"値「{value}」は数値ではありません",
            f"value {value} is not a finite number",
            "value",
        )
    if value is not None and _digits(value) > MAX_VALUE_DIGITS:
        raise ReportRejected(
            "value_out_of_range",
            f"値は{MAX_VALUE_DIGITS}桁までです",
            f"a value has at most {MAX_VALUE_DIGITS} digits",
            "value",
        )
    if value is None and not spec.is_text_only:
        if text_value:
            raise ReportRejected(
                "non_numeric_value",
                f"指標「{spec.title}」は数値指標です。文字の実績「{text_value[:40]}」は受け付けられません",
                f"indicator {spec.key!r} is numeric; a text value is not accepted",
                "value",
            )
        raise ReportRejected(
            "missing_value",
            f"指標「{spec.title}」の実績に数値がありません",
            f"the report for {spec.key!r} has no value",
            "value",
        )
    if value is None and not (text_value and text_value.strip()):
        raise ReportRejected(
            "missing_value",
            "実績に値も文字もありません",
            "the report has neither a value nor a text value",
            "value",
        )
    if not spec.accepts_unit(unit):
        raise ReportRejected(
            "unit_mismatch",
            f"単位「{unit}」は指標「{spec.title}」の単位「{spec.unit}」と一致しません",
            f"unit {unit!r} does not match the indicator's unit {spec.unit!r}",
            "unit",
        )
    return parsed
