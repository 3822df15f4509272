"""The reference datasets: they load, they are what the converter writes, their counts add up."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from suishin.contracts.planfile import NodeKind, PlanFile, load_plan_file

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / "datasets"
REFERENCE = REPO.parent / "shared" / "reference"
FILES = sorted(DATASETS.glob("*.yaml"))

# plan keys other files may name that have no file of their own (documented in the README)
ABSENT_PLANS = {("itabashi", "dx2025"), ("itabashi", "ict2020")}


def _load_all() -> dict[str, PlanFile]:
    return {path.stem: load_plan_file(path) for path in FILES}


@pytest.fixture(scope="module")
def plans() -> dict[str, PlanFile]:
    return _load_all()


def test_all_six_files_are_there() -> None:
    assert [p.stem for p in FILES] == [
        "bunkyo-ict-vision-2019",
        "itabashi-dx2025-early",
        "itabashi-dx2025-late",
        "itabashi-ict2020-addendum",
        "nerima-ict2016",
        "nerima-ict2020",
    ]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_dataset_loads_without_errors(path: Path) -> None:
    plan_file = load_plan_file(path)
    assert path.stem == f"{plan_file.tenant.slug}-{plan_file.plan.key}"


def _converter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_datasets", REPO / "tools" / "build_datasets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_datasets", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (REFERENCE / "plans").is_dir(),
    reason=f"reference material not found at {REFERENCE} (CI clones shared/ beside the repo)",
)
def test_converter_output_equals_the_files_on_disk() -> None:
    built = _converter().build(REFERENCE)
    assert sorted(built) == [p.name for p in FILES]
    for name, text in built.items():
        assert (DATASETS / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run `uv run python tools/build_datasets.py`"
        )


def test_indicator_keys_unique_per_tenant(plans: dict[str, PlanFile]) -> None:
    keys: Counter[tuple[str, str]] = Counter()
    for pf in plans.values():
        keys.update((pf.tenant.slug, i.key) for i in pf.indicators)
        assert all(i.key.startswith(f"{pf.plan.key}.") for i in pf.indicators)
    assert [k for k, n in keys.items() if n > 1] == []


def test_cross_file_references_resolve(plans: dict[str, PlanFile]) -> None:
    known = {(pf.tenant.slug, pf.plan.key): pf for pf in plans.values()}
    for pf in plans.values():
        tenant = pf.tenant.slug
        for ref in (pf.plan.predecessor, pf.plan.parent_plan):
            if ref is not None:
                assert (tenant, ref) in known or (tenant, ref) in ABSENT_PLANS, ref
        for path, _, node in pf.iter_nodes():
            for lin in node.lineage:
                if lin.from_plan in (None, pf.plan.key) or lin.from_path is None:
                    continue
                other = known.get((tenant, lin.from_plan))
                assert other is not None, (path, lin.from_plan)
                assert other.node_at(lin.from_path) is not None, (path, lin.from_path)


def test_every_owned_measure_of_the_published_plans_has_owners(plans: dict[str, PlanFile]) -> None:
    # the sources name 担当部署 for every measure of these plans
    for name in ("itabashi-dx2025-late", "nerima-ict2020", "nerima-ict2016"):
        missing = [
            path
            for path, _, node in plans[name].iter_nodes()
            if node.kind is NodeKind.MEASURE and not node.owners
        ]
        assert missing == [], name
    # every indicator of the late plan has a reporting department
    late = plans["itabashi-dx2025-late"]
    assert all(late.indicator_owners(i) for i in late.indicators)


def test_early_phase_grades_match_the_printed_counts(plans: dict[str, PlanFile]) -> None:
    early = plans["itabashi-dx2025-early"]
    ev = early.published_evaluations
    assert ev is not None
    for fy, printed in ((2021, (5, 19, 1)), (2022, (3, 21, 1))):
        counted = Counter(g.grade for g in ev.grades if g.fiscal_year == fy)
        assert (counted["achieved_plus"], counted["achieved"], counted["not_achieved"]) == printed
        (summary,) = [s for s in ev.summaries if s.fiscal_year == fy and s.scope is None]
        assert (
            tuple(summary.counts[c] for c in ("achieved_plus", "achieved", "not_achieved"))
            == printed
        )
        assert summary.total == 25
    for s in ev.summaries:
        if s.scope is not None:
            counted = Counter(
                g.grade
                for g in ev.grades
                if g.fiscal_year == s.fiscal_year and g.path.startswith(f"{s.scope}/")
            )
            assert {k: counted[k] for k in s.counts} == s.counts, s.scope


def test_early_phase_has_actuals_to_recompute_from(plans: dict[str, PlanFile]) -> None:
    early = plans["itabashi-dx2025-early"]
    measures = [p for p, _, n in early.iter_nodes() if n.kind is NodeKind.MEASURE]
    assert len(measures) == 25
    with_actuals = {p for i in early.indicators if i.actuals for p in i.nodes}
    # every measure has at least one item with a printed FY2021/FY2022 actual
    for m in measures:
        assert any(p.startswith(f"{m}/") for p in with_actuals), m
    # マイナンバーカード交付枚数: the one 未達成 measure both years
    card = next(i for i in early.indicators if i.key == "dx2025-early.e12-1")
    targets = {(t.from_fiscal_year, t.fiscal_year): t.value for t in card.targets}
    assert targets[(None, 2021)] == 119052 and targets[(2021, 2023)] == 357156
    assert {a.period: a.value for a in card.actuals} == {"FY2021": 87095, "FY2022": 89491}


def test_nerima_previous_plan_grades(plans: dict[str, PlanFile]) -> None:
    ev = plans["nerima-ict2016"].published_evaluations
    assert ev is not None
    assert Counter(g.grade for g in ev.grades) == {"A": 30, "B": 1}


# -- counts against the extraction -----------------------------------------------------------


def _dataset_counts(pf: PlanFile) -> dict[str, int]:
    kinds = Counter(n.kind for _, _, n in pf.iter_nodes())
    return {
        "measures": kinds[NodeKind.MEASURE],
        "items": kinds[NodeKind.ITEM],
        "indicators": len(pf.indicators),
    }


def _extraction_counts(stem: str) -> dict[str, int]:
    def read(name: str) -> Any:
        return json.loads((REFERENCE / "plans" / name).read_text(encoding="utf-8"))

    if stem.startswith("itabashi-dx2025"):
        c = read("itabashi-dx-2025-late.json")["counts"]
        if stem.endswith("late"):
            return {
                "measures": c["later_measures_施策"],
                "items": c["later_items_事業量項目"],
                "indicators": c["indicators_later"],
            }
        return {
            "measures": c["prior_measures_施策"],
            "items": c["prior_items_事業量項目"],
            "indicators": c["indicators_prior"],
        }
    if stem == "itabashi-ict2020-addendum":
        d = read("itabashi-ict-2020-addendum.json")
        return {"measures": d["summary"]["measures_numbered"], "indicators": len(d["indicators"])}
    if stem.startswith("nerima"):
        d = read("nerima-ict-2020.json")
        current = stem.endswith("2020")
        inds = [
            i
            for i in d["indicators"]
            if (i["plan"] is None or i["plan"].startswith("練馬区情報化基本計画(令和")) == current
        ]
        sc = d["summary_counts"]["current_plan" if current else "previous_plan"]
        return {
            "measures": sc["leaf_measures"] if current else sc["measures"],
            "indicators": len(inds),
        }
    d = read("bunkyo-ict-vision-2019.json")
    c = d["counts"]
    return {
        "measures": c["施策_in_第4章"] + c["既存取組_第1章4(2)"] + c["横断的取組_第2章4"],
        "items": c["実施概要項目"],
        "indicators": c["indicators_total"],
    }


def _readme_differences() -> dict[tuple[str, str], tuple[int, int]]:
    rows = {}
    text = (DATASETS / "README.md").read_text(encoding="utf-8")
    for m in re.finditer(r"^\| ([a-z0-9-]+) \| (\w+) \| (\d+) \| (\d+) \| .+\|$", text, re.M):
        rows[(m.group(1), m.group(2))] = (int(m.group(3)), int(m.group(4)))
    return rows


@pytest.mark.skipif(
    not (REFERENCE / "plans").is_dir(), reason=f"reference material not found at {REFERENCE}"
)
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_counts_match_the_extraction_or_the_readme_says_why(path: Path) -> None:
    have = _dataset_counts(load_plan_file(path))
    expected = _extraction_counts(path.stem)
    explained = _readme_differences()
    for what, want in expected.items():
        if have[what] == want:
            assert (path.stem, what) not in explained, (
                f"README lists a difference that is gone: {what}"
            )
            continue
        assert explained.get((path.stem, what)) == (want, have[what]), (
            f"{path.stem}: {what} = {have[what]}, extraction says {want}; "
            "explain it in datasets/README.md"
        )


def test_the_printed_plan_features_are_used_where_the_sources_print_them(
    plans: dict[str, PlanFile],
) -> None:
    # 文京区: the vision names no 所管課 per 施策 → the 事務局 answers; 案 is a state; 目指す効果
    bunkyo = plans["bunkyo-ict-vision-2019"]
    assert bunkyo.plan.default_owner == "情報政策課" and bunkyo.plan.state.value == "proposal"
    measures = [n for _, _, n in bunkyo.iter_nodes() if n.kind is NodeKind.MEASURE]
    with_effects = [m for m in measures if m.expected_effects]
    assert len(with_effects) >= 8
    unowned = [p for p, _, n in bunkyo.iter_nodes() if n.kind is NodeKind.MEASURE and not n.owners]
    assert unowned and all(bunkyo.effective_owners(p) == ["情報政策課"] for p in unowned)
    # 板橋区 追録版: 施策 whose 施策の方向性 name a 官デ法 基本的施策 carry it as a framework tag
    addendum = plans["itabashi-ict2020-addendum"]
    tagged = {
        n.normalized_code: [f.item[:3] for f in n.frameworks]
        for _, _, n in addendum.iter_nodes()
        if n.frameworks
    }
    assert tagged == {
        "No.1": ["(イ)"],
        "No.3": ["(イ)"],
        "No.6": ["(カ)"],
        "No.7": ["(カ)"],
        "No.8": ["(カ)"],
        "No.9": ["(カ)"],
        "No.10": ["(オ)"],
        "No.13": ["(オ)"],
        "No.14": ["(オ)"],
        "No.31": ["基本的"],
    }
    # dated events the 施策詳細 print, and the national deadline past 練馬区's plan period
    assert [m.key for m in addendum.plan.milestones] == ["no9-1", "no36-1", "no37-1", "no39-1"]
    nerima = plans["nerima-ict2020"]
    [national, tokyo] = nerima.plan.milestones
    assert national.kind.value == "national_deadline" and str(national.due_date()) == "2025-12-31"
    assert national.due_date().year > nerima.plan.period.end
    assert tokyo.kind.value == "other"


def test_no_yearly_target_is_derived_from_a_multi_year_total(plans: dict[str, PlanFile]) -> None:
    """Grades use only bars the plan prints: every yearly target of the 前期 years is printed."""
    early = plans["itabashi-dx2025-early"]
    yearly = [
        (i.key, t)
        for i in early.indicators
        for t in i.targets
        if t.from_fiscal_year is None and t.fiscal_year in (2021, 2022)
    ]
    assert yearly and all(t.printed for _k, t in yearly)
    assert sorted({k for k, _t in yearly}) == [
        "dx2025-early.e02-2",
        "dx2025-early.e12-1",
        "dx2025-early.e13-1",
        "dx2025-early.e13-2",
    ]


def test_nerimas_scale_has_a_failing_grade_for_nothing_achieved(
    plans: dict[str, PlanFile],
) -> None:
    for name in ("nerima-ict2016", "nerima-ict2020"):
        scale = plans[name].grading_scale
        assert scale is not None
        assert [(g.code, g.label, g.failing) for g in scale.grades] == [
            ("A", "達成", False),
            ("B", "一部達成", False),
            ("C", "未達成", True),
        ]
