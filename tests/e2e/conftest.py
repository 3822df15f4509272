"""The whole platform as separate processes, like `suishin up`, on the test infrastructure,
with a ward (板橋区 DX2025 後期 and its directory) loaded and a user's view of it."""

from __future__ import annotations

import email
import email.policy
import os
import random
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from suishin.cli.demo import demo_settings, import_plans, publish
from suishin.cli.notifications_commands import load_directories
from suishin.cli.stack import Stack
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.embedded import port_open
from suishin.devstack.testing import Infrastructure, isolated_env, unique_prefix
from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings
from suishin.notifications.settings import NotificationsSettings

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PLAN = DATASETS / "itabashi-dx2025-late.yaml"
DIRECTORY = DATASETS / "directory" / "itabashi.yaml"


def free_port_block(size: int = 6) -> int:
    """Consecutive free ports below the ephemeral range, so no outgoing connection takes one
    between choosing and binding."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000)
        if not any(port_open("127.0.0.1", base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


def platform_env(infra: Infrastructure, *, own_broker: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(isolated_env(infra, unique_prefix()))
    if own_broker:  # the stack starts an embedded broker of its own (to restart it)
        env.pop("SUISHIN_KAFKA_BOOTSTRAP")
        env["SUISHIN_BROKER_PORT"] = str(free_port_block(1))
    # Shorter shaping windows than a ward would use, so the tests need not wait a minute.
    env["SUISHIN_GROUPING_WINDOW_SECONDS"] = "2"
    env["SUISHIN_DISPATCHER_POLL_INTERVAL"] = "0.2"
    # The progress-report deadline sweep every second instead of every minute.
    env["SUISHIN_REPORT_SWEEP_INTERVAL"] = "1"
    return env


@pytest.fixture(scope="module")
def platform(infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("platform"),
        base_port=free_port_block(),
        env=platform_env(infra),
        say=lambda _m: None,
    )
    try:
        stack.start_infrastructure()
        stack.start_services(timeout=120)
        yield stack
    finally:
        stack.stop()


class Ward:
    """板橋区 as its users see it: the gateway, tokens, inboxes, mail and the database."""

    tenant = "itabashi"

    def __init__(self, stack: Stack, plan_file: PlanFile) -> None:
        gateway = next(s for s in stack.specs if s.name == "gateway")
        self.stack = stack
        self.plan_file = plan_file
        self.url = f"{gateway.base_url}/graphql"
        self.ws_url = self.url.replace("http://", "ws://")
        self.settings: PlatformSettings = demo_settings(stack)

    def token(self, subject: str, *roles: str, posts: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.settings,
            subject=subject,
            tenant=self.tenant,
            roles=list(roles),
            posts=list(posts),
        )

    @property
    def cio(self) -> str:
        return self.token("cio@itabashi", "executive", "viewer", posts=("CIO", "DX推進本部"))

    @property
    def jimukyoku(self) -> str:
        return self.token("jimukyoku@itabashi", "admin", "viewer", posts=("事務局",))

    @property
    def honbu(self) -> str:
        return self.token("honbu@itabashi", "executive", "viewer", posts=("DX推進本部",))

    async def query(self, bearer: str, query: str, **variables: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                self.url,
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {bearer}"},
            )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return dict(body["data"])

    async def inbox(self, bearer: str) -> list[dict[str, Any]]:
        data = await self.query(
            bearer, "{ myInbox(first: 100) { edges { node { id kind title link } } } }"
        )
        return [edge["node"] for edge in data["myInbox"]["edges"]]

    def reported(
        self, indicator_key: str, value: int, period: str, *, key: str, correction: bool = False
    ) -> Envelope[IndicatorReported]:
        """An actual as an external system (RPA logs, e-application counters) sends it."""
        return new_event(
            IndicatorReported(
                indicator_key=indicator_key,
                period=period,
                value=Decimal(value),
                source="rpa-log",
                idempotency_key=key,
                is_correction=correction,
            ),
            tenant=self.tenant,
            aggregate_id=indicator_key,
            producer="external-system",
        )

    async def publish(self, events: list[Envelope[IndicatorReported]]) -> None:
        await publish(self.settings, events)

    def mails_to(self, address: str) -> list[EmailMessage]:
        found = []
        for path in sorted(self.stack.mail_dir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if address in str(message["To"]):
                found.append(message)
        return found

    async def fetchval(self, service: str, sql: str) -> Any:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            await conn.execute(f'set search_path to "{self.settings.schema_name(service)}"')
            return await conn.fetchval(sql)
        finally:
            await conn.close()


async def load_ward(stack: Stack) -> Ward:
    ward = Ward(stack, load_plan_file(PLAN))
    await import_plans([(PLAN, ward.plan_file)], ward.settings, lambda _m: None)
    fields = {"database_url", "kafka_bootstrap", "schema_prefix", "topic_prefix"}
    await load_directories(
        [DIRECTORY], NotificationsSettings(**ward.settings.model_dump(include=fields))
    )
    return ward


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ward(platform: Stack) -> AsyncIterator[Ward]:
    yield await load_ward(platform)
