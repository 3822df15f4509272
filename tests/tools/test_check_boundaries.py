"""tools/check_boundaries.py: the repository passes, and each kind of violation is caught."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "check_boundaries.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_boundaries", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


boundaries = _load()


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def test_the_repository_keeps_its_boundaries() -> None:
    assert boundaries.check(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        (
            "services/plans/src/suishin/plans/x.py",
            "from suishin.indicators import schema\n",
            "plans must not import suishin.indicators",
        ),
        (
            "gateway/src/suishin/gateway/x.py",
            "import suishin.notifications.app\n",
            "gateway must not import suishin.notifications",
        ),
        (
            "tests/conftest.py",
            "from suishin.plans.app import build\n",
            "tests must not import suishin.plans",
        ),
        (
            "tests/newarea/test_x.py",  # undeclared: the rule of tests
            "from suishin import gateway\n",
            "tests must not import suishin.gateway",
        ),
        (
            "tests/plans/test_x.py",
            "from suishin.notifications.settings import NotificationsSettings\n",
            "tests/plans must not import suishin.notifications",
        ),
        (
            "tests/gateway/test_x.py",
            "from suishin.cli.main import app\n",
            "tests/gateway must not import suishin.cli",
        ),
        (
            "tests/kit/test_x.py",
            "import importlib\nimportlib.import_module('suishin.plans.schema')\n",
            "tests/kit must not import suishin.plans",
        ),
        (
            "tests/datasets/test_x.py",
            "import importlib\nname = 'plans'\nimportlib.import_module(f'suishin.{name}.app')\n",
            "tests/datasets must not import a service (name built at run time)",
        ),
        (
            "tools/x.py",
            "from suishin.kit.db import create_pool\n",
            "tools must not import suishin.kit",
        ),
        (
            "gateway/scripts/x.py",
            "from suishin.cli import main\n",
            "gateway/scripts must not import suishin.cli",
        ),
        (
            "bench/x.py",
            "from suishin.plan import app\n",
            "suishin.plan is no package of this repository",
        ),
    ],
)
def test_a_violation_is_reported(tmp_path: Path, relative: str, text: str, expected: str) -> None:
    write(tmp_path, relative, text)
    problems = boundaries.check(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{relative}:")
    assert problems[0].endswith(expected)


def test_what_an_area_may_import_passes(tmp_path: Path) -> None:
    write(tmp_path, "tests/plans/test_x.py", "from suishin.cli.main import app\n")
    write(tmp_path, "tests/e2e/test_x.py", "from suishin.notifications import app\n")
    write(tmp_path, "bench/x.py", "from suishin.gateway.app import build\n")
    write(tmp_path, "tools/x.py", "from suishin.contracts import planfile\n")
    write(
        tmp_path,
        "gateway/scripts/x.py",
        "import importlib\n"
        "for n in ['plans']:\n"
        "    importlib.import_module(f'suishin.{n}.schema')\n",
    )
    write(tmp_path, "tools/federation/node_modules/x.py", "from suishin.plans import app\n")
    assert boundaries.check(tmp_path) == []


def test_the_command_fails_on_a_violation(tmp_path: Path) -> None:
    write(tmp_path, "tools/x.py", "from suishin.gateway import app\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "tools/x.py:1: tools must not import suishin.gateway" in result.stdout
    clean = subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT)], capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout
