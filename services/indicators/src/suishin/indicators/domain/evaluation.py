"""Evaluation rules: an indicator's status for one fiscal year (pure functions, no I/O).

``evaluate(spec, fiscal_year, observations, now)`` returns the status with the rule it used,
the figures and a Japanese reason ("why is this red"). The rules, in order:

1. **Figure of the year.** Flows (``per_year``, ``cumulative``) are summed: a fiscal-year report
   is the year's figure; otherwise the months reported are summed (a missing month is unknown,
   not zero) and cover ``months/12`` of the year; otherwise the latest as-of value is
   year-to-date. Levels (``snapshot``, and ratios such as % whatever the aggregation) take the
   latest value in the year. ``coverage`` is the share of the year the data covers; a year is
   *final* at coverage 1.
2. **Target of the year.** A target for the year itself, else a multi-year target covering the
   year (前期 3か年事業量), else (``per_year``) the closest earlier year's target, else
   (``cumulative``/``snapshot``) the next later target reached along a straight line.
3. **Numeric rules** (the comparator decides what "met" means: 以上/以下/= /約 ± tolerance; a point
   target with a direction is a threshold to reach):
   - ``zero_tolerance``: anything above the limit is off track at once;
   - flows with a year target: a final year is achieved or off track; a running year compares
     the year-to-date figure with the target pro-rated linearly (``target × coverage``): met →
     on track, up to the at-risk margin (10 %) behind → at risk, further → off track; reaching
     the whole target early (higher is better) is achieved. When a multi-year target also
     covers the year, the year target is the year's share (板橋区: 3か年 計30, 令和5年度 7) and
     the reason adds where the total stands (remainder);
   - multi-year targets without a year target, and ``cumulative`` indicators without a
     multi-year target (whose year targets are running totals): the running total since the
     start of the span (or of the plan) is compared with the straight line from 0 to the target
     (remainder-based: 30 over three years with 13 and 10 done leaves 7); a completed
     intermediate year whose share is met is achieved; the final year is achieved or off track
     on the total;
   - levels: compared with the target directly (``keep``: within tolerance), or with the line
     from the last known level (previous year or baseline) to the target while the year runs.
4. **Text targets** (拡大, 増加, 検討, 実施, "…を踏まえ検討") and qualitative indicators: a
   report that says it stalled (未実施, 遅延, 中止, 見送り, …) is off track; a directional
   target (拡大/増加/減少/…) with numbers compares with the previous year (or the baseline):
   better is achieved (on track while the year runs), unchanged at risk, worse off track; a
   report saying it is done (完了, 達成, 済, …) or a whole-year report is achieved; a progress
   report during the year is on track.
5. **No data**: nothing reported for the year.
6. **Stale** overrides all of the above: a report due per the cadence (period end + lag) is
   missing after its due date. Due dates that passed before the indicator was tracked by
   Suishin do not count (historical gaps are ``no_data``, not alerts).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum
from typing import Any

from suishin.contracts.calendar import fiscal_year_of, format_fiscal_year
from suishin.contracts.enums import Aggregation, Comparator, IndicatorStatus, Polarity
from suishin.contracts.events import Figures
from suishin.indicators.domain.model import (
    Cadence,
    IndicatorSpec,
    Observation,
    ReportingPeriod,
    TargetSpec,
    months_into_fiscal_year,
)

NO_TARGET_TEXT = "―"
NO_TARGET_TEXTS = frozenset({"―", "-", "－", "—", "‐", "ー", "目標なし"})

STATUS_LABELS_JA: dict[IndicatorStatus, str] = {
    IndicatorStatus.ACHIEVED: "達成",
    IndicatorStatus.ON_TRACK: "順調",
    IndicatorStatus.AT_RISK: "要注意",
    IndicatorStatus.OFF_TRACK: "遅れ・未達成",
    IndicatorStatus.NO_DATA: "実績なし",
    IndicatorStatus.STALE: "報告遅延",
}

COMPARATOR_SUFFIX: dict[Comparator, str] = {
    Comparator.AT_LEAST: "以上",
    Comparator.AT_MOST: "以下",
    Comparator.EQUAL: "",
    Comparator.ABOUT: "",
}

NEGATIVE_WORDS = (
    *("未実施", "未着手", "遅延", "遅れ", "中止"),
    *("見送", "延期", "未達", "断念", "停止"),
)
DONE_WORDS = ("完了", "達成", "済", "実施した", "導入した", "開始した", "稼働した")
SCOPE_WORDS = ("拡大", "拡充", "充実")
UP_WORDS = (*SCOPE_WORDS, "増加", "向上", "増やす")
DOWN_WORDS = ("減少", "削減", "縮小", "低減", "減らす")


class Direction(Enum):
    UP = "up"
    DOWN = "down"
    BAND = "band"


@dataclass(frozen=True)
class EvaluationFigures:
    """The numbers behind a status (a superset of the event's :class:`Figures`)."""

    actual: Decimal | None = None
    target: Decimal | None = None
    expected_to_date: Decimal | None = None
    comparator: str | None = None
    unit: str | None = None
    target_text: str | None = None
    remaining: Decimal | None = None
    coverage: Decimal | None = None
    reference: Decimal | None = None
    span_from: int | None = None
    span_to: int | None = None
    basis: str | None = None
    overdue_period: str | None = None
    due_date: date | None = None
    year_actual: Decimal | None = None

    def to_event(self) -> Figures:
        return Figures(
            actual=self.actual,
            target=self.target,
            expected_to_date=self.expected_to_date,
            comparator=self.comparator,
            unit=self.unit,
            target_text=self.target_text,
            year_actual=self.year_actual,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "coverage" and isinstance(value, Decimal):
                value = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            out[name] = str(value) if isinstance(value, Decimal | date) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> EvaluationFigures:
        data = data or {}
        kwargs: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = data.get(name)
            if value is None:
                continue
            if name in ("span_from", "span_to"):
                kwargs[name] = int(value)
            elif name == "due_date":
                kwargs[name] = date.fromisoformat(value)
            elif name in ("comparator", "unit", "target_text", "basis", "overdue_period"):
                kwargs[name] = str(value)
            else:
                kwargs[name] = Decimal(str(value))
        return cls(**kwargs)


@dataclass(frozen=True)
class Evaluation:
    fiscal_year: int
    status: IndicatorStatus
    rule: str
    reason: str
    figures: EvaluationFigures = field(default_factory=EvaluationFigures)

    @property
    def period(self) -> str:
        return f"FY{self.fiscal_year}"


@dataclass(frozen=True)
class YearFigure:
    """What the data says about one fiscal year."""

    actual: Decimal | None
    coverage: Decimal
    basis: str
    has_data: bool
    texts: tuple[str, ...] = ()
    latest_end: date | None = None
    whole_year_report: bool = False


NO_FIGURE = YearFigure(actual=None, coverage=Decimal(0), basis="", has_data=False)


# --- entry point ------------------------------------------------------------------------------


def evaluate(
    spec: IndicatorSpec,
    fiscal_year: int,
    observations: Sequence[Observation],
    now: datetime,
) -> Evaluation:
    """Status of ``spec`` for ``fiscal_year`` from the current observations, as of ``now``."""
    years = year_figures(spec, observations)
    target = select_target(spec, fiscal_year)
    if target is None and any(not t.is_text or is_no_target(t) for t in spec.targets):
        # The plan sets targets, but none for this year (「―」): no target, nothing carried.
        base = _no_target_this_year(spec, fiscal_year, years)
    elif spec.is_text_only or target is None or target.is_text:
        base = _evaluate_text(spec, fiscal_year, years, target)
    else:
        base = _evaluate_numeric(spec, fiscal_year, years, target)
    overdue = overdue_report(spec, fiscal_year, observations, now)
    if overdue is None:
        return base
    period, due = overdue
    fy_text = format_fiscal_year(fiscal_year)
    return Evaluation(
        fiscal_year=fiscal_year,
        status=IndicatorStatus.STALE,
        rule="report_overdue",
        reason=(
            f"{_period_text(period)}の実績報告が期限（{due.isoformat()}）を過ぎても届いていません"
            f"（{_cadence_text(spec.cadence)}報告）。{fy_text}のこれまでの判定: "
            f"{STATUS_LABELS_JA[base.status]}。{base.reason}"
        ),
        figures=replace(base.figures, overdue_period=period.label, due_date=due),
    )


def evaluate_years(
    spec: IndicatorSpec,
    fiscal_years: Iterable[int],
    observations: Sequence[Observation],
    now: datetime,
) -> list[Evaluation]:
    return [evaluate(spec, fy, observations, now) for fy in fiscal_years]


def years_to_evaluate(spec: IndicatorSpec, now: datetime, *, from_fy: int | None = None) -> range:
    """Plan years that have started by ``now`` (from ``from_fy`` on, when given)."""
    current = fiscal_year_of(now)
    first = spec.first_evaluated_fy if from_fy is None else max(from_fy, spec.first_evaluated_fy)
    return range(first, min(spec.period_end_fy, current) + 1)


# --- figures of the years ---------------------------------------------------------------------


def year_figures(spec: IndicatorSpec, observations: Sequence[Observation]) -> dict[int, YearFigure]:
    by_year: dict[int, list[Observation]] = {}
    for obs in observations:
        by_year.setdefault(obs.period.fiscal_year, []).append(obs)
    return {fy: _year_figure(spec, obs) for fy, obs in by_year.items()}


def _year_figure(spec: IndicatorSpec, observations: list[Observation]) -> YearFigure:
    texts = tuple(o.text for o in observations if o.text)
    numeric = [o for o in observations if o.value is not None]
    whole_year = any(o.period.kind.value == "fiscal_year" for o in observations)
    latest_end = max(o.period.end for o in observations)
    if not numeric:
        coverage = max(o.period.coverage for o in observations)
        return YearFigure(None, coverage, "", True, texts, latest_end, whole_year)
    fy_reports = [o for o in numeric if o.period.kind.value == "fiscal_year"]
    if spec.is_level:
        latest = max(numeric, key=lambda o: (o.period.end, o.period.kind.value == "fiscal_year"))
        return YearFigure(
            latest.value,
            latest.period.coverage,
            _basis_of_level(latest.period),
            True,
            texts,
            latest_end,
            whole_year,
        )
    if fy_reports:
        value = fy_reports[0].value
        return YearFigure(value, Decimal(1), "年度実績", True, texts, latest_end, True)
    months = sorted((o for o in numeric if o.period.kind.value == "month"), key=lambda o: o.period)
    if months:
        total = sum((o.value for o in months if o.value is not None), Decimal(0))
        n = len(months)
        first, last = months[0].period.start, months[-1].period.start
        basis = f"{first.year}年{first.month}月〜{last.year}年{last.month}月の{n}か月分の合計"
        if n != months_into_fiscal_year(last) - months_into_fiscal_year(first) + 1:
            basis += "（欠けた月あり）"
        return YearFigure(total, Decimal(n) / 12, basis, True, texts, latest_end, whole_year)
    latest = max(numeric, key=lambda o: o.period.end)
    return YearFigure(
        latest.value,
        latest.period.coverage,
        f"{_date_text(latest.period.end)}時点の年度累計",
        True,
        texts,
        latest_end,
        whole_year,
    )


def _basis_of_level(period: ReportingPeriod) -> str:
    if period.kind.value == "fiscal_year":
        return "年度末の値"
    if period.kind.value == "month":
        return f"{period.start.year}年{period.start.month}月の値"
    return f"{_date_text(period.end)}時点の値"


# --- targets ----------------------------------------------------------------------------------


def is_no_target(target: TargetSpec) -> bool:
    """A year the plan prints as 「―」 (plan file ``none: true``): it has no target."""
    return target.value is None and (target.text or "").strip() in NO_TARGET_TEXTS


def _no_target_this_year(spec: IndicatorSpec, fy: int, years: dict[int, YearFigure]) -> Evaluation:
    year = years.get(fy, NO_FIGURE)
    figures = EvaluationFigures(
        actual=year.actual, unit=spec.unit, target_text=NO_TARGET_TEXT, basis=year.basis or None
    )
    reported = "実績の報告はありますが、" if year.has_data else ""
    return Evaluation(
        fy,
        IndicatorStatus.NO_DATA,
        "no_target_this_year",
        f"計画は{format_fiscal_year(fy)}の目標を示していません（―）。{reported}"
        "目標のない年度は評価しません（他の年度の目標は当てはめません）。",
        figures,
    )


def select_target(spec: IndicatorSpec, fiscal_year: int) -> TargetSpec | None:
    """The target of the year: its own, else a multi-year target covering it, else (levels and
    cumulative flows) the next later target, reached along a straight line. A year the plan
    prints as 「―」 and a per-year flow's year without a target have none: an earlier year's
    target is never carried forward."""
    year = [t for t in spec.targets if not t.is_span and t.fiscal_year == fiscal_year]
    if year:
        return None if is_no_target(year[0]) else year[0]
    spans = sorted(
        (
            t
            for t in spec.targets
            if t.is_span and t.from_fiscal_year is not None
            if t.from_fiscal_year <= fiscal_year <= t.fiscal_year
        ),
        key=lambda t: t.fiscal_year,
    )
    if spans:
        return spans[0]
    singles = sorted(
        (t for t in spec.targets if not t.is_span and not is_no_target(t)),
        key=lambda t: t.fiscal_year,
    )
    later = [t for t in singles if t.fiscal_year > fiscal_year]
    if spec.aggregation is Aggregation.PER_YEAR and not spec.is_level:
        return None
    return later[0] if later else None


def default_comparator(polarity: Polarity) -> Comparator:
    if polarity is Polarity.HIGHER_IS_BETTER:
        return Comparator.AT_LEAST
    if polarity in (Polarity.LOWER_IS_BETTER, Polarity.ZERO_TOLERANCE):
        return Comparator.AT_MOST
    return Comparator.ABOUT


def direction_of(comparator: Comparator, polarity: Polarity) -> Direction:
    if comparator is Comparator.AT_LEAST:
        return Direction.UP
    if comparator is Comparator.AT_MOST:
        return Direction.DOWN
    if polarity is Polarity.HIGHER_IS_BETTER:
        return Direction.UP
    if polarity is Polarity.LOWER_IS_BETTER:
        return Direction.DOWN
    return Direction.BAND


def satisfies(
    actual: Decimal,
    target: Decimal,
    comparator: Comparator,
    polarity: Polarity,
    tolerance: Decimal,
) -> bool:
    """Whether ``actual`` meets ``target`` under the comparator (and ± tolerance for 約)."""
    band = abs(target) * tolerance if comparator is Comparator.ABOUT else Decimal(0)
    direction = direction_of(comparator, polarity)
    if direction is Direction.UP:
        return actual >= target - band
    if direction is Direction.DOWN:
        return actual <= target + band
    return abs(actual - target) <= band


def judge(
    actual: Decimal,
    expected: Decimal,
    comparator: Comparator,
    polarity: Polarity,
    tolerance: Decimal,
    margin: Decimal,
) -> IndicatorStatus:
    """On track, at risk (up to ``margin`` behind) or off track against an expected figure."""
    if satisfies(actual, expected, comparator, polarity, tolerance):
        return IndicatorStatus.ON_TRACK
    band = abs(expected) * tolerance if comparator is Comparator.ABOUT else Decimal(0)
    slack = abs(expected) * margin
    direction = direction_of(comparator, polarity)
    if direction is Direction.UP:
        behind = (expected - band) - actual
    elif direction is Direction.DOWN:
        behind = actual - (expected + band)
    else:
        behind = abs(actual - expected) - band
    return IndicatorStatus.AT_RISK if behind <= slack else IndicatorStatus.OFF_TRACK


# --- numeric rules ----------------------------------------------------------------------------


def _evaluate_numeric(
    spec: IndicatorSpec, fy: int, years: dict[int, YearFigure], target: TargetSpec
) -> Evaluation:
    assert target.value is not None
    comparator = target.comparator or default_comparator(spec.polarity)
    figures = EvaluationFigures(
        target=target.value,
        comparator=comparator.value,
        unit=spec.unit,
        target_text=target.printed or target.text,
    )
    if spec.polarity is Polarity.ZERO_TOLERANCE:
        return _zero_tolerance(spec, fy, years.get(fy, NO_FIGURE), target.value, figures)
    span = covering_span(spec, fy)
    if target.is_span:
        return _cumulative(spec, fy, years, target, comparator, figures)
    if spec.is_level:
        return _level(spec, fy, years, target, comparator, figures)
    if spec.aggregation is Aggregation.CUMULATIVE and span is None:
        # Without a multi-year target, a cumulative indicator's targets are running totals.
        return _cumulative(spec, fy, years, target, comparator, figures)
    flow = _flow(spec, fy, years.get(fy, NO_FIGURE), target, comparator, figures)
    return _with_span_context(spec, fy, years, span, flow) if span is not None else flow


def covering_span(spec: IndicatorSpec, fiscal_year: int) -> TargetSpec | None:
    """The numeric multi-year target whose years include ``fiscal_year`` (the earliest ending)."""
    spans = [
        t
        for t in spec.targets
        if t.is_span
        and t.value is not None
        and t.from_fiscal_year is not None
        and t.from_fiscal_year <= fiscal_year <= t.fiscal_year
    ]
    return min(spans, key=lambda t: t.fiscal_year) if spans else None


def _with_span_context(
    spec: IndicatorSpec,
    fy: int,
    years: dict[int, YearFigure],
    span: TargetSpec,
    flow: Evaluation,
) -> Evaluation:
    """A year target inside a multi-year target: add where the total stands (remainder)."""
    assert span.value is not None and span.from_fiscal_year is not None
    before = sum(
        ((years.get(y, NO_FIGURE).actual or Decimal(0)) for y in range(span.from_fiscal_year, fy)),
        Decimal(0),
    )
    this_year = years.get(fy, NO_FIGURE).actual or Decimal(0)
    comparator = span.comparator or default_comparator(spec.polarity)
    context = (
        f"（{format_fiscal_year(span.from_fiscal_year)}〜{format_fiscal_year(span.fiscal_year)}の"
        f"累計目標{_target_text(span.value, comparator, spec.unit)}に対し、前年度までの累計"
        f"{_num(before, spec.unit)}、今年度の残り{_num(span.value - before, spec.unit)}、"
        f"今年度分を含む累計{_num(before + this_year, spec.unit)}）"
    )
    figures = replace(
        flow.figures,
        remaining=span.value - before,
        span_from=span.from_fiscal_year,
        span_to=span.fiscal_year,
    )
    return replace(flow, reason=flow.reason + context, figures=figures)


def _no_data(spec: IndicatorSpec, fy: int, figures: EvaluationFigures) -> Evaluation:
    return Evaluation(
        fy,
        IndicatorStatus.NO_DATA,
        "no_measurement",
        f"{format_fiscal_year(fy)}の実績はまだ報告されていません。",
        figures,
    )


def _zero_tolerance(
    spec: IndicatorSpec, fy: int, year: YearFigure, limit: Decimal, figures: EvaluationFigures
) -> Evaluation:
    if year.actual is None:
        return _no_data(spec, fy, figures)
    figures = replace(figures, actual=year.actual, coverage=year.coverage, basis=year.basis)
    a, u = _num(year.actual, spec.unit), _num(limit, spec.unit)
    if year.actual > limit:
        return Evaluation(
            fy,
            IndicatorStatus.OFF_TRACK,
            "zero_tolerance_breached",
            f"{format_fiscal_year(fy)}の実績{a}（{year.basis}）が許容値{u}を超えました（ゼロ目標）。",
            figures,
        )
    final = year.coverage >= 1
    status = IndicatorStatus.ACHIEVED if final else IndicatorStatus.ON_TRACK
    return Evaluation(
        fy,
        status,
        "zero_tolerance",
        f"{format_fiscal_year(fy)}の実績{a}（{year.basis}）は許容値{u}以内です"
        + ("。" if final else "（年度途中）。"),
        figures,
    )


def _flow(
    spec: IndicatorSpec,
    fy: int,
    year: YearFigure,
    target: TargetSpec,
    comparator: Comparator,
    figures: EvaluationFigures,
) -> Evaluation:
    assert target.value is not None
    if year.actual is None:
        return _no_data(spec, fy, figures)
    t = target.value
    tol = spec.approx_tolerance
    fy_text = format_fiscal_year(fy)
    target_text = _target_text(t, comparator, spec.unit)
    carried = ""
    if target.fiscal_year != fy:
        carried = f"（{format_fiscal_year(target.fiscal_year)}の目標を適用）"
    figures = replace(figures, actual=year.actual, coverage=year.coverage, basis=year.basis)
    a = _num(year.actual, spec.unit)
    if year.coverage >= 1:
        met = satisfies(year.actual, t, comparator, spec.polarity, tol)
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED if met else IndicatorStatus.OFF_TRACK,
            "per_year_final",
            f"{fy_text}の実績{a}は目標{target_text}{carried}を"
            + ("満たしました。" if met else "満たしていません。"),
            figures,
        )
    direction = direction_of(comparator, spec.polarity)
    if direction is Direction.UP and satisfies(year.actual, t, comparator, spec.polarity, tol):
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED,
            "per_year_reached",
            f"{fy_text}の実績は{year.basis}で{a}となり、年度途中で目標{target_text}{carried}に"
            "達しました。",
            figures,
        )
    expected = _round(t * year.coverage)
    figures = replace(figures, expected_to_date=expected)
    status = judge(year.actual, expected, comparator, spec.polarity, tol, spec.margin)
    return Evaluation(
        fy,
        status,
        "per_year_prorated",
        f"{fy_text}の実績は{year.basis}で{a}です。年間目標{target_text}{carried}を期間で按分した"
        f"{_num(expected, spec.unit)}に対し{_ratio(year.actual, expected)}で、"
        f"{STATUS_LABELS_JA[status]}と判定しました。",
        figures,
    )


def _cumulative(
    spec: IndicatorSpec,
    fy: int,
    years: dict[int, YearFigure],
    target: TargetSpec,
    comparator: Comparator,
    figures: EvaluationFigures,
) -> Evaluation:
    assert target.value is not None
    start = target.from_fiscal_year if target.is_span else spec.period_start_fy
    assert start is not None
    end = target.fiscal_year
    year = years.get(fy, NO_FIGURE)
    tol = spec.approx_tolerance
    before = sum(
        ((years.get(y, NO_FIGURE).actual or Decimal(0)) for y in range(start, fy)), Decimal(0)
    )
    missing = [y for y in range(start, fy) if years.get(y, NO_FIGURE).actual is None]
    t = target.value
    span_text = f"{format_fiscal_year(start)}〜{format_fiscal_year(end)}"
    target_text = _target_text(t, comparator, spec.unit)
    figures = replace(figures, span_from=start, span_to=end, remaining=t - before)
    if year.actual is None:
        return replace(
            _no_data(spec, fy, replace(figures, actual=before)),
            reason=f"{format_fiscal_year(fy)}の実績はまだ報告されていません"
            f"（{span_text}の累計目標{target_text}に対し前年度までの累計{_num(before, spec.unit)}、"
            f"残り{_num(t - before, spec.unit)}）。",
        )
    total = before + year.actual
    x = Decimal(fy - start) + year.coverage
    points = _cumulative_points(spec, target, start)
    expected = _round(_interpolate(points, x))
    figures = replace(
        figures,
        actual=total,
        expected_to_date=expected,
        coverage=year.coverage,
        basis=year.basis,
        year_actual=year.actual,
    )
    remaining_now = t - total
    left = max(remaining_now, Decimal(0)) if _is_up(comparator, spec) else remaining_now
    summary = (
        f"{span_text}の累計目標{target_text}に対し、前年度までの累計{_num(before, spec.unit)}"
        f"（今年度の残り{_num(t - before, spec.unit)}）、{format_fiscal_year(fy)}の実績"
        f"{_num(year.actual, spec.unit)}（{year.basis}）で累計{_num(total, spec.unit)}、"
        f"残り{_num(left, spec.unit)}です。"
    )
    if missing:
        summary += f"（{'、'.join(format_fiscal_year(y) for y in missing)}は実績なしとして0で計算）"
    final_year = fy >= end and year.coverage >= 1
    met_total = satisfies(total, t, comparator, spec.polarity, tol)
    if final_year:
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED if met_total else IndicatorStatus.OFF_TRACK,
            "cumulative_final",
            summary + ("目標を達成しました。" if met_total else "目標に届きませんでした。"),
            figures,
        )
    if met_total and _is_up(comparator, spec):
        # The year's own figure reaching the whole multi-year total is a bar the plan prints
        # (3か年事業量 done within the year); grades name it (``cumulative_reached_in_year``).
        in_year = target.is_span and satisfies(year.actual, t, comparator, spec.polarity, tol)
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED,
            "cumulative_reached_in_year" if in_year else "cumulative_reached",
            summary
            + (
                f"{format_fiscal_year(fy)}の実績だけで累計目標に達しました。"
                if in_year
                else "累計目標に既に達しています。"
            ),
            figures,
        )
    status = judge(total, expected, comparator, spec.polarity, tol, spec.margin)
    if year.coverage >= 1:
        rule = "cumulative_year_share"
        if status is IndicatorStatus.ON_TRACK:
            status = IndicatorStatus.ACHIEVED
        verdict = f"{format_fiscal_year(fy)}末までの按分目標{_num(expected, spec.unit)}に対し"
    else:
        rule = "cumulative_prorated"
        verdict = f"現時点までの按分目標{_num(expected, spec.unit)}に対し"
    verdict += f"{_ratio(total, expected)}で、{STATUS_LABELS_JA[status]}と判定しました。"
    return Evaluation(fy, status, rule, summary + verdict, figures)


def _cumulative_points(
    spec: IndicatorSpec, target: TargetSpec, start: int
) -> list[tuple[Decimal, Decimal]]:
    """The straight line(s) a running total should follow: 0 at the start, then each target."""
    points = [(Decimal(0), Decimal(0))]
    if target.is_span:
        assert target.value is not None
        return [*points, (Decimal(target.fiscal_year - start + 1), target.value)]
    for t in sorted(spec.targets, key=lambda t: t.fiscal_year):
        if t.is_span or t.value is None or t.fiscal_year < start:
            continue
        points.append((Decimal(t.fiscal_year - start + 1), t.value))
    return points


def _level(
    spec: IndicatorSpec,
    fy: int,
    years: dict[int, YearFigure],
    target: TargetSpec,
    comparator: Comparator,
    figures: EvaluationFigures,
) -> Evaluation:
    assert target.value is not None
    year = years.get(fy, NO_FIGURE)
    if year.actual is None:
        return _no_data(spec, fy, figures)
    tol = spec.approx_tolerance
    fy_text = format_fiscal_year(fy)
    a = _num(year.actual, spec.unit)
    figures = replace(figures, actual=year.actual, coverage=year.coverage, basis=year.basis)
    start = _start_level(spec, fy, years)
    direction = direction_of(comparator, spec.polarity)
    # The level the line from the last known level to the target reaches by now.
    expected: Decimal | None
    if target.fiscal_year == fy or target.is_span or direction is Direction.BAND:
        goal_now = target.value
    elif start is not None:
        start_x, start_value = start
        goal_now = _interpolate(
            [(start_x, start_value), (Decimal(target.fiscal_year + 1), target.value)],
            Decimal(fy + 1),
        )
    else:
        goal_now = target.value
    target_text = _target_text(target.value, comparator, spec.unit)
    if target.fiscal_year != fy and not target.is_span:
        target_text += f"（{format_fiscal_year(target.fiscal_year)}）"
    if year.coverage >= 1:
        if target.fiscal_year == fy or target.is_span or direction is Direction.BAND:
            met = satisfies(year.actual, goal_now, comparator, spec.polarity, tol)
            return Evaluation(
                fy,
                IndicatorStatus.ACHIEVED if met else IndicatorStatus.OFF_TRACK,
                "level_final",
                f"{fy_text}の値{a}（{year.basis}）は目標{target_text}を"
                + ("満たしました。" if met else "満たしていません。"),
                figures,
            )
        expected = _round(goal_now)
        status = judge(year.actual, expected, comparator, spec.polarity, tol, spec.margin)
        if status is IndicatorStatus.ON_TRACK:
            status = IndicatorStatus.ACHIEVED
        return Evaluation(
            fy,
            status,
            "level_year_share",
            f"{fy_text}の値{a}（{year.basis}）を、目標{target_text}への道筋上の{fy_text}末の値"
            f"{_num(expected, spec.unit)}と比べ、{STATUS_LABELS_JA[status]}と判定しました。",
            replace(figures, expected_to_date=expected),
        )
    if direction is Direction.BAND or start is None:
        met = satisfies(year.actual, target.value, comparator, spec.polarity, tol)
        if met:
            status = IndicatorStatus.ON_TRACK
        elif direction is Direction.BAND:
            status = judge(year.actual, target.value, comparator, spec.polarity, tol, spec.margin)
        else:
            status = IndicatorStatus.ON_TRACK
        note = "" if met or direction is Direction.BAND else "比較できる前年度の値がないため、"
        return Evaluation(
            fy,
            status,
            "level_in_progress",
            f"{fy_text}途中の値{a}（{year.basis}）を目標{target_text}と比べ、{note}"
            f"{STATUS_LABELS_JA[status]}と判定しました。",
            figures,
        )
    start_x, start_value = start
    end_x = Decimal(target.fiscal_year + 1)
    expected = _round(
        _interpolate([(start_x, start_value), (end_x, target.value)], Decimal(fy) + year.coverage)
    )
    status = judge(year.actual, expected, comparator, spec.polarity, tol, spec.margin)
    return Evaluation(
        fy,
        status,
        "level_prorated",
        f"{fy_text}途中の値{a}（{year.basis}）を、前の値{_num(start_value, spec.unit)}から目標"
        f"{target_text}への直線上の現時点の値{_num(expected, spec.unit)}と比べ、"
        f"{STATUS_LABELS_JA[status]}と判定しました。",
        replace(figures, expected_to_date=expected, reference=start_value),
    )


def _start_level(
    spec: IndicatorSpec, fy: int, years: dict[int, YearFigure]
) -> tuple[Decimal, Decimal] | None:
    """(position in fiscal years, value) of the last known level before ``fy``."""
    earlier = [y for y, f in years.items() if y < fy and f.actual is not None]
    if earlier:
        y = max(earlier)
        value = years[y].actual
        assert value is not None
        return Decimal(y) + years[y].coverage, value
    if spec.baseline_value is not None and spec.baseline_period is not None:
        try:
            period = ReportingPeriod.parse(spec.baseline_period)
        except ValueError:
            return None
        if period.fiscal_year < fy:
            return Decimal(period.fiscal_year) + period.coverage, spec.baseline_value
    return None


# --- text rules -------------------------------------------------------------------------------


def _evaluate_text(
    spec: IndicatorSpec, fy: int, years: dict[int, YearFigure], target: TargetSpec | None
) -> Evaluation:
    year = years.get(fy, NO_FIGURE)
    target_text = target.text if target is not None else None
    figures = EvaluationFigures(
        actual=year.actual,
        unit=spec.unit,
        target_text=(target.printed or target.text) if target is not None else None,
        target=target.value if target is not None else None,
        comparator=target.comparator.value if target and target.comparator else None,
        coverage=year.coverage if year.has_data else None,
        basis=year.basis or None,
    )
    fy_text = format_fiscal_year(fy)
    if not year.has_data:
        return _no_data(spec, fy, figures)
    said = "、".join(year.texts)
    reported = f"報告「{said}」" if said else "報告"
    if any(w in text for text in year.texts for w in NEGATIVE_WORDS):
        return Evaluation(
            fy,
            IndicatorStatus.OFF_TRACK,
            "milestone_setback",
            f"{fy_text}の{reported}は取組の遅れ・中止を示しています。",
            figures,
        )
    wording = classify_text_target(target_text)
    if (
        wording is Direction.UP
        and year.actual is not None
        and _is_expansion_of_a_flow(spec, target_text)
    ):
        # 拡大 of a flow (手続き 82 added, then 55): any addition is expansion.
        amount = year.actual
        if amount > 0:
            final = year.coverage >= 1
            status = IndicatorStatus.ACHIEVED if final else IndicatorStatus.ON_TRACK
            verdict = "増えており、拡大しています"
        elif amount == 0:
            status, verdict = IndicatorStatus.AT_RISK, "増えていません"
        else:
            status, verdict = IndicatorStatus.OFF_TRACK, "減っています"
        return Evaluation(
            fy,
            status,
            "text_expansion",
            f"目標「{target_text}」に対し、{fy_text}の実績{_num(amount, spec.unit)}"
            f"（{year.basis}）は{verdict}。",
            figures,
        )
    if wording in (Direction.UP, Direction.DOWN) and year.actual is not None:
        reference = _previous_value(spec, fy, years)
        if reference is not None:
            ref_value, ref_label = reference
            actual = year.actual
            figures = replace(figures, reference=ref_value)
            if actual == ref_value:
                status = IndicatorStatus.AT_RISK
                verdict = "変わっていません"
            elif (actual > ref_value) == (wording is Direction.UP):
                final = year.coverage >= 1
                status = IndicatorStatus.ACHIEVED if final else IndicatorStatus.ON_TRACK
                verdict = "目標の方向に進んでいます"
            else:
                status = IndicatorStatus.OFF_TRACK
                verdict = "目標と逆の方向に動いています"
            return Evaluation(
                fy,
                status,
                "text_directional",
                f"目標「{target_text}」に対し、{fy_text}の値{_num(actual, spec.unit)}は"
                f"{ref_label}{_num(ref_value, spec.unit)}から{verdict}。",
                figures,
            )
    goal = f"目標「{target_text}」" if target_text else "数値目標が設定されていない指標"
    if target is None and not spec.is_text_only:
        return Evaluation(
            fy,
            IndicatorStatus.ON_TRACK,
            "no_target",
            f"{fy_text}の目標が設定されていないため、{reported}があることだけを確認しました。",
            figures,
        )
    if any(w in text for text in year.texts for w in DONE_WORDS):
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED,
            "milestone_done",
            f"{goal}について、{fy_text}の{reported}は完了を示しています。",
            figures,
        )
    if year.whole_year_report:
        return Evaluation(
            fy,
            IndicatorStatus.ACHIEVED,
            "milestone_reported",
            f"{goal}について、{fy_text}の年度実績が報告されています（{reported}）。",
            figures,
        )
    return Evaluation(
        fy,
        IndicatorStatus.ON_TRACK,
        "milestone_in_progress",
        f"{goal}について、{fy_text}の途中経過が報告されています（{reported}）。",
        figures,
    )


def _is_expansion_of_a_flow(spec: IndicatorSpec, text: str | None) -> bool:
    """拡大/拡充/充実 (not 増加) of an amount per period, rather than of a level."""
    if spec.is_level or not text:
        return False
    quantity = [w for w in UP_WORDS if w not in SCOPE_WORDS]
    return any(w in text for w in SCOPE_WORDS) and not any(w in text for w in quantity)


def classify_text_target(text: str | None) -> Direction | None:
    """拡大/増加 → UP, 減少/削減 → DOWN, anything else (検討, 実施, …) → None (milestone)."""
    if not text:
        return None
    if any(w in text for w in DOWN_WORDS):
        return Direction.DOWN
    if any(w in text for w in UP_WORDS):
        return Direction.UP
    return None


def _previous_value(
    spec: IndicatorSpec, fy: int, years: dict[int, YearFigure]
) -> tuple[Decimal, str] | None:
    prev = years.get(fy - 1)
    if prev is not None and prev.actual is not None:
        return prev.actual, f"{format_fiscal_year(fy - 1)}の"
    if spec.baseline_value is not None:
        return spec.baseline_value, "基準値"
    return None


# --- staleness --------------------------------------------------------------------------------


def overdue_report(
    spec: IndicatorSpec, fiscal_year: int, observations: Sequence[Observation], now: datetime
) -> tuple[ReportingPeriod, date] | None:
    """The latest report of ``fiscal_year`` that is past due and missing, with its due date."""
    if spec.cadence is Cadence.NONE:
        return None
    today = now.astimezone(UTC).date()
    tracked = spec.tracked_since.astimezone(UTC).date()
    latest_due: tuple[ReportingPeriod, date] | None = None
    for period in due_periods(spec.cadence, fiscal_year):
        due = period.end + spec.lag
        if due < today and due >= tracked:
            latest_due = (period, due)
    if latest_due is None:
        return None
    covered = [o.period.end for o in observations if o.period.fiscal_year == fiscal_year]
    if covered and max(covered) >= latest_due[0].end:
        return None
    return latest_due


@functools.lru_cache(maxsize=1024)
def due_periods(cadence: Cadence, fiscal_year: int) -> tuple[ReportingPeriod, ...]:
    """The periods a report is due for in one fiscal year, in order."""
    if cadence is Cadence.YEARLY:
        return (ReportingPeriod.parse(f"FY{fiscal_year}"),)
    if cadence is Cadence.NONE:
        return ()
    months = [(fiscal_year if m >= 4 else fiscal_year + 1, m) for m in (*range(4, 13), 1, 2, 3)]
    if cadence is Cadence.QUARTERLY:
        months = months[2::3]  # a quarter's report is due after its last month (6, 9, 12, 3)
    return tuple(ReportingPeriod.parse(f"{y:04d}-{m:02d}") for y, m in months)


# --- formatting -------------------------------------------------------------------------------


def _interpolate(points: list[tuple[Decimal, Decimal]], x: Decimal) -> Decimal:
    pts = sorted(points)
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x <= x1:
            if x1 == x0:
                return y1
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return pts[-1][1]


def _is_up(comparator: Comparator, spec: IndicatorSpec) -> bool:
    return direction_of(comparator, spec.polarity) is Direction.UP


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize() + Decimal(0)


def _num(value: Decimal, unit: str | None) -> str:
    """1300 → "1,300時間", 541.6667 → "541.7時間"."""
    rounded = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    whole = rounded == rounded.to_integral_value()
    text = f"{int(rounded):,}" if whole else f"{rounded:,f}"
    return f"{text}{unit or ''}"


def _target_text(value: Decimal, comparator: Comparator, unit: str | None) -> str:
    prefix = "約" if comparator is Comparator.ABOUT else ""
    return f"{prefix}{_num(value, unit)}{COMPARATOR_SUFFIX[comparator]}"


def _ratio(actual: Decimal, expected: Decimal) -> str:
    if expected == 0:
        return "（按分値0）"
    pct = (actual / expected * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    return f"{pct}%"


def _date_text(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _period_text(period: ReportingPeriod) -> str:
    if period.kind.value == "fiscal_year":
        return format_fiscal_year(period.fiscal_year)
    if period.kind.value == "month":
        return f"{period.start.year}年{period.start.month}月分"
    return f"{_date_text(period.end)}時点"


def _cadence_text(cadence: Cadence) -> str:
    return {
        Cadence.YEARLY: "年次",
        Cadence.QUARTERLY: "四半期",
        Cadence.MONTHLY: "月次",
        Cadence.NONE: "随時",
    }[cadence]
