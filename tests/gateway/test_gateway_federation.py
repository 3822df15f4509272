"""The subgraphs compose under a standard federation composer (@theguild/federation-composition),
so a federation router can front them when one gateway is not enough."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "federation"
SUBGRAPHS = ("plans", "indicators", "notifications")


@pytest.fixture(scope="module")
def composer() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the federation composer")
    if not (TOOL / "node_modules" / "@theguild" / "federation-composition").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=TOOL, check=True, capture_output=True
        )
    return TOOL / "compose.mjs"


def subgraph_sdl(name: str) -> str:
    """What the subgraph answers to ``{ _service { sdl } }`` (in-process, same schema object)."""
    schema = importlib.import_module(f"suishin.{name}.graphql").schema
    result = schema.execute_sync("{ _service { sdl } }")
    assert result.errors is None, result.errors
    return result.data["_service"]["sdl"]


def compose(
    composer: Path, sdls: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    files = []
    for name, sdl in sdls.items():
        path = tmp_path / f"{name}.graphql"
        path.write_text(sdl, "utf-8")
        files.append(str(path))
    return subprocess.run(
        ["node", str(composer), *files, "--out", str(tmp_path / "supergraph.graphql")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_subgraphs_compose(composer: Path, tmp_path: Path) -> None:
    result = compose(composer, {name: subgraph_sdl(name) for name in SUBGRAPHS}, tmp_path)
    assert result.returncode == 0, result.stderr
    supergraph = (tmp_path / "supergraph.graphql").read_text("utf-8")
    # Entities joined across subgraphs, as the gateway resolves them.
    assert '@join__type(graph: INDICATORS, key: "id")' in supergraph
    assert "type Measure" in supergraph and "type Notification" in supergraph


def test_composition_failures_are_reported(composer: Path, tmp_path: Path) -> None:
    """The check can fail: a field defined differently by two subgraphs does not compose."""
    clash = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])'
    sdls = {
        "a": clash + '\ntype Query { a: Thing } type Thing @key(fields: "id") { id: ID! n: Int }',
        "b": clash
        + '\ntype Query { b: Thing } type Thing @key(fields: "id") { id: ID! n: String }',
    }
    result = compose(composer, sdls, tmp_path)
    assert result.returncode == 1
    assert "Thing.n" in result.stderr
