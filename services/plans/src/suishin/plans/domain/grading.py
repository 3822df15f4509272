"""Yearly grades of a measure on the tenant's scale (pure rules, no I/O).

A scale is a list of grades, best first. Each grade states what it needs from the measure's
indicator results for the year: a share (or count) of indicators met, and optionally that the
quantitative ones exceeded their target. The first grade whose conditions hold is the machine
grade; the last grade is the fallback (usually the failing one). Wards configure their scale on
the tenant (``tenants.grade_scale``); the built-in scales are below.

Indicator statuses come from the indicators service (``indicator.status_changed``):
``achieved`` and ``on_track`` count as met, ``at_risk`` and ``off_track`` as not met, and
``no_data`` / ``stale`` are left out (a measure with nothing evaluable gets no grade). A status
decided against a straight-line share of a multi-year total (a bar the plan never prints) is
re-read against printed bars only (:func:`result_from_event`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from suishin.contracts.calendar import format_fiscal_year
from suishin.contracts.enums import Comparator, IndicatorStatus
from suishin.contracts.events import Envelope, Figures, IndicatorStatusChanged
from suishin.contracts.planfile import (
    NAMED_GRADING_RULES,
    NO_GRADING_RULE,
    GradeCondition,
    GradingScale,
)
from suishin.kit.errors import DomainError

MET = frozenset({IndicatorStatus.ACHIEVED, IndicatorStatus.ON_TRACK})
NOT_EVALUABLE = frozenset({IndicatorStatus.NO_DATA, IndicatorStatus.STALE})


@dataclass(frozen=True)
class GradeDef:
    """One grade of a scale and what it asks of the measure's year.

    ``when``: conditions (:class:`~suishin.contracts.planfile.GradeCondition`) of which one must
    hold; ``provided``: conditions that must all hold as well. The last grade of a scale is the
    fallback and needs nothing.
    """

    code: str
    label: str
    meaning: str = ""
    failing: bool = False
    when: tuple[str, ...] = ()
    provided: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {_fold(n) for n in (self.code, self.label, *self.aliases)}


@dataclass(frozen=True)
class GradeScale:
    """A scale; ``machine`` False = the plan has no scale (rule ``none``): no machine grade, no
    failing grade, statuses only (its grades, if any, serve published grades and overrides)."""

    code: str
    name: str
    grades: tuple[GradeDef, ...]
    machine: bool = True

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
            "machine": self.machine,
            "grades": [
                {
                    "code": g.code,
                    "label": g.label,
                    "meaning": g.meaning,
                    "failing": g.failing,
                    "when": list(g.when),
                    "provided": list(g.provided),
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
                when=tuple(g.get("when") or _legacy_when(g)),
                provided=tuple(g.get("provided") or ()),
                aliases=tuple(g.get("aliases") or ()),
            )
            for g in data["grades"]
        )
        machine = bool(data.get("machine", True))
        if not grades and machine:
            raise ValueError("a grade scale needs at least one grade")
        name = str(data.get("name") or data["code"])
        return cls(code=str(data["code"]), name=name, grades=grades, machine=machine)


def _legacy_when(g: Mapping[str, Any]) -> tuple[str, ...]:
    """Conditions of a scale stored before grades stated them (share/count of met)."""
    if g.get("exceeded"):
        return (GradeCondition.EXCEEDED_PRINTED_BAR.value,)
    if float(g.get("min_met_ratio") or 0) >= 1:
        return (GradeCondition.ALL_MET.value,)
    if float(g.get("min_met_ratio") or 0) > 0:
        return (GradeCondition.ALL_OR_MOST_MET.value,)
    if int(g.get("min_met") or 0) > 0:
        return (GradeCondition.SOME_MET.value,)
    return ()


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


def _rule(name: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    return NAMED_GRADING_RULES[name]


def _grades_of(
    rule: str, grades: Sequence[tuple[str, str, str, bool, tuple[str, ...]]]
) -> tuple[GradeDef, ...]:
    conditions = _rule(rule)
    out = []
    for i, (code, label, meaning, failing, aliases) in enumerate(grades):
        when, provided = conditions[i] if i < len(grades) - 1 else ((), ())
        out.append(GradeDef(code, label, meaning, failing, when, provided, aliases))
    return tuple(out)


# 板橋区 (DX推進計画2025 資料編): 達成＋ = the year's planned workload was exceeded; 達成 = all or
# most (大部分) of the workload achieved, or the measure completed; 未達成 = otherwise. The 後期
# adds that numeric workloads are set and every one of them is achieved (plan files say which).
ITABASHI_SCALE = GradeScale(
    code="itabashi",
    name="板橋区 評語（達成＋／達成／未達成）",
    grades=_grades_of(
        "itabashi-dx2025-early",
        [
            ("achieved_plus", "達成＋", "計画の事業量を上回る実績", False, ("達成+",)),
            (
                "achieved",
                "達成",
                "計画の事業量の全部若しくは大部分を達成、又は施策として完了",
                False,
                (),
            ),
            (
                "not_achieved",
                "未達成",
                "施策の遅延等により、事業量の全部若しくは大部分が未達成",
                True,
                (),
            ),
        ],
    ),
)

# 練馬区 (情報化基本計画 前計画の取組結果): A 達成 / B 一部達成. The printed legend has no third
# grade; C 未達成 is added so that a measure with nothing met is not called 一部達成.
NERIMA_SCALE = GradeScale(
    code="nerima",
    name="練馬区 取組結果（A 達成／B 一部達成）",
    grades=_grades_of(
        "nerima-ab",
        [
            ("A", "A 達成", "取組を達成", False, ("達成",)),
            ("B", "B 一部達成", "取組を一部達成", False, ("一部達成",)),
            ("C", "C 未達成", "取組を達成していない", True, ("未達成",)),
        ],
    ),
)

DEFAULT_SCALE = GradeScale(
    code="default",
    name="標準（達成／一部達成／未達成）",
    grades=_grades_of(
        "all_some",
        [
            ("achieved", "達成", "全ての指標を達成", False, ()),
            ("partly_achieved", "一部達成", "一部の指標を達成", False, ()),
            ("not_achieved", "未達成", "指標を達成していない", True, ()),
        ],
    ),
)

BUILT_IN_SCALES: dict[str, GradeScale] = {
    s.code: s for s in (ITABASHI_SCALE, NERIMA_SCALE, DEFAULT_SCALE)
}


def scale_from_plan_file(code: str, name: str, scale: GradingScale) -> GradeScale:
    """A plan file's scale with the conditions of each grade (its own ``when`` or its rule's).

    The plan file has been validated: its rule is known or every grade states ``when``."""
    conditions = scale.conditions()
    return GradeScale(
        code=code,
        name=name,
        machine=scale.rule != NO_GRADING_RULE,
        grades=tuple(
            GradeDef(
                g.code,
                g.label,
                g.description or "",
                failing=g.failing,
                when=when,
                provided=provided,
                aliases=tuple(g.label_variants),
            )
            for g, (when, provided) in zip(scale.grades, conditions, strict=True)
        ),
    )


def default_scale_for(tenant: str) -> GradeScale:
    """The built-in scale a ward starts with (a tenant may configure another)."""
    return BUILT_IN_SCALES.get(tenant, DEFAULT_SCALE)


# --- machine grade -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator's status for the year, as the grade needs it.

    ``bar`` names the printed bar the actual beat in the year (None: none); ``exceeded`` is
    ``bar is not None``, kept for the readers of the stored statuses. ``met``: whether the
    indicator counts as met for the grade when its status was decided against a year share of a
    multi-year total (None: the status decides), ``note`` the printed bar that decided it."""

    indicator_id: UUID | str
    status: IndicatorStatus
    quantitative: bool = False
    exceeded: bool = False
    bar: str | None = None
    title: str | None = None
    met: bool | None = None
    note: str | None = None

    @property
    def counts_as_met(self) -> bool:
        return self.met if self.met is not None else self.status in MET


@dataclass(frozen=True)
class GradeDecision:
    grade: str | None
    reason: str
    met: int = 0
    evaluated: int = 0
    exceeded: int = 0
    quantitative: int = 0
    details: dict[str, Any] = field(default_factory=dict)


CONDITION_TEXT: dict[str, tuple[str, str]] = {
    GradeCondition.EXCEEDED_PRINTED_BAR: ("計画に印字された水準を上回る実績", "beat a printed bar"),
    GradeCondition.ALL_OR_MOST_MET: ("事業量の全部若しくは大部分を達成", "all or most met"),
    GradeCondition.ALL_MET: ("全ての事業量を達成", "all met"),
    GradeCondition.SOME_MET: ("一部の事業量を達成", "some met"),
    GradeCondition.COMPLETED: ("施策として完了", "measure completed"),
    GradeCondition.EVERY_QUANTITATIVE_MET: (
        "定量の事業量が設定され、その全てを達成",
        "every quantitative workload met",
    ),
}


def _holds(
    kind: str, met: list[IndicatorResult], evaluated: list[IndicatorResult], completed: bool
) -> bool:
    quantitative = [r for r in evaluated if r.quantitative]
    if kind == GradeCondition.EXCEEDED_PRINTED_BAR:
        return any(r.bar for r in met)
    if kind == GradeCondition.ALL_OR_MOST_MET:
        return bool(met) and 2 * len(met) >= len(evaluated)
    if kind == GradeCondition.ALL_MET:
        return bool(evaluated) and len(met) == len(evaluated)
    if kind == GradeCondition.SOME_MET:
        return bool(met)
    if kind == GradeCondition.COMPLETED:
        return completed
    if kind == GradeCondition.EVERY_QUANTITATIVE_MET:
        return bool(quantitative) and all(r.counts_as_met for r in quantitative)
    raise ValueError(f"unknown grading condition {kind!r}")  # the plan file check refuses it


def machine_grade(
    scale: GradeScale,
    results: Sequence[IndicatorResult],
    *,
    completed: bool = False,
    level_label: str | None = None,
) -> GradeDecision:
    """The grade the year's indicator results (and completion) earn on ``scale``; None when
    nothing is evaluable and the measure is not completed. The reason names what decided it:
    the printed bar that was beaten, the share met, or completion (「取組として完了」 in the
    plan's word for the level, ``level_label``; 施策 when the plan gives none)."""
    if not scale.machine:
        return GradeDecision(
            None, "この計画には評価尺度がありません（no grading scale: statuses only）"
        )
    evaluated = [r for r in results if r.status not in NOT_EVALUABLE]
    if not evaluated and not completed:
        return GradeDecision(None, "評価できる指標の実績がありません（no evaluable indicator）")
    met = [r for r in evaluated if r.counts_as_met]
    quantitative = [r for r in evaluated if r.quantitative]
    beaten = [r for r in met if r.bar]
    counts = f"達成 {len(met)}/{len(evaluated)}"
    # indicators whose status the indicators service decided against a year share: the printed
    # bar the grade read them against instead
    reread = "、".join(f"{r.title or r.indicator_id}: {r.note}" for r in evaluated if r.note)
    if reread:
        counts = f"{reread}／{counts}"

    def decision(grade: GradeDef, why: str) -> GradeDecision:
        return GradeDecision(
            grade.code,
            f"{grade.label}: {why}（{counts}）",
            len(met),
            len(evaluated),
            len(beaten),
            len(quantitative),
        )

    for grade in scale.grades[:-1]:
        if not grade.when:
            continue
        if not all(_holds(k, met, evaluated, completed) for k in grade.provided):
            continue
        for kind in grade.when:
            if not _holds(kind, met, evaluated, completed):
                continue
            ja, en = CONDITION_TEXT.get(kind, (kind, kind))
            if kind == GradeCondition.COMPLETED and level_label:
                ja = f"{level_label}として完了"
            if kind == GradeCondition.EXCEEDED_PRINTED_BAR:
                bars = "、".join(f"{r.title or r.indicator_id}: {r.bar}" for r in beaten)
                why = f"{ja}（{bars}）"
            else:
                why = f"{ja} / {en}"
            return decision(grade, why)
    fallback = scale.grades[-1]
    return decision(fallback, "上位の評語の条件を満たしません / no better grade's condition holds")


# Rules of the indicators service whose figures compare the year's actual with a bar the plan
# prints for that year (a yearly target, or the plan period's total in its last year).
_YEAR_BAR_RULES = frozenset({"per_year_final", "per_year_reached", "level_final"})
_FINAL_TOTAL_RULES = frozenset({"cumulative_final"})
# Rules that compare a running total with a straight-line share of a multi-year total (yearly
# thirds of a 3か年事業量): an early warning of the indicators service, not a printed bar.
SHARE_OF_TOTAL_RULES = frozenset({"cumulative_year_share", "cumulative_prorated"})


def result_from_event(
    indicator_id: UUID | str,
    status: IndicatorStatus,
    figures: Figures | Mapping[str, Any],
    *,
    rule: str | None = None,
    fiscal_year: int | None = None,
) -> IndicatorResult:
    """What the grade needs from an ``indicator.status_changed``: whether the indicator is
    quantitative, and which printed bar its actual beat in the year (if any).

    Printed bars only: a yearly target the plan prints (strictly beaten: ``per_year_final``,
    ``per_year_reached``, ``level_final``), a multi-year total reached by the year's own actual
    (``cumulative_reached_in_year``) or beaten in its last year (``cumulative_final``), a
    printed increment (a numeric target of a 拡大 text, ``text_expansion`` against it). A year
    share of a multi-year total (``…_year_share``, ``…_prorated``) is not printed and is never a
    bar; neither is a total reached by adding earlier years, nor a number printed only in the
    actual (「55手続き拡大」 against a target of 拡大).

    A status decided against such a year share is re-read for the grade (板橋区 前期: 施策11
    操作研修 「計10回以上 | 2回 3回」 graded 達成 both years): met when the printed total is
    reached, or when the year's own actual shows work done toward it (more than 0; for an upper
    limit 「計N以下」, when the running total is still within it); see :func:`_share_reading`."""
    data = figures.model_dump() if isinstance(figures, Figures) else dict(figures)
    actual = _decimal(data.get("actual"))
    target = _decimal(data.get("target"))
    comparator = data.get("comparator")
    unit = data.get("unit") or ""
    printed = data.get("target_text") or (f"{target}{unit}" if target is not None else "")
    quantitative = target is not None
    bar: str | None = None
    if status in MET:
        if rule in _YEAR_BAR_RULES and exceeds(actual, target, comparator):
            bar = f"年度目標「{printed}」を上回る実績 {actual}{unit}"
        elif rule in _FINAL_TOTAL_RULES and exceeds(actual, target, comparator):
            bar = f"計画期間の目標「{printed}」を上回る累計 {actual}{unit}"
        elif rule == "cumulative_reached_in_year":
            bar = f"複数年度の目標「{printed}」に年度内の実績だけで到達（累計 {actual}{unit}）"
        elif rule == "text_expansion" and target is not None and exceeds(actual, target, None):
            bar = f"印字された拡大「{printed}」を上回る {actual}{unit}"
    met: bool | None = None
    note: str | None = None
    if rule in SHARE_OF_TOTAL_RULES and status not in NOT_EVALUABLE:
        year_actual = _decimal(data.get("year_actual"))
        met, note = _share_reading(
            actual, year_actual, target, comparator, printed, unit, fiscal_year
        )
    return IndicatorResult(
        indicator_id,
        status,
        quantitative=quantitative,
        exceeded=bar is not None,
        bar=bar,
        met=met,
        note=note,
    )


def _share_reading(
    total: Decimal | None,
    year_actual: Decimal | None,
    target: Decimal | None,
    comparator: str | None,
    printed: str,
    unit: str,
    fiscal_year: int | None,
) -> tuple[bool | None, str | None]:
    """(met, note) of an indicator judged against a year share of its printed multi-year total:
    met when the total is reached by the year, or the year's own actual is more than 0 (work done
    toward it); an upper limit is met while the running total stays within it. (None, None)
    when the event does not carry the figures (the status then decides)."""
    year = f"{format_fiscal_year(fiscal_year)} " if fiscal_year is not None else ""
    if total is None or target is None:
        return None, None
    if comparator in (Comparator.AT_MOST, Comparator.AT_MOST.value):
        within = total <= target
        verb = "の範囲内" if within else "を超過"
        return within, f"複数年度の上限「{printed}」{verb}（累計 {total}{unit}）"
    if comparator not in (None, Comparator.AT_LEAST, Comparator.AT_LEAST.value):
        return None, None
    if total >= target:
        return True, f"複数年度の目標「{printed}」に到達（累計 {total}{unit}）"
    if year_actual is None:
        return None, None
    if year_actual > 0:
        return True, f"複数年度の目標「{printed}」に向けて実施（{year}{year_actual}{unit}）"
    return False, f"複数年度の目標「{printed}」に向けた実績なし（{year}{year_actual}{unit}）"


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
