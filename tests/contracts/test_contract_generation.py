"""The checked-in JSON Schemas and AsyncAPI document match the models, and drift is caught."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import jsonschema
import pytest
import yaml

from suishin.contracts import generate, topics
from suishin.contracts.enums import IndicatorStatus, Severity
from suishin.contracts.events import (
    CATALOGUE,
    Figures,
    IndicatorReported,
    IndicatorStatusChanged,
    NotificationDelivered,
    new_event,
)


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return generate.render()


@pytest.fixture(scope="module")
def asyncapi(rendered: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(rendered[generate.ASYNCAPI_FILE])
    return document


def test_checked_in_files_match_the_models() -> None:
    problems = generate.check(generate.DEFAULT_ROOT)
    assert problems == [], "run `make schemas`:\n" + "\n".join(problems)


def test_generation_is_deterministic(rendered: dict[str, str]) -> None:
    assert generate.render() == rendered


def test_one_schema_per_catalogue_entry(rendered: dict[str, str]) -> None:
    event_files = {p for p in rendered if p.startswith(generate.EVENT_SCHEMAS_DIR)}
    assert event_files == {
        f"{generate.EVENT_SCHEMAS_DIR}/{event_type}.v{version}.json"
        for event_type, version in CATALOGUE
    }


def test_write_then_check_is_clean(tmp_path: Path) -> None:
    written = generate.write(tmp_path)
    assert set(written) == set(generate.render())
    assert generate.check(tmp_path) == []
    assert generate.write(tmp_path) == []  # nothing to do the second time
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0


def test_check_detects_a_modified_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate.write(tmp_path)
    target = tmp_path / generate.EVENT_SCHEMAS_DIR / "indicator.reported.v1.json"
    target.write_text(target.read_text("utf-8").replace('"maxLength": 200', '"maxLength": 300'))

    problems = generate.check(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("changed: schemas/events/indicator.reported.v1.json")
    assert '+          "maxLength": 200' in problems[0]

    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_check_detects_missing_and_stale_files(tmp_path: Path) -> None:
    generate.write(tmp_path)
    (tmp_path / generate.ASYNCAPI_FILE).unlink()
    stale = tmp_path / generate.EVENT_SCHEMAS_DIR / "indicator.reported.v0.json"
    stale.write_text("{}\n")

    assert sorted(generate.check(tmp_path)) == [
        f"missing: {generate.ASYNCAPI_FILE}",
        "stale (no longer generated): schemas/events/indicator.reported.v0.json",
    ]
    generate.write(tmp_path)
    assert not stale.exists()
    assert generate.check(tmp_path) == []


def test_planfile_schema_follows_the_module(rendered: dict[str, str]) -> None:
    from suishin.contracts.planfile import PlanFile

    schema = json.loads(rendered[generate.PLANFILE_SCHEMA_FILE])
    assert schema["properties"].keys() == PlanFile.model_json_schema()["properties"].keys()
    assert schema["$id"] == "urn:suishin:planfile"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_planfile_schema_is_skipped_while_the_module_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(generate, "PLANFILE_MODULE", "suishin.contracts.no_such_module")
    files = generate.render()
    assert generate.PLANFILE_SCHEMA_FILE not in files
    assert generate.ASYNCAPI_FILE in files


# --- the event schemas describe real messages -------------------------------------------------


def _event_schema(rendered: dict[str, str], event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        rendered[f"{generate.EVENT_SCHEMAS_DIR}/{event_type}.v1.json"]
    )
    return schema


def _reported() -> bytes:
    payload = IndicatorReported(
        indicator_key="itabashi/dx-2025/kpi-1",
        period="FY2024",
        value=Decimal("12.5"),
        source="rpa",
        idempotency_key="rpa-1",
    )
    return new_event(payload, tenant="itabashi", aggregate_id="kpi-1", producer="rpa").to_bytes()


@pytest.mark.parametrize("event_type", sorted({t for t, _ in CATALOGUE}))
def test_event_schemas_are_valid_json_schema(rendered: dict[str, str], event_type: str) -> None:
    schema = _event_schema(rendered, event_type)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["event_type"]["const"] == event_type
    model = next(m for (t, _), m in CATALOGUE.items() if t == event_type)
    assert schema["x-kafka-topic"] == model.topic
    # One topic per event type, except the progress-report workflow's shared, ordered topic.
    assert model.topic in (event_type, topics.PROGRESS_REPORT_WORKFLOW)


def test_event_schema_accepts_real_events_and_rejects_bad_ones(rendered: dict[str, str]) -> None:
    schema = _event_schema(rendered, "indicator.reported")
    message = json.loads(_reported())
    jsonschema.validate(message, schema)
    # the period forms the GraphQL API takes; the service stores them canonical (FY2021)
    for period in ("令和3年度", "R3", "2021年度", "令和3年8月"):
        message["payload"]["period"] = period
        jsonschema.validate(message, schema)
        assert IndicatorReported.model_validate(message["payload"]).period in ("FY2021", "2021-08")

    for mutate in (
        lambda m: m.update(event_type="indicator.status_changed"),
        lambda m: m.update(schema_version=2),
        lambda m: m.update(tenant="Not A Slug"),
        lambda m: m["payload"].update(period=""),
        lambda m: m["payload"].update(period=2024),
        lambda m: m["payload"].update(unexpected=True),
        lambda m: m["payload"].pop("idempotency_key"),
    ):
        bad = json.loads(_reported())
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_other_event_schemas_accept_real_events(rendered: dict[str, str]) -> None:
    status = IndicatorStatusChanged(
        indicator_id=uuid4(),
        indicator_key="k",
        title="電子申請件数",
        period="FY2024",
        fiscal_year=2024,
        from_status=None,
        to_status=IndicatorStatus.OFF_TRACK,
        figures=Figures(actual=Decimal(1), target=Decimal(10)),
        rule="linear",
        reason="目標を下回っています",
    )
    delivered = NotificationDelivered(
        notification_id=uuid4(),
        recipient_id="post:cio",
        channel="inbox",
        status="delivered",
        attempts=1,
        severity=Severity.WARNING,
        kind="indicator_off_track",
        title="指標が目標を下回っています",
    )
    for payload in (status, delivered):
        event = new_event(
            payload,
            tenant="itabashi",
            aggregate_id="a",
            producer="test",
            occurred_at=datetime(2024, 8, 1, tzinfo=UTC),
        )
        schema = _event_schema(rendered, payload.event_type)
        jsonschema.validate(json.loads(event.to_bytes()), schema)


# --- the AsyncAPI document --------------------------------------------------------------------


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_asyncapi_has_a_channel_and_a_dead_letter_channel_per_topic(
    asyncapi: dict[str, Any],
) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert addresses == set(topics.ALL_TOPICS) | {
        topics.dead_letter_topic(t) for t in topics.ALL_TOPICS
    }
    for channel in asyncapi["channels"].values():
        assert channel["bindings"]["kafka"]["partitions"] == topics.DEFAULT_PARTITIONS


def test_asyncapi_references_all_resolve(asyncapi: dict[str, Any]) -> None:
    refs = _refs(asyncapi)
    assert refs
    for ref in refs:
        _resolve(asyncapi, ref)


def test_asyncapi_operations_use_their_channels_messages(asyncapi: dict[str, Any]) -> None:
    for name, operation in asyncapi["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name


def test_asyncapi_messages_carry_payload_schemas_and_key_rule(asyncapi: dict[str, Any]) -> None:
    messages = asyncapi["components"]["messages"]
    for (event_type, version), model in CATALOGUE.items():
        message = messages[f"{model.__name__}V{version}"]
        envelope = _resolve(asyncapi, message["payload"]["$ref"])
        assert envelope["properties"]["event_type"]["const"] == event_type
        payload = _resolve(asyncapi, envelope["properties"]["payload"]["$ref"])
        assert set(payload["properties"]) == set(model.model_fields)
        assert message["bindings"]["kafka"]["key"]["pattern"] == generate.KEY_PATTERN


def test_asyncapi_consumers_match_the_documented_flows(asyncapi: dict[str, Any]) -> None:
    receivers: dict[str, set[str]] = {}
    for name, operation in asyncapi["operations"].items():
        if operation["action"] == "receive":
            address = _resolve(asyncapi, operation["channel"]["$ref"])["address"]
            receivers.setdefault(address, set()).add(name.split("_receive_")[0])
    assert receivers == {
        topics.INDICATOR_REPORTED: {"indicators"},
        topics.INDICATOR_STATUS_CHANGED: {"plans", "notifications", "gateway"},
        topics.MEASURE_STATUS_CHANGED: {"notifications"},
        topics.MEASURE_EVALUATED: {"notifications"},
        topics.NOTIFICATION_DELIVERED: {"gateway"},
        topics.PROGRESS_REPORT_WORKFLOW: {"notifications"},
        topics.PLAN_MILESTONE_DUE: {"notifications"},
    }


async def test_dead_letter_headers_match_the_kit() -> None:
    """The documented DLQ headers are exactly what suishin.kit.deadletter sends."""
    from suishin.kit.deadletter import send_to_dead_letter

    sent: dict[str, Any] = {}

    class RecordingBroker:
        async def publish(self, body: bytes, topic: str, **kwargs: Any) -> None:
            sent.update(kwargs, topic=topic, body=body)

    await send_to_dead_letter(
        RecordingBroker(),  # type: ignore[arg-type]
        topic=topics.INDICATOR_REPORTED,
        body=b"{not json",
        key=b"itabashi:kpi-1",
        consumer="indicators:indicator.reported",
        reason="malformed_json",
        detail="Expecting property name",
        partition=3,
        offset=42,
    )
    assert sent["topic"] == topics.dead_letter_topic(topics.INDICATOR_REPORTED)
    assert set(sent["headers"]) == set(generate.DEAD_LETTER_HEADERS)
    always = {name for name, (required, _) in generate.DEAD_LETTER_HEADERS.items() if required}
    dead_letter = yaml.safe_load(generate.render()[generate.ASYNCAPI_FILE])["components"][
        "messages"
    ]["DeadLetter"]
    assert set(dead_letter["headers"]["required"]) == always
    assert set(dead_letter["headers"]["properties"]) == set(generate.DEAD_LETTER_HEADERS)
