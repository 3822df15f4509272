"""Plan file errors: every rule, every error reported, with file, path, line and column."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from suishin.contracts.planfile import (
    PlanFileError,
    PlanFileInvalid,
    load_plan_file,
    loads_plan_file,
)

BASE: dict[str, Any] = {
    "format_version": 1,
    "tenant": {"slug": "nerima", "name": "練馬区"},
    "grading_scale": {
        "rule": "nerima-ab",
        "grades": [{"code": "A", "label": "達成"}, {"code": "B", "label": "一部達成"}],
    },
    "departments": [
        {"code": "企画部", "name": "企画部", "kind": "bu"},
        {"code": "情報政策課", "name": "情報政策課", "parent": "企画部"},
        {"code": "保育課", "name": "保育課"},
    ],
    "bodies": [{"code": "IT推進本部", "name": "IT推進本部", "secretariat": "情報政策課"}],
    "posts": [{"code": "CIO", "name": "最高情報化管理責任者", "department": "情報政策課"}],
    "plan": {
        "key": "ict2020",
        "title": "練馬区情報化基本計画",
        "kind": "基本計画",
        "period": {"start": "R2", "end": "R6"},
        "level_labels": ["目標", "取組項目", "取組"],
        "tags": [{"code": "重点", "label": "重点"}],
    },
    "nodes": [
        {
            "code": "目標1",
            "kind": "group",
            "level": 0,
            "title": "窓口サービス",
            "children": [
                {
                    "code": "1-1",
                    "kind": "group",
                    "level": 1,
                    "title": "電子申請の拡充",
                    "children": [
                        {
                            "code": "①",
                            "kind": "measure",
                            "level": 2,
                            "title": "申請手続きのオンライン化",
                            "owners": ["情報政策課", "保育課"],
                            "tracks": [{"name": "ワンストップ", "owners": ["保育課"]}],
                            "schedule": [
                                {
                                    "fiscal_year": 2020,
                                    "label": "拡大",
                                    "phase": "expanding",
                                    "track": "ワンストップ",
                                }
                            ],
                        },
                        {
                            "code": "②",
                            "kind": "measure",
                            "level": 2,
                            "title": "予約",
                            "owners": ["保育課"],
                        },
                    ],
                },
            ],
        },
        {"code": "目標2", "kind": "group", "level": 0, "title": "暮らし"},
    ],
    "indicators": [
        {
            "key": "ict2020.t1",
            "title": "設置校数",
            "nodes": ["目標1/1-1/①"],
            "sub_series": [{"key": "school", "title": "学校"}],
            "targets": [{"fiscal_year": 2020, "comparator": "gte", "value": 10}],
            "actuals": [{"period": "FY2020", "value": 11}],
        }
    ],
    "published_evaluations": {
        "grades": [{"path": "目標1/1-1/①", "grade": "A"}],
        "summaries": [{"counts": {"A": 1}, "total": 1}],
    },
}

M1 = ("nodes", 0, "children", 0, "children", 0)


def at(doc: dict[str, Any], loc: tuple[Any, ...]) -> Any:
    for part in loc:
        doc = doc[part]
    return doc


def errors_of(doc: dict[str, Any], name: str = "plan.yaml") -> list[PlanFileError]:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(text, name)
    return exc.value.errors


def test_base_document_is_valid() -> None:
    loads_plan_file(yaml.safe_dump(BASE, allow_unicode=True), "base.yaml")


def _set(loc: tuple[Any, ...], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        at(doc, loc)[key] = value

    return mutate


def _append(loc: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        at(doc, loc).append(value)

    return mutate


RULES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "duplicate code among siblings",
        _set((*M1[:-1], 1), "code", "①"),
        "duplicate_code",
        "nodes[0].children[0].children[1].code",
    ),
    (
        "duplicate normalized code",
        _set((*M1[:-1], 1), "normalized_code", "①"),
        "duplicate_code",
        "nodes[0].children[0].children[1].normalized_code",
    ),
    (
        "slash in a code",
        _set(M1, "normalized_code", "a/b"),
        "invalid_code",
        "nodes[0].children[0].children[0].normalized_code",
    ),
    (
        "level outside the labels",
        _set(M1, "level", 3),
        "invalid_level",
        "nodes[0].children[0].children[0].level",
    ),
    (
        "child not below parent",
        _set(M1, "level", 1),
        "invalid_level",
        "nodes[0].children[0].children[0].level",
    ),
    (
        "unknown owner",
        _set(M1, "owners", ["情報政策課", "幽霊課"]),
        "unknown_department",
        "nodes[0].children[0].children[0].owners[1]",
    ),
    (
        "owner twice",
        _set(M1, "owners", ["保育課", "保育課"]),
        "duplicate_owner",
        "nodes[0].children[0].children[0].owners[1]",
    ),
    (
        "lead not an owner",
        _set(M1, "lead", "企画部"),
        "lead_not_owner",
        "nodes[0].children[0].children[0].lead",
    ),
    (
        "unknown track owner",
        _set((*M1, "tracks", 0), "owners", ["幽霊課"]),
        "unknown_department",
        "nodes[0].children[0].children[0].tracks[0].owners[0]",
    ),
    (
        "unknown primary goal",
        _set(M1, "primary_goal", "目標9"),
        "unknown_node",
        "nodes[0].children[0].children[0].primary_goal",
    ),
    (
        "goal is itself",
        _set(M1, "related_goals", ["目標1/1-1/①"]),
        "self_reference",
        "nodes[0].children[0].children[0].related_goals[0]",
    ),
    (
        "goal is a descendant",
        _set(("nodes", 0), "primary_goal", "目標1/1-1"),
        "goal_cycle",
        "nodes[0].primary_goal",
    ),
    (
        "goal twice",
        _set(M1, "related_goals", ["目標2", "目標2"]),
        "duplicate_goal",
        "nodes[0].children[0].children[0].related_goals[1]",
    ),
    (
        "unknown tag",
        _set(M1, "tags", ["重点", "謎"]),
        "unknown_tag",
        "nodes[0].children[0].children[0].tags[1]",
    ),
    (
        "duplicate tag",
        _append(("plan", "tags"), {"code": "重点", "label": "x"}),
        "duplicate_tag",
        "plan.tags[1].code",
    ),
    (
        "schedule outside the period",
        _append(
            (*M1, "schedule"),
            {"fiscal_year": "R7", "label": "運用", "phase": "running", "track": "ワンストップ"},
        ),
        "fiscal_year_out_of_period",
        "nodes[0].children[0].children[0].schedule[1].fiscal_year",
    ),
    (
        "unknown schedule track",
        _append(
            (*M1, "schedule"),
            {"fiscal_year": 2021, "label": "運用", "phase": "running", "track": "謎"},
        ),
        "unknown_track",
        "nodes[0].children[0].children[0].schedule[1].track",
    ),
    (
        "schedule twice",
        _append(
            (*M1, "schedule"),
            {"fiscal_year": 2020, "label": "運用", "phase": "running", "track": "ワンストップ"},
        ),
        "duplicate_schedule",
        "nodes[0].children[0].children[0].schedule[1]",
    ),
    (
        "lineage to an unknown node of this plan",
        _set(M1, "lineage", [{"kind": "split", "from_path": "目標3"}]),
        "unknown_node",
        "nodes[0].children[0].children[0].lineage[0].from_path",
    ),
    (
        "lineage to itself",
        _set(
            M1,
            "lineage",
            [{"kind": "carried_over", "from_plan": "ict2020", "from_path": "目標1/1-1/①"}],
        ),
        "self_reference",
        "nodes[0].children[0].children[0].lineage[0].from_path",
    ),
    (
        "lineage without a source",
        _set(M1, "lineage", [{"kind": "merged", "from_plan": "ict2016"}]),
        "lineage_without_source",
        "nodes[0].children[0].children[0].lineage[0]",
    ),
    (
        "duplicate department",
        _append(("departments",), {"code": "保育課", "name": "保育課"}),
        "duplicate_department",
        "departments[3].code",
    ),
    (
        "unknown parent department",
        _set(("departments", 2), "parent", "こども家庭部"),
        "unknown_department",
        "departments[2].parent",
    ),
    (
        "department cycle",
        _set(("departments", 0), "parent", "情報政策課"),
        "department_cycle",
        "departments[0].parent",
    ),
    (
        "unknown secretariat",
        _set(("bodies", 0), "secretariat", "幽霊課"),
        "unknown_department",
        "bodies[0].secretariat",
    ),
    (
        "unknown parent body",
        _set(("bodies", 0), "parent", "幽霊本部"),
        "unknown_body",
        "bodies[0].parent",
    ),
    (
        "duplicate post",
        _append(("posts",), {"code": "CIO", "name": "x"}),
        "duplicate_code",
        "posts[1].code",
    ),
    (
        "unknown post department",
        _set(("posts", 0), "department", "幽霊課"),
        "unknown_department",
        "posts[0].department",
    ),
    (
        "period reversed",
        _set(("plan", "period"), "end", 2019),
        "invalid_period_range",
        "plan.period",
    ),
    (
        "duplicate indicator key",
        _append(("indicators",), {"key": "ict2020.t1", "title": "x", "nodes": ["目標2"]}),
        "duplicate_indicator_key",
        "indicators[1].key",
    ),
    (
        "indicator linked to an unknown node",
        _set(("indicators", 0), "nodes", ["目標1/1-9"]),
        "unknown_node",
        "indicators[0].nodes[0]",
    ),
    (
        "unknown indicator owner",
        _set(("indicators", 0), "owners", ["幽霊課"]),
        "unknown_department",
        "indicators[0].owners[0]",
    ),
    (
        "target outside the period",
        _set(("indicators", 0, "targets", 0), "fiscal_year", "H30"),
        "fiscal_year_out_of_period",
        "indicators[0].targets[0].fiscal_year",
    ),
    (
        "multi-year target reversed",
        _set(("indicators", 0, "targets", 0), "from_fiscal_year", 2022),
        "invalid_period_range",
        "indicators[0].targets[0].from_fiscal_year",
    ),
    (
        "empty target",
        _append(("indicators", 0, "targets"), {"fiscal_year": 2021}),
        "empty_target",
        "indicators[0].targets[1]",
    ),
    (
        "comparator without value",
        _append(
            ("indicators", 0, "targets"), {"fiscal_year": 2021, "comparator": "gte", "text": "拡大"}
        ),
        "comparator_without_value",
        "indicators[0].targets[1].comparator",
    ),
    (
        "target twice",
        _append(("indicators", 0, "targets"), {"fiscal_year": 2020, "value": 3}),
        "duplicate_target",
        "indicators[0].targets[1]",
    ),
    (
        "unknown sub-series",
        _set(("indicators", 0, "targets", 0), "sub_series", "bus"),
        "unknown_sub_series",
        "indicators[0].targets[0].sub_series",
    ),
    (
        "sub-series twice",
        _append(("indicators", 0, "sub_series"), {"key": "school", "title": "x"}),
        "duplicate_sub_series",
        "indicators[0].sub_series[1].key",
    ),
    (
        "revision outside the period",
        _set(
            ("indicators", 0),
            "target_revisions",
            [{"fiscal_year": 2030, "old": {"value": 1}, "new": {"value": 2}}],
        ),
        "fiscal_year_out_of_period",
        "indicators[0].target_revisions[0].fiscal_year",
    ),
    (
        "empty actual",
        _append(("indicators", 0, "actuals"), {"period": "FY2021"}),
        "empty_actual",
        "indicators[0].actuals[1]",
    ),
    (
        "actual twice",
        _append(("indicators", 0, "actuals"), {"period": "令和2年度", "value": 1}),
        "duplicate_actual",
        "indicators[0].actuals[1].period",
    ),
    (
        "unknown grade",
        _set(("published_evaluations", "grades", 0), "grade", "C"),
        "unknown_grade",
        "published_evaluations.grades[0].grade",
    ),
    (
        "grade for an unknown node",
        _set(("published_evaluations", "grades", 0), "path", "目標9"),
        "unknown_node",
        "published_evaluations.grades[0].path",
    ),
    (
        "grade twice",
        _append(("published_evaluations", "grades"), {"path": "目標1/1-1/①", "grade": "B"}),
        "duplicate_evaluation",
        "published_evaluations.grades[1]",
    ),
    (
        "grade outside the period",
        _set(("published_evaluations", "grades", 0), "fiscal_year", 2016),
        "fiscal_year_out_of_period",
        "published_evaluations.grades[0].fiscal_year",
    ),
    (
        "unknown grade in counts",
        _set(("published_evaluations", "summaries", 0), "counts", {"A": 1, "Z": 0}),
        "unknown_grade",
        "published_evaluations.summaries[0].counts.Z",
    ),
    (
        "totals do not add up",
        _set(("published_evaluations", "summaries", 0), "total", 2),
        "summary_total_mismatch",
        "published_evaluations.summaries[0].total",
    ),
    (
        "a year with no target (―) given a value",
        _set(("indicators", 0, "targets", 0), "none", True),
        "value_without_target",
        "indicators[0].targets[0].value",
    ),
    (
        "a scale without grades",
        _set(("grading_scale",), "grades", []),
        "empty_grading_scale",
        "grading_scale.grades",
    ),
    (
        "unknown grading rule",
        _set(("grading_scale",), "rule", "exceeded-most"),
        "unknown_grading_rule",
        "grading_scale.rule",
    ),
    (
        "unknown grading condition",
        _set(("grading_scale", "grades", 0), "when", ["all_met", "exceeded_thirds"]),
        "unknown_grade_condition",
        "grading_scale.grades[0].when[1]",
    ),
    (
        "unknown summary scope",
        _set(("published_evaluations", "summaries", 0), "scope", "目標9"),
        "unknown_node",
        "published_evaluations.summaries[0].scope",
    ),
]


CONSEQUENCES = {
    "slash in a code",
    "department cycle",
    "period reversed",
    "a scale without grades",  # the published grades name grades it no longer has
}


@pytest.mark.parametrize(("name", "mutate", "code", "path"), RULES, ids=[r[0] for r in RULES])
def test_each_rule(
    name: str, mutate: Callable[[dict[str, Any]], None], code: str, path: str
) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    errors = errors_of(doc)
    found = [(e.code, e.path) for e in errors]
    assert (code, path) in found, name
    # a broken reference may have consequences (a renamed node no longer resolves, a cycle has
    # two members, a shorter period excludes targets), but nothing unrelated is reported
    assert len(found) == 1 or name in CONSEQUENCES, found
    error = next(e for e in errors if (e.code, e.path) == (code, path))
    assert error.line is not None and error.column is not None
    assert error.message_ja and error.message_en
    assert error.message_ja != error.message_en


def test_grades_without_a_scale_are_unknown() -> None:
    doc = copy.deepcopy(BASE)
    del doc["grading_scale"]
    assert {e.code for e in errors_of(doc)} == {"unknown_grade"}


def test_all_rule_violations_reported_together() -> None:
    doc = copy.deepcopy(BASE)
    for _, mutate, _, _ in RULES[:10]:
        mutate(doc)
    codes = [e.code for e in errors_of(doc)]
    assert len(set(codes)) >= 6
    assert {"unknown_department", "invalid_level", "lead_not_owner"} <= set(codes)


def _measure_lines(count: int, owner: str, level: str = "1") -> tuple[str, list[int]]:
    """A plan with `count` measures; returns the text and the line of each measure's owner."""
    lines = [
        "format_version: 1",
        "tenant: {slug: bunkyo, name: 文京区}",
        "departments:",
        "  - {code: 情報政策課, name: 情報政策課}",
        "plan:",
        "  key: big",
        "  title: 大きな計画",
        "  kind: 実施計画",
        "  period: {start: 令和3年度, end: 令和7年度}",
        "  level_labels: [目的, 施策]",
        "nodes:",
        "  - code: 目的1",
        "    kind: group",
        "    level: 0",
        "    title: 目的",
        "    children:",
    ]
    owner_lines = []
    for i in range(count):
        lines += [
            f"      - code: 施策{i}",
            "        kind: measure",
            f"        level: {level}",
            f"        title: 施策その{i}",
            "        owners:",
            "          - 情報政策課",
        ]
        lines.append(f"          - {owner}{i}")
        owner_lines.append(len(lines))
    return "\n".join(lines) + "\n", owner_lines


def test_thousand_rule_errors_with_their_lines(tmp_path: Path) -> None:
    text, owner_lines = _measure_lines(1000, "幽霊課")
    path = tmp_path / "thousand.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanFileInvalid) as exc:
        load_plan_file(path)
    errors = exc.value.errors
    assert len(errors) == 1000
    assert [e.line for e in errors] == owner_lines
    assert all(e.column == 13 for e in errors)
    assert errors[5].path == "nodes[0].children[5].owners[1]"
    assert errors[5].file == str(path)
    assert {e.code for e in errors} == {"unknown_department"}
    rendered = exc.value.render("both").splitlines()
    assert len(rendered) == 1000
    assert rendered[0] == (
        f"{path}:{owner_lines[0]}:13 nodes[0].children[0].owners[1]: "
        "部署「幽霊課0」が departments に定義されていません / "
        "unknown department '幽霊課0' (not in departments)"
    )


def test_thousand_type_errors_with_their_lines() -> None:
    text, owner_lines = _measure_lines(1000, "情報政策課", level="一")
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(text, "types.yaml")
    errors = exc.value.errors
    assert len(errors) == 1000
    # the level line is four lines above the second owner line
    assert [e.line for e in errors] == [n - 4 for n in owner_lines]
    assert {e.code for e in errors} == {"int_parsing"}
    assert errors[0].path == "nodes[0].children[0].level"
    assert errors[0].message_ja == "整数を指定してください"


def test_malformed_yaml_has_a_position() -> None:
    text = "tenant: {slug: x, name: y}\nplan:\n  key: [unclosed\n  title: t\n"
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(text, "broken.yaml")
    (error,) = exc.value.errors
    assert error.code == "yaml_syntax"
    assert error.line is not None and error.line >= 3
    assert error.render("ja").startswith("broken.yaml:")
    assert "YAML の構文エラー" in error.render("ja")


def test_malformed_json_has_a_position() -> None:
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file('{"tenant": {"slug": "x",\n\t"name": }', "broken.json")
    (error,) = exc.value.errors
    assert error.code in ("json_syntax", "yaml_syntax")
    assert error.line == 2


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file("- a\n- b\n", "list.yaml")
    assert exc.value.errors[0].code == "not_a_mapping"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileInvalid) as exc:
        load_plan_file(tmp_path / "missing.yaml")
    assert exc.value.errors[0].code == "unreadable"


def test_wrong_types_missing_and_unknown_fields() -> None:
    text = """\
tenant: {slug: Nerima, name: 練馬区}
plan:
  key: p
  title: t
  kind: 計画書
  period: {start: 令和九十九年度だった, end: 2024}
  level_labels: [目標]
  colour: red
nodes:
  - code: 目標1
    level: zero
    title: 目標
    owners: 情報政策課
indicators:
  - key: k
    title: t
    nodes: []
    actuals:
      - {period: きのう, value: 1}
"""
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(text, "types.yaml")
    found = {(e.path, e.code, e.line) for e in exc.value.errors}
    assert ("tenant.slug", "string_pattern_mismatch", 1) in found
    assert ("plan.kind", "enum", 5) in found
    assert ("plan.period.start", "invalid_fiscal_year", 6) in found
    assert ("plan.colour", "extra_forbidden", 8) in found
    assert ("nodes[0].kind", "missing", 10) in found
    assert ("nodes[0].level", "int_parsing", 11) in found
    assert ("nodes[0].owners", "list_type", 13) in found
    assert ("indicators[0].nodes", "too_short", 17) in found
    assert ("indicators[0].actuals[0].period", "invalid_period", 19) in found
    kind = next(e for e in exc.value.errors if e.path == "plan.kind")
    assert "「計画書」" in kind.message_ja and "実施計画" in kind.message_ja
    # sorted by line
    lines = [e.line or 0 for e in exc.value.errors]
    assert lines == sorted(lines)


def test_render_languages() -> None:
    doc = copy.deepcopy(BASE)
    at(doc, M1)["owners"] = ["幽霊課"]
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with pytest.raises(PlanFileInvalid) as exc:
        loads_plan_file(text, "datasets/x.yaml")
    ja, en, both = (exc.value.render(lang) for lang in ("ja", "en", "both"))
    assert "幽霊課" in ja and "departments に定義されていません" in ja and "unknown" not in ja
    assert en.endswith("unknown department '幽霊課' (not in departments)")
    assert both.startswith("datasets/x.yaml:") and " / " in both
    assert str(exc.value).startswith("datasets/x.yaml: 1 error(s)")
