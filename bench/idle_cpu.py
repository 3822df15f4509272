"""CPU of the whole platform with no traffic.

    uv run python bench/idle_cpu.py                   # settle 10 s, measure 30 s
    uv run python bench/idle_cpu.py --settle 20 --seconds 60 --json idle.json

Starts the platform as ``suishin up`` does (``Stack``, the same processes and settings as
``bench/e2e.py``: PostgreSQL, the broker, plans, indicators, notifications, the gateway with its
live hub, the portal and the SMTP sink), loads the 板橋区 DX2025 後期 plan and its directory,
waits ``--settle`` seconds, then reads every process's CPU time (utime + stime, PostgreSQL as
the sum of all its processes) at the start and the end of ``--seconds`` with no traffic. Prints
each process's share of one core and the platform's total (the benchmark's own process sleeps
and is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from suishin.cli.stack import Stack

HERE = Path(__file__).resolve().parent


def _e2e() -> ModuleType:
    spec = importlib.util.spec_from_file_location("suishin_bench_e2e", HERE / "e2e.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(settle: float, seconds: float, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    e2e = _e2e()
    env = dict(os.environ if env is None else env)
    base = e2e.free_port_block()
    env.setdefault("SUISHIN_PG_PORT", str(base + 6))
    env.setdefault("SUISHIN_BROKER_PORT", str(base + 7))
    env.setdefault("SUISHIN_SMTP_PORT", str(base + 4))
    env.setdefault("SUISHIN_LOG_JSON", "false")
    root = Path(tempfile.mkdtemp(prefix="suishin-idle-"))
    stack = Stack(root / "platform", base_port=base, env=env, say=lambda m: print(m.strip()))
    try:
        stack.start_infrastructure()
        stack.start_services(timeout=180)
        asyncio.run(_load(e2e, stack))
        print(f"loaded; settling {settle:g} s, then measuring {seconds:g} s with no traffic")
        time.sleep(settle)
        processes = e2e.Processes(stack)
        processes.pids.pop("bench client", None)
        before, t0 = processes.sample(), time.monotonic()
        time.sleep(seconds)
        after, t1 = processes.sample(), time.monotonic()
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
    wall = t1 - t0
    cpu = {
        name: round(100 * (after[name].cpu_s - before[name].cpu_s) / wall, 2)
        for name in after
        if name != "bench client"
    }
    return {
        "machine": e2e.machine(),
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": cpu,
        "total_percent": round(sum(cpu.values()), 2),
    }


async def _load(e2e: ModuleType, stack: Stack) -> None:
    """The reference plan and directory, so that every service has its usual state."""
    from suishin.contracts.planfile import load_plan_file

    settings = e2e.demo_settings(stack)
    plan = (e2e.REAL_PLAN, load_plan_file(e2e.REAL_PLAN))
    await e2e.import_plans([plan], settings, lambda _m: None)
    await e2e.load_directories(
        [e2e.REAL_DIRECTORY],
        e2e.NotificationsSettings(
            database_url=settings.database_url,
            kafka_bootstrap=settings.kafka_bootstrap,
            schema_prefix=settings.schema_prefix,
            topic_prefix=settings.topic_prefix,
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    result = run(args.settle, args.seconds)
    print(f"\nidle CPU over {result['seconds']} s, % of one core (load {os.getloadavg()[0]:.2f})")
    for name, percent in sorted(result["cpu_percent_of_one_core"].items(), key=lambda x: -x[1]):
        print(f"  {name:<24} {percent:6.2f}")
    print(f"  {'whole platform':<24} {result['total_percent']:6.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
