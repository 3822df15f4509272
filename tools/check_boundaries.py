"""Import-boundary check: no service imports another service; the gateway imports no service;
development code (tests, benchmarks, tools, scripts) imports only what its area is about.

Every package may import only the Suishin packages listed for it in ``ALLOWED``; every file of a
development area only those listed in ``AREAS`` (the longest matching path wins, so a new
``tests/<dir>`` gets the rule of ``tests`` until it is declared). Imports are found in ``import``
and ``from ... import`` statements and in ``importlib.import_module`` calls; a name built at run
time (``f"suishin.{name}.schema"``) counts as an import of every service. A ``suishin.<name>``
that is no package of the repository is an error anywhere.

Run from the repository root (or pass it as the only argument); exits 1 and lists each offending
import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES: dict[str, Path] = {
    "contracts": Path("contracts/src/suishin/contracts"),
    "kit": Path("kit/src/suishin/kit"),
    "devstack": Path("devstack/src/suishin/devstack"),
    "plans": Path("services/plans/src/suishin/plans"),
    "indicators": Path("services/indicators/src/suishin/indicators"),
    "notifications": Path("services/notifications/src/suishin/notifications"),
    "gateway": Path("gateway/src/suishin/gateway"),
    "cli": Path("cli/src/suishin/cli"),
    "web": Path("web/src/suishin/web"),
}
SHARED = {"contracts", "kit"}
DEV = SHARED | {"devstack"}  # development code may use the embedded stack and test harness
SERVICES = {"plans", "indicators", "notifications"}
EVERYTHING = set(PACKAGES)
ALLOWED: dict[str, set[str]] = {
    "contracts": {"contracts"},
    "kit": {"contracts", "kit"},
    # Development only (embedded stack, test harness): nothing that ships may import it.
    "devstack": {"contracts", "kit", "devstack"},
    "plans": SHARED | {"plans"},
    "indicators": SHARED | {"indicators"},
    "notifications": SHARED | {"notifications"},
    "gateway": SHARED | {"gateway"},
    "web": SHARED | {"web"},  # the portal talks to services only through the gateway
    "cli": EVERYTHING,  # the operator's tool runs and imports everything
}

# Development code, by path from the repository root.
AREAS: dict[str, set[str]] = {
    # The root conftest.py (and any tests/<dir> not declared below) serves every test.
    "tests": DEV,
    "tests/contracts": DEV,
    "tests/kit": DEV,
    "tests/datasets": {"contracts"},
    # A service's tests: the service, and the operator commands (cli) that drive it.
    "tests/plans": DEV | {"plans", "cli"},
    "tests/indicators": DEV | {"indicators", "cli"},
    "tests/notifications": DEV | {"notifications", "cli"},
    # The gateway's tests serve the real subgraphs behind it and compare its snapshots of their
    # schemas with the services' own; never through the cli.
    "tests/gateway": DEV | {"gateway"} | SERVICES,
    # The manifests are checked against every deployable's settings.
    "tests/infra": DEV | {"gateway"} | SERVICES,
    # End to end: the platform as the operator starts it.
    "tests/e2e": EVERYTHING,
    # The portal in a browser on the whole platform; its documents checked against the gateway.
    "tests/web": EVERYTHING,
    "tests/bench": EVERYTHING,
    "tests/tools": {"contracts"},
    "bench": EVERYTHING,
    "tools": {"contracts"},
    # Reads the services' schemas to refresh the gateway's snapshots (a development tool: the
    # gateway package itself never imports a service).
    "gateway/scripts": {"contracts", "gateway"} | SERVICES,
}
SKIPPED_DIRS = {"node_modules", ".venv", "__pycache__"}
ANY_SERVICE = "*"


def _import_module_target(node: ast.Call) -> str | None:
    """The package an ``importlib.import_module(...)`` call imports (ANY_SERVICE when built at
    run time), or None when ``node`` is another call."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "import_module" or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            text = head.value
            if text == "suishin.":
                return f"suishin.{ANY_SERVICE}"
            if text.startswith("suishin.") and "." in text[len("suishin.") :]:
                return text
    return None


def suishin_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, package)`` of every Suishin package ``path`` imports."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "suishin":
                names = [f"suishin.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            target = _import_module_target(node)
            names = [target] if target else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "suishin" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _python_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*.py") if not SKIPPED_DIRS.intersection(p.parts))


def _area_of(relative: Path) -> str:
    """The longest declared area containing ``relative``."""
    best = ""
    for area in AREAS:
        prefix = Path(area)
        if relative.parts[: len(prefix.parts)] == prefix.parts and len(area) > len(best):
            best = area
    return best


def _problems(root: Path, path: Path, who: str, allowed: set[str]) -> list[str]:
    out = []
    for line, target in suishin_imports(path):
        where = f"{path.relative_to(root).as_posix()}:{line}"
        if target == ANY_SERVICE:
            if not SERVICES.issubset(allowed):
                out.append(f"{where}: {who} must not import a service (name built at run time)")
        elif target not in PACKAGES:
            out.append(f"{where}: suishin.{target} is no package of this repository")
        elif target not in allowed:
            out.append(f"{where}: {who} must not import suishin.{target}")
    return out


def check(root: Path) -> list[str]:
    problems = []
    for package, directory in PACKAGES.items():
        for path in _python_files(root / directory):
            problems += _problems(root, path, package, ALLOWED[package])
    files = {path for area in AREAS for path in _python_files(root / area)}
    for path in sorted(files):
        area = _area_of(path.relative_to(root))
        problems += _problems(root, path, area, AREAS[area])
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import-boundary violation(s)")
        return 1
    print("import boundaries: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
