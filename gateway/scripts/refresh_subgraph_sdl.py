"""Snapshot each subgraph's federation SDL into gateway/subgraphs/, then regenerate the gateway
types: ``uv run python gateway/scripts/refresh_subgraph_sdl.py``.

A development tool (not part of the gateway package, which never imports a service): it loads the
services' schemas in-process, exactly what their ``_service { sdl }`` answers.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBGRAPHS = ("plans", "indicators", "notifications")


def main() -> int:
    for name in SUBGRAPHS:
        schema = importlib.import_module(f"suishin.{name}.graphql").schema
        (ROOT / "subgraphs" / f"{name}.graphql").write_text(schema.as_str() + "\n", "utf-8")
        print(f"gateway/subgraphs/{name}.graphql")
    subprocess.run([sys.executable, "-m", "suishin.gateway.codegen"], check=True)
    subprocess.run([sys.executable, "-m", "suishin.gateway.export_schema"], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
