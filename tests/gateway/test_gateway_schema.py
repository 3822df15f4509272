"""The public schema: checked in without drift, documented, no breaking changes, and in step
with the subgraphs it mirrors."""

from __future__ import annotations

import importlib
import re

import pytest
from graphql import (
    BreakingChangeType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_ast_schema,
    find_breaking_changes,
    parse,
)

from suishin.gateway import codegen
from suishin.gateway.export_schema import (
    PREVIOUS_FILE,
    SCHEMA_FILE,
    breaking_changes,
    current_sdl,
)
from suishin.gateway.schema import build_schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def test_checked_in_schema_has_not_drifted() -> None:
    assert SCHEMA_FILE.read_text("utf-8") == current_sdl(), (
        "gateway/schema.graphql is stale: run `uv run python -m suishin.gateway.export_schema`"
    )


def test_generated_types_match_the_subgraph_snapshots() -> None:
    assert codegen.OUTPUT.read_text("utf-8") == _formatted(codegen.generate()), (
        "generated.py is stale: run `uv run python gateway/scripts/refresh_subgraph_sdl.py`"
    )


def _formatted(text: str) -> str:
    """generated.py is stored as ruff formats it."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "generated.py", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_no_breaking_change_against_the_previous_release() -> None:
    changes = breaking_changes(PREVIOUS_FILE.read_text("utf-8"), current_sdl())
    assert changes == [], "\n".join(c.description for c in changes)


def test_a_deliberate_removal_is_detected() -> None:
    previous = PREVIOUS_FILE.read_text("utf-8")
    start = previous.index("\ntype Plan ")
    end = previous.index("\n}", start)
    block = previous[start:end]
    without_title = re.sub(r'\n(  """[^\n]*"""\n)?  title: String!', "", block, count=1)
    assert without_title != block
    trimmed = previous[:start] + without_title + previous[end:]
    changes = breaking_changes(previous, trimmed)
    assert [(c.type, c.description) for c in changes] == [
        (BreakingChangeType.FIELD_REMOVED, "Field Plan.title was removed.")
    ]


def test_every_type_and_field_is_described() -> None:
    schema = build_schema()._schema
    missing = []
    for name, gql_type in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, field in gql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
    assert missing == [], f"undocumented: {missing}"


@pytest.mark.parametrize("subgraph", codegen.SUBGRAPHS)
def test_subgraph_snapshot_is_still_served(subgraph: str) -> None:
    """The gateway was generated from a snapshot of each subgraph; the service must still answer
    everything in it (additions are fine, removals or type changes break the gateway)."""
    snapshot_file = codegen.SDL_DIR / f"{subgraph}.graphql"
    snapshot = build_ast_schema(parse(snapshot_file.read_text("utf-8")), assume_valid_sdl=True)
    live = importlib.import_module(f"suishin.{subgraph}.graphql").schema._schema
    changes = find_breaking_changes(snapshot, live)
    assert changes == [], (
        f"{subgraph} changed incompatibly; run gateway/scripts/refresh_subgraph_sdl.py:\n"
        + "\n".join(c.description for c in changes)
    )
