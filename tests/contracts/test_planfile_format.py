"""The plan file format: models, navigation, ids, 和暦, round trip, JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from suishin.contracts import ids
from suishin.contracts.enums import Aggregation, Comparator, MeasureStatus
from suishin.contracts.planfile import (
    LineageKind,
    NodeKind,
    PlanFile,
    PlanFileInvalid,
    SchedulePhase,
    dump_plan_file,
    load_plan_file,
    loads_plan_file,
    plan_file_data,
    plan_file_json_schema,
)

EXAMPLE = """\
format_version: 1
tenant: {slug: itabashi, name: 板橋区}
grading_scale:
  rule: itabashi-dx2025-late
  grades:
    - {code: achieved_plus, label: 達成＋, label_variants: [達成+]}
    - {code: achieved, label: 達成}
    - {code: not_achieved, label: 未達成, failing: true}
departments:
  - {code: 政策経営部, name: 政策経営部, kind: bu}
  - {code: IT推進課, name: IT推進課, parent: 政策経営部, aliases: [IT 推進課]}
  - {code: 人事課, name: 人事課}
bodies:
  - {code: DX推進本部, name: DX推進本部, kind: 本部, chair: 区長, secretariat: IT推進課}
  - {code: 情報化推進部会, name: 情報化推進部会, kind: 部会, parent: DX推進本部}
posts:
  - {code: CIO, name: 情報統括責任者, held_by: 副区長}
  - {code: 事務局, name: 事務局, department: IT推進課}
plan:
  key: dx2025-late
  title: 板橋区DX推進計画2025 後期実施計画
  kind: 実施計画
  period: {start: 令和6年度, end: R7}
  phase: 後期
  predecessor: dx2025-early
  level_labels: [基本方針, 施策, 事業量]
  tags:
    - {code: 定量事業量, label: 【定量事業量】}
nodes:
  - code: 基本方針Ⅰ
    kind: group
    level: 0
    title: 業務の改善・効率化
    children:
      - code: № 1
        normalized_code: 施策1
        kind: measure
        level: 1
        title: RPA・AI活用による業務の改善・効率化
        owners: [IT推進課, 人事課]
        lead: IT推進課
        others_text: その他関係部署
        status: 継続
        lineage:
          - {kind: merged, from_plan: dx2025-early, from_path: 基本方針Ⅰ/施策2}
        children:
          - code: RPA
            kind: item
            level: 2
            title: RPA
            tags: [定量事業量]
            schedule:
              - {fiscal_year: 令和6年度, label: 拡大, phase: expanding}
              - {fiscal_year: 2025, label: "-", phase: none}
  - code: 基本方針Ⅱ
    kind: group
    level: 0
    title: マイナンバーカードの普及・活用
    children:
      - code: № 1
        normalized_code: 施策1
        kind: measure
        level: 1
        title: 同じ番号でも別の親
        owners: [IT推進課]
        primary_goal: 基本方針Ⅱ
        related_goals: [基本方針Ⅰ]
indicators:
  - key: dx2025-late.l01
    title: RPA 作成シナリオ数
    nodes: [基本方針Ⅰ/施策1/RPA, 基本方針Ⅱ/施策1]
    unit: シナリオ
    aggregation: per_year
    baseline: {value: 10, fiscal_year: R4}
    targets:
      - {fiscal_year: 2024, comparator: gte, value: 10, printed: 10シナリオ以上}
      - {fiscal_year: 2025, text: 拡大}
    target_revisions:
      - fiscal_year: 2025
        old: {comparator: gte, value: 10}
        new: {text: 拡大}
        reason: 後期で定性目標へ
    actuals:
      - {period: 令和6年度, value: 12.5, source: RPAログ}
      - {period: 令和6年8月, value: 3}
      - {period: 2024-08-01, value: 1}
published_evaluations:
  grades:
    - {path: 基本方針Ⅰ/施策1, fiscal_year: 2024, grade: achieved_plus, printed: 達成＋}
  summaries:
    - {fiscal_year: 2024, counts: {achieved_plus: 1, achieved: 0}, total: 1}
notes:
  - {kind: inferred, text: 例}
"""


@pytest.fixture
def example() -> PlanFile:
    return loads_plan_file(EXAMPLE, "example.yaml")


def test_example_loads_with_normalised_years(example: PlanFile) -> None:
    assert example.plan.period.start == 2024
    assert example.plan.period.end == 2025
    assert example.indicators[0].baseline is not None
    assert example.indicators[0].baseline.fiscal_year == 2022
    assert [a.period for a in example.indicators[0].actuals] == ["FY2024", "2024-08", "2024-08-01"]
    schedule = example.nodes[0].children[0].children[0].schedule
    assert [e.fiscal_year for e in schedule] == [2024, 2025]
    assert schedule[0].phase is SchedulePhase.EXPANDING
    assert example.indicators[0].targets[0].comparator is Comparator.AT_LEAST
    assert example.indicators[0].aggregation is Aggregation.PER_YEAR


def test_iter_nodes_depth_first_with_paths(example: PlanFile) -> None:
    entries = [(path, parent) for path, parent, _ in example.iter_nodes()]
    assert entries == [
        ("基本方針Ⅰ", None),
        ("基本方針Ⅰ/施策1", "基本方針Ⅰ"),
        ("基本方針Ⅰ/施策1/RPA", "基本方針Ⅰ/施策1"),
        ("基本方針Ⅱ", None),
        ("基本方針Ⅱ/施策1", "基本方針Ⅱ"),
    ]
    node = example.node_at("基本方針Ⅰ/施策1")
    assert node is not None
    assert node.kind is NodeKind.MEASURE
    assert node.status is MeasureStatus.CONTINUED
    assert node.lineage[0].kind is LineageKind.MERGED
    # normalized_code defaults to the printed code
    rpa = example.node_at("基本方針Ⅰ/施策1/RPA")
    assert rpa is not None and rpa.normalized_code == "RPA"


def test_ids_are_derived_from_natural_keys(example: PlanFile) -> None:
    assert example.plan_id() == ids.plan_id("itabashi", "dx2025-late")
    assert example.node_id("基本方針Ⅱ/施策1") == ids.node_id(
        "itabashi", "dx2025-late", "基本方針Ⅱ/施策1"
    )
    assert example.node_id("基本方針Ⅰ/施策1") != example.node_id("基本方針Ⅱ/施策1")
    assert example.indicator_id("dx2025-late.l01") == ids.indicator_id(
        "itabashi", "dx2025-late.l01"
    )


def test_indicator_owners_default_to_linked_nodes(example: PlanFile) -> None:
    assert example.indicator_owners(example.indicators[0]) == ["IT推進課", "人事課"]


def test_grading_scale_lookup(example: PlanFile) -> None:
    scale = example.grading_scale
    assert scale is not None
    grade = scale.grade("達成+")
    assert grade is not None and grade.code == "achieved_plus"
    failing = scale.grade("not_achieved")
    assert failing is not None and failing.failing
    assert scale.grade("A") is None


def test_dump_round_trips(example: PlanFile) -> None:
    text = dump_plan_file(example)
    assert "達成＋" in text  # Japanese unescaped
    assert "\\u" not in text
    again = loads_plan_file(text, "dumped.yaml")
    assert again == example
    assert dump_plan_file(again) == text  # stable


def test_dump_writes_integers_for_wareki_years(example: PlanFile) -> None:
    data = yaml.safe_load(dump_plan_file(example))
    assert data["plan"]["period"] == {"start": 2024, "end": 2025}
    assert data["format_version"] == 1
    # defaults left out, normalized_code left out when equal to code
    rpa = data["nodes"][0]["children"][0]["children"][0]
    assert "normalized_code" not in rpa
    assert "owners" not in rpa


def test_dump_key_order_follows_the_format(example: PlanFile) -> None:
    data = yaml.safe_load(dump_plan_file(example))
    assert list(data)[:3] == ["format_version", "tenant", "grading_scale"]
    measure = data["nodes"][0]["children"][0]
    assert list(measure)[:4] == ["code", "normalized_code", "kind", "level"]


def test_json_files_are_accepted(tmp_path: Path, example: PlanFile) -> None:
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps(plan_file_data(example), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    assert load_plan_file(path) == example


def test_json_schema_describes_the_file() -> None:
    schema = plan_file_json_schema()
    assert schema["title"] == "Suishin plan file"
    assert {"tenant", "plan", "nodes", "indicators"} <= set(schema["properties"])
    defs = schema["$defs"]
    assert "Node" in defs and "Indicator" in defs
    # fiscal years accept integers and 和暦 strings
    period = defs["PlanPeriod"]["properties"]["start"]
    assert {"integer", "string"} <= {alt["type"] for alt in period["anyOf"]}
    json.dumps(schema)  # serialisable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021", 2021),
        ("FY2021", 2021),
        ("令和3年度", 2021),
        ("R3", 2021),
        ("H30", 2018),
        ("平成31年度", 2019),
        ("令和元年度", 2019),
        ("平成32年度", 2020),
        ("平成33年度", 2021),
        ("２０２１", 2021),
    ],
)
def test_wareki_years_in_the_file(text: str, expected: int) -> None:
    doc = yaml.safe_load(EXAMPLE)
    doc["plan"]["period"] = {"start": text, "end": 2030}
    plan_file = loads_plan_file(yaml.safe_dump(doc, allow_unicode=True), "wareki.yaml")
    assert plan_file.plan.period.start == expected


def test_constructing_in_code_runs_the_rules() -> None:
    doc = yaml.safe_load(EXAMPLE)
    doc["nodes"][0]["children"][0]["owners"] = ["存在しない課"]
    with pytest.raises(ValueError, match="unknown department"):
        PlanFile.model_validate(doc)


def test_invalid_example_is_rejected_by_the_loader() -> None:
    doc = yaml.safe_load(EXAMPLE)
    doc["plan"]["period"]["end"] = "令和99年度の次"
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(yaml.safe_dump(doc, allow_unicode=True), "bad.yaml")
    assert exc.value.errors[0].code == "invalid_fiscal_year"


def test_the_documented_example_loads() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "plan-file-format.md"
    text = doc.read_text(encoding="utf-8")
    block = text.split("## A short example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    plan_file = loads_plan_file(block, "docs/plan-file-format.md")
    assert plan_file.indicators[0].nodes == ["基本方針Ⅰ/施策1/RPA"]
    assert plan_file.effective_owners("基本方針Ⅰ/施策1/RPA") == ["IT推進課"]
