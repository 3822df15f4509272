"""板橋区 DX2025 前期: grades recomputed from the published actuals against the published ones.

The ward published (資料編): FY2021 5 達成＋ / 19 達成 / 1 未達成, FY2022 3 / 21 / 1. The machine
grade differs for five (measure, year) pairs; each is explained in docs/plans-service.md
("Grades check"). This test pins both the counts and the exact list of differences.
"""

from __future__ import annotations

from collections import Counter

from suishin.plans.domain.grading import GradeScale, compare_with_published, rule_conditions
from suishin.plans.importer import _scale_json

from .conftest import dataset

PUBLISHED_COUNTS = {
    2021: {"achieved_plus": 5, "achieved": 19, "not_achieved": 1},
    2022: {"achieved_plus": 3, "achieved": 21, "not_achieved": 1},
}

# (measure path, fiscal year, machine grade, published grade)
EXPLAINED_DIFFERENCES = [
    ("基本方針Ⅰ/施策10", 2021, "achieved", "achieved_plus"),
    ("基本方針Ⅲ/施策16", 2021, "achieved", "achieved_plus"),
    ("基本方針Ⅳ/施策21", 2022, "achieved_plus", "achieved"),
    ("基本方針Ⅳ/施策22", 2021, "achieved_plus", "achieved"),
    ("基本方針Ⅳ/施策22", 2022, "achieved_plus", "achieved"),
]


def test_recomputed_grades_match_the_published_ones_but_for_the_explained_differences() -> None:
    plan_file = dataset("itabashi-dx2025-early")
    scale_json = _scale_json(plan_file)
    assert scale_json is not None
    scale = GradeScale.from_json(scale_json)
    assert (
        rule_conditions(plan_file.grading_scale.rule if plan_file.grading_scale else "")[0].exceeded
        == "all"
    )
    rows = compare_with_published(plan_file, scale, [2021, 2022])

    published = {y: Counter(r.published for r in rows if r.fiscal_year == y) for y in (2021, 2022)}
    assert published == PUBLISHED_COUNTS  # the file holds what the ward printed

    differences = [
        (r.path, r.fiscal_year, r.machine, r.published) for r in rows if r.machine != r.published
    ]
    assert differences == EXPLAINED_DIFFERENCES
    machine = {y: Counter(r.machine for r in rows if r.fiscal_year == y) for y in (2021, 2022)}
    assert machine == {
        2021: {"achieved_plus": 4, "achieved": 20, "not_achieved": 1},
        2022: {"achieved_plus": 5, "achieved": 19, "not_achieved": 1},
    }
    # the one 未達成 is the same measure both years: マイナンバーカードの交付率向上
    failing = [(r.path, r.fiscal_year) for r in rows if r.machine == "not_achieved"]
    assert failing == [("基本方針Ⅱ/施策12", 2021), ("基本方針Ⅱ/施策12", 2022)]
