"""Yearly grades of a measure on the tenant's scale (pure rules, no I/O).

A scale is a list of grades, best first. Each grade states what it needs from the measure's
indicator results for the year: a share (or count) of indicators met, and optionally that the
quantitative ones exceeded their target. The first grade whose conditions hold is the machine
grade; the last grade is the fallback (usually the failing one). Wards configure their scale on
the tenant (``tenants.grade_scale``); the built-in scales are below.

Indicator statuses come from the indicators service (``indicator.status_changed``):
``achieved`` and ``on_track`` count as met, ``at_risk`` and ``off_track`` as not met, and
``no_data`` / ``stale`` are left out (a measure with nothing evaluable gets no grade).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from suishin.contracts.enums import Aggregation, Comparator, IndicatorStatus
from suishin.contracts.events import Envelope, Figures, IndicatorStatusChanged
from suishin.contracts.planfile import Indicator, NodeKind, PlanFile
from suishin.kit.errors import DomainError

MET = frozenset({IndicatorStatus.ACHIEVED, IndicatorStatus.ON_TRACK})
NOT_EVALUABLE = frozenset({IndicatorStatus.NO_DATA, IndicatorStatus.STALE})

Exceeded = Literal["all", "any"]


@dataclass(frozen=True)
class GradeDef:
    """One grade of a scale and the conditions it needs."""

    code: str
    label: str
    meaning: str = ""
    failing: bool = False
    min_met_ratio: float = 0.0
    min_met: int = 0
    exceeded: Exceeded | None = None
    aliases: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {_fold(n) for n in (self.code, self.label, *self.aliases)}


@dataclass(frozen=True)
class GradeScale:
    code: str
    name: str
    grades: tuple[GradeDef, ...]

    def grade(self, code_or_label: str) -> GradeDef:
        wanted = _fold(code_or_label)
        for grade in self.grades:
            if wanted in grade.names():
                return grade
        known = " / ".join(g.label for g in self.grades)
        raise DomainError(
            "UNKNOWN_GRADE",
            f"評語「{code_or_label}」はこの自治体の評価尺度（{known}）にありません",
            f"{code_or_label!r} is not a grade of this scale ({known})",
            field="grade",
        )

    def find(self, code: str | None) -> GradeDef | None:
        if code is None:
            return None
        for grade in self.grades:
            if grade.code == code:
                return grade
        return None

    def is_failing(self, code: str | None) -> bool:
        grade = self.find(code)
        return grade is not None and grade.failing

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "grades": [
                {
                    "code": g.code,
                    "label": g.label,
                    "meaning": g.meaning,
                    "failing": g.failing,
                    "min_met_ratio": g.min_met_ratio,
                    "min_met": g.min_met,
                    "exceeded": g.exceeded,
                    "aliases": list(g.aliases),
                }
                for g in self.grades
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GradeScale:
        grades = tuple(
            GradeDef(
                code=str(g["code"]),
                label=str(g["label"]),
                meaning=str(g.get("meaning") or ""),
                failing=bool(g.get("failing", False)),
                min_met_ratio=float(g.get("min_met_ratio") or 0.0),
                min_met=int(g.get("min_met") or 0),
                exceeded=g.get("exceeded"),
                aliases=tuple(g.get("aliases") or ()),
            )
            for g in data["grades"]
        )
        if not grades:
            raise ValueError("a grade scale needs at least one grade")
        name = str(data.get("name") or data["code"])
        return cls(code=str(data["code"]), name=name, grades=grades)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


# 板橋区 (DX推進計画2025 第6章 and 資料編): 達成＋ = the year's planned workload was exceeded,
# provided numeric workloads are set and every one of them is achieved; 達成 = all or most (大部分)
# of the workload achieved, or the measure completed; 未達成 = all or most not achieved.
ITABASHI_SCALE = GradeScale(
    code="itabashi",
    name="板橋区 評語（達成＋／達成／未達成）",
    grades=(
        GradeDef(
            "achieved_plus",
            "達成＋",
            "計画の事業量を上回る実績（定量事業量が設定され、その全てが達成）",
            min_met_ratio=1.0,
            exceeded="all",
            aliases=("達成+",),
        ),
        GradeDef(
            "achieved",
            "達成",
            "計画の事業量の全部若しくは大部分を達成、又は施策として完了",
            min_met_ratio=0.5,
            min_met=1,
        ),
        GradeDef(
            "not_achieved",
            "未達成",
            "施策の遅延等により、事業量の全部若しくは大部分が未達成",
            failing=True,
        ),
    ),
)

# 練馬区 (情報化基本計画 前計画の取組結果): A 達成 / B 一部達成. The printed legend has no third
# grade; C 未達成 is added so that a measure with nothing met is not called 一部達成.
NERIMA_SCALE = GradeScale(
    code="nerima",
    name="練馬区 取組結果（A 達成／B 一部達成）",
    grades=(
        GradeDef("A", "A 達成", "取組を達成", min_met_ratio=1.0, aliases=("達成",)),
        GradeDef("B", "B 一部達成", "取組を一部達成", min_met=1, aliases=("一部達成",)),
        GradeDef("C", "C 未達成", "取組を達成していない", failing=True, aliases=("未達成",)),
    ),
)

DEFAULT_SCALE = GradeScale(
    code="default",
    name="標準（達成／一部達成／未達成）",
    grades=(
        GradeDef("achieved", "達成", "全ての指標を達成", min_met_ratio=1.0),
        GradeDef("partly_achieved", "一部達成", "一部の指標を達成", min_met=1),
        GradeDef("not_achieved", "未達成", "指標を達成していない", failing=True),
    ),
)

BUILT_IN_SCALES: dict[str, GradeScale] = {
    s.code: s for s in (ITABASHI_SCALE, NERIMA_SCALE, DEFAULT_SCALE)
}


@dataclass(frozen=True)
class Condition:
    min_met_ratio: float = 0.0
    min_met: int = 0
    exceeded: Exceeded | None = None


# Rules a plan file may name for its grading scale: the conditions of the grades, best first
# (the last grade of a scale is the fallback and needs no condition).
RULES: dict[str, tuple[Condition, ...]] = {
    # 板橋区: 達成＋ all met and every quantitative workload exceeded; 達成 most met.
    "exceeded_all_most": (
        Condition(min_met_ratio=1.0, exceeded="all"),
        Condition(min_met_ratio=0.5, min_met=1),
    ),
    # 練馬区 and the default: all met; some met.
    "all_some": (Condition(min_met_ratio=1.0), Condition(min_met=1)),
}
RULES["itabashi-dx2025-early"] = RULES["itabashi-dx2025-late"] = RULES["exceeded_all_most"]
RULES["nerima-ab"] = RULES["all_some"]


def rule_conditions(rule: str) -> tuple[Condition, ...]:
    """Conditions of a named rule; ward-named rules (itabashi…, nerima…) map to their kind."""
    if rule in RULES:
        return RULES[rule]
    if rule.startswith("itabashi") or "exceed" in rule:
        return RULES["exceeded_all_most"]
    return RULES["all_some"]


def build_scale(
    code: str,
    name: str,
    grades: Sequence[tuple[str, str, Sequence[str], str, bool]],
    rule: str,
) -> GradeScale:
    """A scale from (code, label, label variants, meaning, failing) tuples, best first, and
    the rule that gives each grade but the last its conditions."""
    conditions = rule_conditions(rule)
    defs = []
    for i, (gcode, label, variants, meaning, failing) in enumerate(grades):
        last = i == len(grades) - 1
        cond = Condition() if last else conditions[min(i, len(conditions) - 1)]
        defs.append(
            GradeDef(
                gcode,
                label,
                meaning,
                failing=failing,
                min_met_ratio=cond.min_met_ratio,
                min_met=cond.min_met,
                exceeded=cond.exceeded,
                aliases=tuple(variants),
            )
        )
    return GradeScale(code=code, name=name, grades=tuple(defs))


def default_scale_for(tenant: str) -> GradeScale:
    """The built-in scale a ward starts with (a tenant may configure another)."""
    return BUILT_IN_SCALES.get(tenant, DEFAULT_SCALE)


# --- machine grade -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator's status for the year, as the grade needs it."""

    indicator_id: UUID | str
    status: IndicatorStatus
    quantitative: bool = False
    exceeded: bool = False


@dataclass(frozen=True)
class GradeDecision:
    grade: str | None
    reason: str
    met: int = 0
    evaluated: int = 0
    exceeded: int = 0
    quantitative: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def machine_grade(scale: GradeScale, results: Sequence[IndicatorResult]) -> GradeDecision:
    """The grade the indicator results earn on ``scale`` (None when nothing is evaluable)."""
    evaluated = [r for r in results if r.status not in NOT_EVALUABLE]
    if not evaluated:
        return GradeDecision(None, "評価できる指標の実績がありません（no evaluable indicator)")
    met = [r for r in evaluated if r.status in MET]
    quantitative = [r for r in evaluated if r.quantitative]
    exceeded = [r for r in quantitative if r.exceeded and r.status in MET]
    ratio = len(met) / len(evaluated)
    counts = f"達成 {len(met)}/{len(evaluated)}、定量 {len(quantitative)}、上回り {len(exceeded)}"
    for grade in scale.grades[:-1]:
        if ratio + 1e-9 < grade.min_met_ratio or len(met) < grade.min_met:
            continue
        if grade.exceeded is not None:
            if not quantitative:
                continue
            if grade.exceeded == "all" and len(exceeded) < len(quantitative):
                continue
            if grade.exceeded == "any" and not exceeded:
                continue
        return GradeDecision(
            grade.code,
            f"{grade.label}: {counts}",
            len(met),
            len(evaluated),
            len(exceeded),
            len(quantitative),
        )
    fallback = scale.grades[-1]
    return GradeDecision(
        fallback.code,
        f"{fallback.label}: {counts}",
        len(met),
        len(evaluated),
        len(exceeded),
        len(quantitative),
    )


def result_from_event(
    indicator_id: UUID | str, status: IndicatorStatus, figures: Figures | Mapping[str, Any]
) -> IndicatorResult:
    """Read quantitative/exceeded from the figures an ``indicator.status_changed`` carries."""
    data = figures.model_dump() if isinstance(figures, Figures) else dict(figures)
    actual = _decimal(data.get("actual"))
    target = _decimal(data.get("target"))
    expected = _decimal(data.get("expected_to_date"))
    comparator = data.get("comparator")
    quantitative = target is not None or expected is not None
    bar = expected if expected is not None else target
    return IndicatorResult(
        indicator_id,
        status,
        quantitative=quantitative,
        exceeded=status in MET and exceeds(actual, bar, comparator),
    )


def exceeds(actual: Decimal | None, target: Decimal | None, comparator: str | None) -> bool:
    """True when ``actual`` is strictly better than ``target`` for the comparator."""
    if actual is None or target is None:
        return False
    if comparator in (None, Comparator.AT_LEAST, Comparator.AT_LEAST.value):
        return actual > target
    if comparator in (Comparator.AT_MOST, Comparator.AT_MOST.value):
        return actual < target
    return False


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def yearly_indicator_status(
    *,
    actual: Decimal | None,
    target: Decimal | None,
    comparator: str | None = Comparator.AT_LEAST,
    tolerance: Decimal = Decimal("0.05"),
) -> IndicatorStatus:
    """Status of an indicator for a closed fiscal year with a numeric yearly target.

    This is the rule the indicators service applies to a yearly target: 以上 is met when the
    actual reaches the target, 以下 when it stays at or under it, = when equal, 約 when within
    ``tolerance`` (5 %) of it. No actual is ``no_data``.
    """
    if actual is None:
        return IndicatorStatus.NO_DATA
    if target is None:
        return IndicatorStatus.ACHIEVED
    if comparator in (None, Comparator.AT_LEAST, Comparator.AT_LEAST.value):
        met = actual >= target
    elif comparator in (Comparator.AT_MOST, Comparator.AT_MOST.value):
        met = actual <= target
    elif comparator in (Comparator.EQUAL, Comparator.EQUAL.value):
        met = actual == target
    else:
        met = abs(actual - target) <= abs(target) * tolerance
    return IndicatorStatus.ACHIEVED if met else IndicatorStatus.OFF_TRACK


def consecutive_failing_years(
    scale: GradeScale, effective_by_year: Mapping[int, str | None], fiscal_year: int
) -> int:
    """How many fiscal years up to ``fiscal_year`` in a row have a failing grade."""
    count = 0
    year = fiscal_year
    while scale.is_failing(effective_by_year.get(year)):
        count += 1
        year -= 1
    return count


# --- the published-actuals check (plan files with targets and actuals) -----------------------


def _fy_of(period: str) -> int | None:
    return int(period[2:6]) if period.startswith("FY") else None


def indicator_result_for_year(indicator: Indicator, fiscal_year: int) -> IndicatorResult | None:
    """The status of a plan file's indicator for a closed fiscal year, from its yearly target
    and its published actual (None when the year has no actual).

    This is the rule the indicators service applies to a yearly target:
    - a numeric yearly target is compared with the actual by its comparator
      (:func:`yearly_indicator_status`); for a cumulative (計/延べ) indicator the running total
      of actuals is compared with the running total of the yearly targets since the plan start;
    - a numeric target whose actual is printed only as text counts as met but not exceeded;
    - a text target (実施, 拡大, 検討) is met when the ward printed an actual for the year; it
      is not quantitative, so it neither earns nor blocks 達成＋.
    Sub-series are left out (their targets cover the whole period, not a year).
    """
    yearly = {
        t.fiscal_year: t
        for t in indicator.targets
        if t.from_fiscal_year is None and t.sub_series is None
    }
    actuals = {
        fy: a
        for a in indicator.actuals
        if a.sub_series is None and (fy := _fy_of(a.period)) is not None
    }
    actual = actuals.get(fiscal_year)
    if actual is None:
        return None
    target = yearly.get(fiscal_year)
    key = indicator.key
    if target is None or target.value is None:
        return IndicatorResult(key, IndicatorStatus.ACHIEVED)
    if actual.value is None:
        return IndicatorResult(key, IndicatorStatus.ACHIEVED, quantitative=True)
    comparator = target.comparator.value if target.comparator else None
    if indicator.aggregation == Aggregation.CUMULATIVE:
        bar = sum(
            (Decimal(str(t.value)) for y, t in yearly.items() if y <= fiscal_year and t.value),
            Decimal(0),
        )
        value = sum(
            (
                Decimal(str(a.value))
                for y, a in actuals.items()
                if y <= fiscal_year and a.value is not None
            ),
            Decimal(0),
        )
    else:
        bar, value = Decimal(str(target.value)), Decimal(str(actual.value))
    status = yearly_indicator_status(actual=value, target=bar, comparator=comparator)
    return IndicatorResult(
        key,
        status,
        quantitative=True,
        exceeded=status in MET and exceeds(value, bar, comparator),
    )


@dataclass(frozen=True)
class GradeComparison:
    path: str
    fiscal_year: int
    machine: str | None
    published: str | None
    reason: str


def compare_with_published(
    plan_file: PlanFile, scale: GradeScale, years: Sequence[int]
) -> list[GradeComparison]:
    """Machine grades from the file's actuals next to the grades the ward published."""
    published = {
        (g.path, g.fiscal_year): g.grade
        for g in (plan_file.published_evaluations.grades if plan_file.published_evaluations else [])
    }
    out: list[GradeComparison] = []
    for path, _parent, node in plan_file.iter_nodes():
        if node.kind != NodeKind.MEASURE:
            continue
        linked = [
            i
            for i in plan_file.indicators
            if any(n == path or n.startswith(path + "/") for n in i.nodes)
        ]
        for year in years:
            results = [r for i in linked if (r := indicator_result_for_year(i, year)) is not None]
            decision = machine_grade(scale, results)
            out.append(
                GradeComparison(
                    path, year, decision.grade, published.get((path, year)), decision.reason
                )
            )
    return out


# --- the yearly grade of a measure: which status counts, which grade counts -------------------

StatusKey = tuple[UUID, UUID, int]  # (node, indicator, fiscal year)


def is_newer(a: Envelope[IndicatorStatusChanged], b: Envelope[IndicatorStatusChanged]) -> bool:
    """Is ``a`` a later status than ``b``: by aggregate version when both have one, else by
    ``occurred_at``."""
    if a.aggregate_version is not None and b.aggregate_version is not None:
        return a.aggregate_version > b.aggregate_version
    return a.occurred_at > b.occurred_at


def latest_statuses(
    events: Sequence[Envelope[IndicatorStatusChanged]],
) -> tuple[dict[StatusKey, Envelope[IndicatorStatusChanged]], int]:
    """The newest event per (node, indicator, fiscal year) of a batch, and how many
    (event, node) candidates the batch held."""
    newest: dict[StatusKey, Envelope[IndicatorStatusChanged]] = {}
    candidates = 0
    for event in events:
        p = event.payload
        for node_id in dict.fromkeys(p.measure_ids):
            candidates += 1
            key = (node_id, p.indicator_id, p.fiscal_year)
            kept = newest.get(key)
            if kept is None or is_newer(event, kept):
                newest[key] = event
    return newest, candidates


def foreign_measures(
    event: Envelope[IndicatorStatusChanged], owners: Mapping[UUID, str]
) -> list[str]:
    """The measures an event names that belong to another ward (unknown ones are not)."""
    ids = event.payload.measure_ids
    return [str(m) for m in ids if owners.get(m, event.tenant) != event.tenant]


def effective_grade(override: str | None, published: str | None, machine: str | None) -> str | None:
    """The grade that counts: the override, else the grade the ward published, else the
    machine grade."""
    return override or published or machine


def check_override_year(fiscal_year: int, fy_from: int, fy_to: int) -> None:
    """An override is for a year of the plan period."""
    if not fy_from <= fiscal_year <= fy_to:
        raise DomainError(
            "FISCAL_YEAR_OUT_OF_PERIOD",
            f"{fiscal_year}年度は計画期間（{fy_from}〜{fy_to}年度）の外です",
            f"Fiscal year {fiscal_year} is outside the plan period ({fy_from}-{fy_to})",
            field="fiscalYear",
        )


def check_override_change(graded: bool, previous: str | None, code: str | None) -> None:
    """An override changes something: clearing needs a grade row, setting a different grade."""
    if not graded and code is None:
        raise DomainError(
            "NO_OVERRIDE",
            "取り消す上書き評価がありません",
            "There is no override to clear",
            field="grade",
        )
    if previous == code:
        raise DomainError(
            "GRADE_UNCHANGED",
            "上書き評価は既にその評語です",
            "The override already has this grade",
            field="grade",
        )
