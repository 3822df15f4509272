"""A directory file gets located (file:line:column), bilingual errors like a plan file, and a
rule kind or event type that does not exist is an error rather than a rule that never fires."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from suishin.cli.main import app
from suishin.notifications.directory import DirectoryInvalid, load_directory, loads_directory

RULES_AT = """tenant: testward
name: テスト区
posts:
  - {code: 事務局, name: 事務局}
  - {code: CIO, name: CIO}
people:
  - id: a@testward
    name: 職員 A
    assignments:
      - {post: 事務局}
      - {post: 部長}
rules:
  - name: ok
    kinds: [report_overdue]
    targets: [{post: 事務局}]
  - name: typo
    kinds: [report_overdue, report_overdeu]
    event_types: [progress_report.overdue, progress_report.lost]
    targets: [{post: 事務局}]
"""


def test_reference_errors_are_located_and_bilingual() -> None:
    with pytest.raises(DirectoryInvalid) as caught:
        loads_directory(RULES_AT, "ward.yaml")
    errors = {(e.path, e.line, e.code) for e in caught.value.errors}
    assert errors == {
        ("people[0].assignments[1].post", 11, "unknown_post"),
        ("rules[1].kinds[1]", 17, "unknown_kind"),
        ("rules[1].event_types[1]", 18, "unknown_event_type"),
    }
    kind = next(e for e in caught.value.errors if e.code == "unknown_kind")
    assert kind.render("ja").startswith("ward.yaml:17:29 rules[1].kinds[1]: 不明な通知種別です")
    assert "unknown kind 'report_overdeu': the rule would never fire" in kind.render("en")
    assert "名簿にない職です: 「部長」" in caught.value.render("ja")


def test_schema_errors_and_syntax_errors_are_located() -> None:
    text = RULES_AT.replace("    name: 職員 A\n", "    nmae: 職員 A\n").replace(
        "name: テスト区", "name: テスト区\nyear_style: heisei"
    )
    with pytest.raises(DirectoryInvalid) as caught:
        loads_directory(text, "ward.yaml")
    found = {(e.path, e.line, e.code) for e in caught.value.errors}
    assert ("year_style", 3, "literal_error") in found
    assert ("people[0].nmae", 9, "extra_forbidden") in found
    assert ("people[0].name", 8, "missing") in found
    style = next(e for e in caught.value.errors if e.code == "literal_error")
    assert "許可されていない値です" in style.message_ja and style.message_en

    with pytest.raises(DirectoryInvalid) as syntax:
        loads_directory("tenant: x\nrules: [\n", "broken.yaml")
    [error] = syntax.value.errors
    assert (error.code, error.line) == ("yaml_syntax", 3)
    assert error.render().startswith("broken.yaml:3:")


def test_the_cli_reports_every_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "ward.yaml"
    bad.write_text(RULES_AT, "utf-8")
    result = CliRunner().invoke(app, ["directory", "import", str(bad)])
    assert result.exit_code == 1
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert f"{bad}:17:29 rules[1].kinds[1]: 不明な通知種別です" in output


def test_the_demo_directories_load_and_print_the_plans_years(ev: SimpleNamespace) -> None:
    root = Path(__file__).resolve().parents[2] / "datasets" / "directory"
    for path in sorted(root.glob("*.yaml")):
        directory = load_directory(path)
        assert directory.year_style == "wareki"
        assert {k for r in directory.rules for k in r.kinds} >= {
            "report_overdue",
            "report_submitted",
            "report_returned",
            "schedule_slipped",
            "report_due_soon",
            "milestone_due",
        }
        raw = yaml.safe_load(path.read_text("utf-8"))
        assert raw["default_owner"] == [{"post": "事務局"}]
