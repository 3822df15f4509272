"""Every document the portal sends is valid against the gateway's schema and within the
gateway's limits (depth, tokens, aliases, cost budget) for the largest reference plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import TypeInfo, ValidationContext, build_schema, parse, validate

from suishin.gateway.settings import GatewaySettings
from suishin.kit.limits import estimate_cost
from suishin.web import queries

SCHEMA = build_schema(
    (Path(__file__).resolve().parents[2] / "gateway" / "schema.graphql").read_text("utf-8")
)
DOCUMENTS = {
    name: value
    for name, value in vars(queries).items()
    if name.isupper()
    and isinstance(value, str)
    and value.lstrip().startswith(("query", "mut", "sub"))
}


def test_the_portal_sends_documents() -> None:
    assert {"PLAN_TREE", "MEASURE", "INDICATOR", "INBOX", "LIVE_INBOX"} <= set(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_document_is_valid_and_within_the_gateway_limits(name: str) -> None:
    settings = GatewaySettings()
    document = parse(DOCUMENTS[name])
    assert validate(SCHEMA, document) == []
    context = ValidationContext(SCHEMA, document, TypeInfo(SCHEMA), lambda _e: None)
    cost = estimate_cost(context, document.definitions[0], settings.default_list_size)  # type: ignore[arg-type]
    assert cost <= settings.max_query_cost, (name, cost)
