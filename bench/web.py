"""Portal benchmark: the first page of the plan dashboard for the largest reference plan.

    uv run python bench/web.py [--cold 3] [--warm 20]

Starts the whole platform as `suishin up` does (embedded PostgreSQL and broker unless
SUISHIN_DATABASE_URL / SUISHIN_KAFKA_BOOTSTRAP are set, every service, the gateway and the
portal, on free ports) with all the reference plans, directories and 前期 actuals, signs in as
the 事務局 of the ward whose plan has the most measures, and measures GET /plans/<id>:

- first: the very first dashboard request after the platform started (nothing cached anywhere:
  a new portal process, the gateway's parsed documents and the subgraphs' pools cold);
- cold portal: a new portal process each time (``--cold`` processes), its first request;
- warm: ``--warm`` more requests to the same portal (p50 / p95).

Page weight: the HTML of the page and every asset it loads (CSS, JS), raw and as sent (gzip).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from suishin.cli.demo import load_demo
from suishin.cli.stack import Stack
from suishin.devstack.embedded import port_open, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def free_port_block(size: int = 6) -> int:
    import random

    for _ in range(200):
        base = random.randrange(20000, 32000)
        if not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


@contextlib.contextmanager
def portal_process(gateway_port: int, env: dict[str, str]) -> Iterator[str]:
    port = free_port_block(1)
    child_env = {**env, "SUISHIN_WEB_PORT": str(port), "SUISHIN_GATEWAY_PORT": str(gateway_port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "suishin.web"],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def signed_in(url: str, subject: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60, headers={"accept-encoding": "gzip"})
    page = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, "no sign-in form"
    client.post("/signin/dev", data={"csrf": csrf.group(1), "subject": subject})
    return client


def timed_get(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response


def weight(client: httpx.Client, response: httpx.Response) -> tuple[int, int, int, int]:
    """(HTML raw, HTML sent, assets raw, assets sent) in bytes."""
    html = response.content
    sent_html = response.num_bytes_downloaded  # gzip when the client accepts it
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text)
    raw_assets = sent_assets = 0
    for asset in set(assets):
        got = client.get(asset)
        raw_assets += len(got.content)
        sent_assets += got.num_bytes_downloaded
    return len(html), sent_html, raw_assets, sent_assets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=3, help="new portal processes to time")
    parser.add_argument("--warm", type=int, default=20, help="warm requests to time")
    args = parser.parse_args()
    os.environ.setdefault("SUISHIN_DATASETS_DIR", str(ROOT / "datasets"))
    with tempfile.TemporaryDirectory(prefix="suishin-bench-web-") as tmp:
        base = free_port_block()
        env = dict(os.environ)
        env.setdefault("SUISHIN_PG_PORT", str(free_port_block(1)))
        env.setdefault("SUISHIN_BROKER_PORT", str(free_port_block(1)))
        env["SUISHIN_LOG_LEVEL"] = "WARNING"
        stack = Stack(Path(tmp), base_port=base, env=env, say=lambda _m: None)
        try:
            stack.start_infrastructure()
            stack.start_services(timeout=180)
            load_demo(stack, say=lambda _m: None)
            web = next(s for s in stack.specs if s.name == "web")
            gateway = next(s for s in stack.specs if s.name == "gateway")
            run(web.base_url, gateway.port, stack.service_env(), args)
        finally:
            stack.stop()


def run(url: str, gateway_port: int, env: dict[str, str], args: argparse.Namespace) -> None:
    # The largest reference plan: most measures, over every ward.
    probe = httpx.Client(base_url=url, timeout=60)
    best: tuple[int, str, str, str] | None = None
    for tenant in ("itabashi", "nerima", "bunkyo"):
        client = signed_in(url, f"jimukyoku@{tenant}")
        home = client.get("/").text
        for plan_id, count in re.findall(
            r'href="/plans/([0-9a-f-]+)">[^<]*</a></td>\s*<td>[^<]*</td>\s*<td>[^<]*</td>\s*'
            r'<td class="num">(\d+)</td>',
            home,
        ):
            if best is None or int(count) > best[0]:
                best = (int(count), tenant, plan_id, f"jimukyoku@{tenant}")
    probe.close()
    assert best is not None, "no plan found"
    measures, tenant, plan_id, subject = best
    path = f"/plans/{plan_id}"
    print(f"largest plan: {tenant} {plan_id} ({measures} measures)")

    client = signed_in(url, subject)
    first, response = timed_get(client, path)
    print(f"first dashboard request after the platform started: {first * 1000:.0f} ms")

    cold = []
    for _ in range(args.cold):
        with portal_process(gateway_port, env) as fresh:
            fresh_client = signed_in(fresh, subject)
            elapsed, _ = timed_get(fresh_client, path)
            cold.append(elapsed)
    print(
        "cold portal process, first request: "
        + ", ".join(f"{c * 1000:.0f}" for c in cold)
        + f" ms (max {max(cold) * 1000:.0f} ms)"
    )

    warm = sorted(timed_get(client, path)[0] for _ in range(args.warm))
    p95 = warm[min(len(warm) - 1, int(len(warm) * 0.95))]
    print(f"warm: p50 {statistics.median(warm) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")

    html_raw, html_sent, assets_raw, assets_sent = weight(client, response)
    print(
        f"page weight: HTML {html_raw / 1024:.1f} KiB ({html_sent / 1024:.1f} KiB gzip), "
        f"CSS+JS {assets_raw / 1024:.1f} KiB; total sent {(html_sent + assets_sent) / 1024:.1f} KiB"
    )
    verdict = "met" if max([first, *cold]) < 1.0 else "NOT met"
    print(f"target < 1 s for the first page with a cold cache: {verdict}")


if __name__ == "__main__":
    main()
