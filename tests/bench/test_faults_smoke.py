"""The fault matrix (bench/faults.py) still runs: tiny numbers, a platform of its own (it kills
the broker), a few of the faults. Figures are not compared with the documented ones; the
platform must recover from each by itself, losing nothing it had committed."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("suishin_bench_faults", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_fault_matrix_runs_and_the_platform_recovers_by_itself(tmp_path: Path) -> None:
    bench = load_bench()
    config = bench.Config(
        reports=40, rate=100, faults=("dup", "broker", "broker-durable"), timeout=60
    )
    env = dict(os.environ)
    env["SUISHIN_LOG_JSON"] = "false"
    result = bench.run(config, env=env, data_dir=tmp_path, say=lambda _m: None)
    outcomes = {o["fault"]: o for o in result["faults"]}
    assert set(outcomes) == {"dup", "broker", "broker-durable"}
    for name, o in outcomes.items():
        assert o["recovered_by_itself"], (name, o)
        assert o["duplicated"] == 0 and o["current_wrong"] == 0, (name, o)
    assert outcomes["dup"]["sent"] == 120 and outcomes["dup"]["stored_once"] == 40
    # Acknowledged after the commit: nothing lost even though the broker was.
    assert outcomes["broker-durable"]["stored_once"] == 40
    assert outcomes["broker-durable"]["lost"] == 0
    broker = outcomes["broker"]
    assert broker["lost"] == broker["only_on_lost_broker"] + broker["dropped_after_restart"]
    assert "| broker-durable |" in bench.report(result)
