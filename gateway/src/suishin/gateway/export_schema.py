"""Write the public schema to ``gateway/schema.graphql`` (checked in; front ends read it).

``python -m suishin.gateway.export_schema`` regenerates it; ``--check`` fails when the file is
stale; ``--breaking`` lists breaking changes against ``gateway/schema.previous.graphql`` (the last
released schema) with graphql-core's ``find_breaking_changes``. At a release, copy schema.graphql
over schema.previous.graphql.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphql import BreakingChange, build_ast_schema, find_breaking_changes, parse

from suishin.gateway.schema import build_schema

GATEWAY_DIR = Path(__file__).resolve().parents[3]
SCHEMA_FILE = GATEWAY_DIR / "schema.graphql"
PREVIOUS_FILE = GATEWAY_DIR / "schema.previous.graphql"


def current_sdl() -> str:
    return build_schema().as_str() + "\n"


def breaking_changes(old_sdl: str, new_sdl: str) -> list[BreakingChange]:
    old = build_ast_schema(parse(old_sdl), assume_valid_sdl=True)
    new = build_ast_schema(parse(new_sdl), assume_valid_sdl=True)
    return find_breaking_changes(old, new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the gateway's public GraphQL schema.")
    parser.add_argument("--check", action="store_true", help="fail if schema.graphql is stale")
    parser.add_argument(
        "--breaking", action="store_true", help="list breaking changes since the previous schema"
    )
    args = parser.parse_args(argv)
    sdl = current_sdl()
    if args.breaking:
        changes = breaking_changes(PREVIOUS_FILE.read_text("utf-8"), sdl)
        for change in changes:
            print(f"{change.type.name}: {change.description}")
        return 1 if changes else 0
    if args.check:
        if SCHEMA_FILE.read_text("utf-8") != sdl:
            print("gateway/schema.graphql is stale: run python -m suishin.gateway.export_schema")
            return 1
        return 0
    SCHEMA_FILE.write_text(sdl, "utf-8")
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
