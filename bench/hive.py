"""Suishin's gateway and Hive Gateway side by side on the same subgraphs.

    uv run python bench/hive.py [--dataset NAME] [--requests 200] [--concurrency 1 8] [--rounds 2]

Installs Hive Gateway from npm into ``.tools/hive`` (git-ignored; once, or when the pinned version
changes) and the federation composer of ``tools/federation`` (the composition test's), composes
the three subgraphs' checked-in SDL (``gateway/subgraphs/*.graphql``) with
``@theguild/federation-composition``, and then:

- starts the embedded PostgreSQL and broker, imports the reference plan with the most measures
  (as ``bench/gateway.py`` does) and serves the plans, indicators and notifications subgraphs
  with uvicorn in this process, each behind a counter of the HTTP calls it receives;
- starts Suishin's gateway (``python -m suishin.gateway``) and Hive Gateway
  (``hive-gateway supergraph``, default settings plus forwarding of the caller's
  ``Authorization`` to the subgraphs, which check it) as two processes of their own;
- checks that both give the same answer to the whole-plan dashboard query with the same token;
- drives that query through each gateway in turn, at each concurrency, with the same token (one
  ward's dashboard reloaded by several people), and prints requests/s, p50/p99 latency, subgraph
  calls per query, the gateway process's CPU per request and the ratio Suishin / Hive.

The client and the subgraphs share this process; both gateways are separate processes on the
same cores, so the two are measured under the same conditions, one after the other, ``--rounds``
times (alternating which goes first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from suishin.contracts import ids
from suishin.devstack.embedded import free_port
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.gateway.settings import GatewaySettings
from suishin.indicators.app import build as build_indicators
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token
from suishin.kit.server import freeze_heap
from suishin.notifications.app import build as build_notifications
from suishin.notifications.settings import NotificationsSettings
from suishin.plans.app import build as build_plans
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HIVE_DIR = ROOT / ".tools" / "hive"
HIVE_VERSION = "2.15.1"
FEDERATION = ROOT / "tools" / "federation"
SUBGRAPHS = ("plans", "indicators", "notifications")

_spec = importlib.util.spec_from_file_location("suishin_bench_gateway", HERE / "gateway.py")
assert _spec is not None and _spec.loader is not None
gwbench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gwbench)

HIVE_CONFIG = """\
// Hive Gateway's defaults, plus the caller's Authorization forwarded to the subgraphs.
export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const authorization = request.headers.get("authorization");
      return authorization ? { authorization } : {};
    },
  },
};
"""


def install_hive() -> Path:
    """``.tools/hive/node_modules/.bin/hive-gateway``, installed with npm when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("node and npm are needed to run Hive Gateway")
    binary = HIVE_DIR / "node_modules" / ".bin" / "hive-gateway"
    manifest = HIVE_DIR / "node_modules" / "@graphql-hive" / "gateway" / "package.json"
    installed = json.loads(manifest.read_text())["version"] if manifest.exists() else None
    if installed != HIVE_VERSION:
        HIVE_DIR.mkdir(parents=True, exist_ok=True)
        if not (HIVE_DIR / "package.json").exists():
            (HIVE_DIR / "package.json").write_text(
                '{"name": "suishin-hive-bench", "private": true}'
            )
        print(f"installing @graphql-hive/gateway@{HIVE_VERSION} into {HIVE_DIR} ...", flush=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"@graphql-hive/gateway@{HIVE_VERSION}"],
            cwd=HIVE_DIR,
            check=True,
            capture_output=True,
        )
    if not (FEDERATION / "node_modules" / "@theguild" / "federation-composition").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=FEDERATION,
            check=True,
            capture_output=True,
        )
    return binary


def compose(urls: dict[str, str], workdir: Path) -> Path:
    """The supergraph of the checked-in subgraph SDL, pointing at ``urls``."""
    files = [str(ROOT / "gateway" / "subgraphs" / f"{name}.graphql") for name in SUBGRAPHS]
    out = workdir / "supergraph.graphql"
    result = subprocess.run(
        ["node", str(FEDERATION / "compose.mjs"), *files, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        sys.exit(f"composition failed:\n{result.stderr}")
    sdl = out.read_text("utf-8")
    for name, url in urls.items():
        placeholder = f"http://{name}.invalid/graphql"
        assert placeholder in sdl, f"no {placeholder} in the supergraph"
        sdl = sdl.replace(placeholder, url)
    out.write_text(sdl, "utf-8")
    return out


class Counted:
    """An ASGI app that counts the HTTP requests it is sent (subgraph calls)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            self.calls += 1
        await self.app(scope, receive, send)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, its reaped children and its living descendants (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            total += sum(cpu_seconds(int(child)) for child in path.read_text().split())
    return total


@contextlib.asynccontextmanager
async def process(
    argv: list[str], *, env: dict[str, str], cwd: Path, ready_url: str, log: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                deadline = time.monotonic() + 90
                while True:
                    if proc.poll() is not None:
                        sys.exit(f"{argv[0]} exited ({proc.returncode}); see {log}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(ready_url)).status_code < 500:
                            break
                    if time.monotonic() > deadline:
                        sys.exit(f"{argv[0]} did not start in 90 s; see {log}")
                    await asyncio.sleep(0.2)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def run(args: argparse.Namespace, infra: Any, hive_bin: Path, workdir: Path) -> None:
    plan_file = gwbench.largest_dataset(args.dataset) or gwbench.synthetic()
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    prefix = "hive" + uuid.uuid4().hex[:6]
    plans_rt, plans_app = build_plans(isolated_settings(PlansSettings, infra, prefix=prefix))
    ind_rt, ind_app = build_indicators(
        isolated_settings(IndicatorsSettings, infra, prefix=prefix, stale_sweep_enabled=False)
    )
    not_rt, not_app = build_notifications(
        isolated_settings(NotificationsSettings, infra, prefix=prefix)
    )
    counted = {
        "plans": Counted(plans_app),
        "indicators": Counted(ind_app),
        "notifications": Counted(not_app),
    }
    async with started(plans_rt), started(ind_rt), started(not_rt):
        await import_plan_file(plans_rt.pool, plan_file)
        await import_indicator_definitions(ind_rt.pool, plan_file)
        async with contextlib.AsyncExitStack() as stack:
            urls = {
                name: await stack.enter_async_context(gwbench.serve(app))
                for name, app in counted.items()
            }
            supergraph = compose(urls, workdir)
            (workdir / "gateway.config.mjs").write_text(HIVE_CONFIG)
            suishin_port, hive_port = free_port(), free_port()
            env = {
                **os.environ,
                "SUISHIN_GATEWAY_PORT": str(suishin_port),
                "SUISHIN_PLANS_URL": urls["plans"],
                "SUISHIN_INDICATORS_URL": urls["indicators"],
                "SUISHIN_NOTIFICATIONS_URL": urls["notifications"],
                "SUISHIN_LIVE_ENABLED": "false",
                "SUISHIN_LOG_LEVEL": "WARNING",
            }
            suishin = await stack.enter_async_context(
                process(
                    [sys.executable, "-m", "suishin.gateway"],
                    env=env,
                    cwd=ROOT,
                    ready_url=f"http://127.0.0.1:{suishin_port}/healthz",
                    log=workdir / "suishin-gateway.log",
                )
            )
            hive = await stack.enter_async_context(
                process(
                    [
                        str(hive_bin),
                        "supergraph",
                        str(supergraph),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(hive_port),
                        "--config-path",
                        str(workdir / "gateway.config.mjs"),
                    ],
                    env={**os.environ, "NODE_ENV": "production"},
                    cwd=workdir,
                    ready_url=f"http://127.0.0.1:{hive_port}/readiness",
                    log=workdir / "hive-gateway.log",
                )
            )
            settings = GatewaySettings()
            token = issue_token(settings, subject="bench", tenant=tenant, roles=["executive"])
            payload = {
                "query": gwbench.GATEWAY_QUERY,
                "variables": {"id": str(ids.plan_id(tenant, key))},
            }
            gateways = {
                "suishin": (f"http://127.0.0.1:{suishin_port}/graphql", suishin.pid),
                "hive": (f"http://127.0.0.1:{hive_port}/graphql", hive.pid),
            }
            async with httpx.AsyncClient(
                headers={"authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                answers = {}
                for name, (url, _) in gateways.items():
                    r = await client.post(url, json=payload)
                    body = r.json()
                    if r.status_code != 200 or body.get("errors") or not body.get("data"):
                        sys.exit(f"{name}: {r.status_code} {json.dumps(body)[:2000]}")
                    answers[name] = body["data"]
                same = answers["suishin"] == answers["hive"]
                measures = gwbench.plan_file_measures(plan_file)
                print(
                    f"plan {tenant}/{key}: {measures} measures, {len(plan_file.indicators)} "
                    f"indicators; {args.requests} requests per run; load average "
                    f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
                )
                size = len(json.dumps(answers["suishin"], ensure_ascii=False).encode())
                print(f"same answer from both gateways: {same} ({size:,} bytes of data)")
                if not same:
                    (workdir / "suishin.json").write_text(json.dumps(answers["suishin"], indent=1))
                    (workdir / "hive.json").write_text(json.dumps(answers["hive"], indent=1))
                    sys.exit(f"the answers differ; see {workdir}/suishin.json and hive.json")

                def one(url: str) -> Callable[[], Awaitable[None]]:
                    async def call() -> None:
                        r = await client.post(url, json=payload)
                        assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]

                    return call

                # the subgraphs and this client share the process: their full collections
                # (the three schemas and the plan) would stall both gateways' answers alike
                freeze_heap()
                header = f"{'round':>5} {'gateway':8} {'conc.':>5} {'req/s':>8} {'p50 ms':>8}"
                print(f"{header} {'p99 ms':>8} {'CPU ms/req':>10} {'calls/query':>11}")
                summary: dict[tuple[str, int], list[dict[str, float]]] = {}
                for round_ in range(1, args.rounds + 1):
                    order = list(gateways) if round_ % 2 else list(reversed(gateways))
                    for concurrency in args.concurrency:
                        for name in order:
                            url, pid = gateways[name]
                            calls = sum(c.calls for c in counted.values())
                            cpu = cpu_seconds(pid)
                            row = await gwbench.drive(name, one(url), args.requests, concurrency)
                            n = args.requests + 5
                            row["cpu"] = (cpu_seconds(pid) - cpu) * 1000 / n
                            row["calls"] = (sum(c.calls for c in counted.values()) - calls) / n
                            summary.setdefault((name, concurrency), []).append(row)
                            print(
                                f"{round_:5} {name:8} {concurrency:5} {row['rps']:8.1f} "
                                f"{row['p50']:8.1f} {row['p99']:8.1f} {row['cpu']:10.1f} "
                                f"{row['calls']:11.2f}",
                                flush=True,
                            )
                print("Suishin / Hive, mean over the rounds (req/s ratio > 1: Suishin faster):")
                for concurrency in args.concurrency:
                    s, h = summary[("suishin", concurrency)], summary[("hive", concurrency)]

                    def mean(rows: list[dict[str, float]], k: str) -> float:
                        return sum(r[k] for r in rows) / len(rows)

                    print(
                        f"  concurrency {concurrency}: req/s {mean(s, 'rps'):.1f} vs "
                        f"{mean(h, 'rps'):.1f} (ratio {mean(s, 'rps') / mean(h, 'rps'):.2f}); "
                        f"p50 {mean(s, 'p50'):.1f} vs {mean(h, 'p50'):.1f} ms "
                        f"(ratio {mean(s, 'p50') / mean(h, 'p50'):.2f}); p99 "
                        f"{mean(s, 'p99'):.1f} vs {mean(h, 'p99'):.1f} ms"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="datasets/<name>.yaml (default: most measures)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()
    hive_bin = install_hive()
    workdir = Path(tempfile.mkdtemp(prefix="suishin-hive-"))
    try:
        with test_infrastructure() as infra:
            asyncio.run(run(args, infra, hive_bin, workdir))
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
