"""The end-to-end benchmark (bench/e2e.py) still runs: tiny numbers, the session's PostgreSQL and
broker, every process of the platform. Figures are not checked, only that each one is there."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from suishin.devstack.testing import Infrastructure, isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "e2e.py"


def load_bench(script: str = "e2e") -> ModuleType:
    """``bench/<script>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        f"suishin_bench_{script}", SCRIPT.parent / f"{script}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_e2e_benchmark_runs_and_reports_every_figure(infra: Infrastructure, tmp_path: Path) -> None:
    bench = load_bench()
    config = bench.Config(
        events=50, rate=50, duration=3, alert_every=10, tenants=1, measures=8, timeout=90
    )
    env = dict(os.environ)
    env.update(isolated_env(infra))
    result = bench.run(config, env=env, data_dir=tmp_path, say=lambda _m: None)

    throughput = result["throughput"]
    assert throughput["reports_stored"] == 50
    assert throughput["alerts"] == 5
    assert throughput["status_changes"] >= 5
    assert throughput["by_kind"].get("indicator_off_track", 0) >= 5
    assert throughput["events_per_s"] > 0
    loop = result["minimal_loop"]
    assert loop["stored"] == loop["events"] == 50, "the loop stores every event once"
    assert loop["end_to_end_ratio"] == round(throughput["events_per_s"] / loop["events_per_s"], 3)

    latency = result["latency"]
    assert latency["reports_stored"] == 150
    assert latency["alerts"] == 15
    assert latency["pushed"] == 15, "every alert reaches the 事務局's live subscription"
    assert latency["publish_to_live_push"]["n"] == 15
    assert latency["publish_to_inbox_stored"]["n"] == 15
    assert all(v is not None for v in latency["median_hops_ms"].values())
    assert set(latency["hops"]) == set(latency["median_hops_ms"])
    for label, hop in latency["hops"].items():
        assert hop["p50_ms"] == latency["median_hops_ms"][label]
        assert hop["p50_ms"] <= hop["p99_ms"] <= hop["max_ms"]
        assert f"{label:<34} p50" in bench.report(result)

    assert result["dead_lettered"] == 0
    end = result["memory"]["end"]
    for name in ("plans", "indicators", "notifications", "gateway"):
        assert end[name]["rss_mib"] > 0 and end[name]["hwm_mib"] >= end[name]["rss_mib"]
    assert "throughput" in bench.report(result)
    assert "END TO END / LOOP" in bench.report(result)
    assert end["indicators"]["rss_mib"] > 0 and "after burst" in result["memory"]


def test_idle_cpu_benchmark_runs_and_reports_every_service(infra: Infrastructure) -> None:
    idle = load_bench("idle_cpu")
    env = dict(os.environ)
    env.update(isolated_env(infra))
    result = idle.run(0.5, 1.0, env=env)
    cpu = result["cpu_percent_of_one_core"]
    for name in ("plans", "indicators", "notifications", "gateway"):
        assert cpu[name] >= 0
    assert result["total_percent"] == round(sum(cpu.values()), 2)


def test_broker_cpu_benchmark_counts_the_consumers_requests() -> None:
    broker_cpu = load_bench("broker_cpu")
    produce_only, one_group = broker_cpu.SCENARIOS[0], broker_cpu.SCENARIOS[3]
    rows = [
        asyncio.run(broker_cpu.measure(s, 50.0, 1.0, settle=0.5)) for s in (produce_only, one_group)
    ]
    assert [r["consumers"] for r in rows] == [0, 2]
    assert all(r["broker_cpu_s"] >= 0 for r in rows)
    # the consumers' fetches are requests the broker answers on top of the produce requests
    assert rows[1]["requests_per_s"] > rows[0]["requests_per_s"] > 0
    assert "+ 1 consumer of 5 topics" in broker_cpu.report(rows, 50.0)


def test_broker_history_benchmark_fetches_each_record_it_sends() -> None:
    broker_cpu = load_bench("broker_cpu")
    rows = asyncio.run(broker_cpu.measure_history([40, 5], trips=10))
    # levels in order; each trip's fetch found the record just produced (or the run raises)
    assert [r["batches_held"] for r in rows] == [5, 40]
    assert all(r["produce_to_consumed_ms"] > 0 for r in rows)
    assert all(r["produce_cpu_ms"] >= 0 and r["fetch_cpu_ms"] >= 0 for r in rows)
    printed = broker_cpu.report_history(rows)
    assert "batches held" in printed and printed.count("\n") == 3
