"""Import-boundary check: no service imports another service; the gateway imports no service.

Every package may import only the Suishin packages listed for it below. Run from the repository
root; exits 1 and lists each offending import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES: dict[str, Path] = {
    "contracts": Path("contracts/src/suishin/contracts"),
    "kit": Path("kit/src/suishin/kit"),
    "plans": Path("services/plans/src/suishin/plans"),
    "indicators": Path("services/indicators/src/suishin/indicators"),
    "notifications": Path("services/notifications/src/suishin/notifications"),
    "gateway": Path("gateway/src/suishin/gateway"),
    "cli": Path("cli/src/suishin/cli"),
    "web": Path("web/src/suishin/web"),
}
SHARED = {"contracts", "kit"}
ALLOWED: dict[str, set[str]] = {
    "contracts": {"contracts"},
    "kit": {"contracts", "kit"},
    "plans": SHARED | {"plans"},
    "indicators": SHARED | {"indicators"},
    "notifications": SHARED | {"notifications"},
    "gateway": SHARED | {"gateway"},
    "web": SHARED | {"web"},  # the portal talks to services only through the gateway
    "cli": set(PACKAGES),  # the operator's tool runs and imports everything
}


def suishin_imports(path: Path) -> list[tuple[int, str]]:
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
        for name in names:
            parts = name.split(".")
            if parts[0] == "suishin" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def check(root: Path) -> list[str]:
    problems = []
    for package, directory in PACKAGES.items():
        for path in sorted((root / directory).rglob("*.py")):
            for line, target in suishin_imports(path):
                if target not in ALLOWED[package]:
                    problems.append(
                        f"{path.relative_to(root)}:{line}: {package} must not import "
                        f"suishin.{target}"
                    )
    return problems


def main() -> int:
    problems = check(Path.cwd())
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import-boundary violation(s)")
        return 1
    print("import boundaries: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
