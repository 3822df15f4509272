"""An indicator going off track reaches DX推進本部 like it would in a ward, and recovers.

Everything runs as separate processes (plans, indicators, notifications, gateway, SMTP sink) on
the real broker and PostgreSQL. An external system reports actuals as `indicator.reported`
events; the indicators go off track; the measure is graded 未達成; the CIO gets exactly one inbox
entry and one e-mail and sees it live on a GraphQL subscription; corrections bring the
indicators back and the 事務局 gets "recovered" notices.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.cli.demo import demo_settings, import_plans, publish
from suishin.cli.notifications_commands import load_directories
from suishin.cli.stack import Stack
from suishin.contracts.events import IndicatorReported, new_event
from suishin.contracts.planfile import load_plan_file
from suishin.kit.auth import issue_token
from suishin.kit.settings import PlatformSettings
from suishin.kit.testing import GraphQLWSClient, wait_until
from suishin.notifications.settings import NotificationsSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PLAN = DATASETS / "itabashi-dx2025-late.yaml"
MEASURE = "基本方針Ⅰ/施策1"  # owned by IT推進課, four yearly workloads
YEAR = 2024


class Gateway:
    def __init__(self, stack: Stack, settings: PlatformSettings) -> None:
        gateway = next(s for s in stack.specs if s.name == "gateway")
        self.url = f"{gateway.base_url}/graphql"
        self.ws_url = self.url.replace("http://", "ws://")
        self.settings = settings

    def token(self, subject: str, *roles: str, posts: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.settings, subject=subject, tenant="itabashi", roles=list(roles), posts=list(posts)
        )

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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ward(platform: Stack) -> AsyncIterator[tuple[Gateway, Any]]:
    settings = demo_settings(platform)
    plan_file = load_plan_file(PLAN)
    await import_plans([(PLAN, plan_file)], settings, lambda _m: None)
    await load_directories(
        [DATASETS / "directory" / "itabashi.yaml"],
        NotificationsSettings(
            **settings.model_dump(
                include={"database_url", "kafka_bootstrap", "schema_prefix", "topic_prefix"}
            )
        ),
    )
    yield Gateway(platform, settings), plan_file


def reported(indicator_key: str, value: int, *, key: str, correction: bool = False):
    return new_event(
        IndicatorReported(
            indicator_key=indicator_key,
            period=f"FY{YEAR}",
            value=Decimal(value),
            source="rpa-log",
            idempotency_key=key,
            is_correction=correction,
        ),
        tenant="itabashi",
        aggregate_id=indicator_key,
        producer="external-system",
    )


def mails_to(mail_dir: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            found.append(message)
    return found  # type: ignore[return-value]


async def test_off_track_reaches_the_cio_once_live_and_by_mail_then_recovers(
    ward: tuple[Gateway, Any], platform: Stack
) -> None:
    gateway, plan_file = ward
    measure_id = str(plan_file.node_id(MEASURE))
    workloads = [
        i for i in plan_file.indicators if any(n.startswith(MEASURE + "/") for n in i.nodes)
    ]
    targets = {i.key: next(t.value for t in i.targets if t.fiscal_year == YEAR) for i in workloads}
    cio = gateway.token("cio@itabashi", "executive", "viewer", posts=("CIO", "DX推進本部"))
    jimukyoku = gateway.token("jimukyoku@itabashi", "admin", "viewer", posts=("事務局",))
    honbu = gateway.token("honbu@itabashi", "executive", "viewer", posts=("DX推進本部",))

    def about_measure(n: dict[str, Any]) -> bool:
        return n["kind"] == "measure_failing" and n["link"] == f"Measure:{measure_id}"

    # The CIO wants e-mail at once, even on weekends and holidays (the test may run on one).
    prefs = "mutation { updateMyPreferences(input: {respectQuietHours: false}) { errors {code} } }"
    await gateway.query(cio, prefs)
    pushed: list[dict[str, Any]] = []

    async def listen(live: GraphQLWSClient) -> None:
        while True:
            message = await live.next(timeout=300)
            pushed.append(message["payload"]["data"]["notificationReceived"])

    async with GraphQLWSClient.open(gateway.ws_url, cio) as live:
        await live.subscribe("subscription { notificationReceived { kind title link } }")
        listener = asyncio.create_task(listen(live))
        # Every workload of the measure far below its target: the external system reports.
        events = [reported(k, int(t) // 10, key=f"rpa-{k}-{YEAR}") for k, t in targets.items()]
        await publish(gateway.settings, events)
        await publish(gateway.settings, events)  # redelivered by the source: changes nothing

        async def in_inbox() -> list[dict[str, Any]]:
            return [n for n in await gateway.inbox(cio) if about_measure(n)]

        await wait_until(in_inbox, timeout=90, message="the CIO's inbox entry")

        async def seen_live() -> list[dict[str, Any]]:
            return [n for n in pushed if about_measure(n)]

        live_entries = await wait_until(seen_live, timeout=30, message="the live push")
        listener.cancel()
        assert "未達成" in live_entries[0]["title"]

    async def cio_mail() -> list[Any]:
        return [
            m
            for m in mails_to(platform.mail_dir, "cio@itabashi.example.jp")
            if "未達成" in str(m["Subject"])
        ]

    await wait_until(cio_mail, timeout=120, message="the CIO's e-mail")
    inbox = [n for n in await gateway.inbox(cio) if about_measure(n)]
    assert len(inbox) == 1, inbox
    assert [n for n in await gateway.inbox(honbu) if about_measure(n)], "本部 member"

    async def off_track_alerts() -> list[dict[str, Any]]:
        alerts = [n for n in await gateway.inbox(jimukyoku) if n["kind"] == "indicator_off_track"]
        return alerts if len(alerts) >= len(targets) else []

    await wait_until(off_track_alerts, timeout=60, message="the 事務局's off-track alerts")

    # Corrections: the department finds the real figures; every workload is met.
    corrections = [
        reported(k, int(t) + 1, key=f"rpa-{k}-{YEAR}-fix", correction=True)
        for k, t in targets.items()
    ]
    await publish(gateway.settings, corrections)

    async def recovered() -> list[dict[str, Any]]:
        notes = [n for n in await gateway.inbox(jimukyoku) if n["kind"] == "indicator_recovered"]
        return notes if len(notes) >= len(targets) else []

    await wait_until(recovered, timeout=90, message="recovered notices")

    # Nothing more reached the CIO about the failing grade: still one entry, one e-mail.
    assert len([n for n in await gateway.inbox(cio) if about_measure(n)]) == 1
    assert len(await cio_mail()) == 1
    data = await gateway.query(
        cio,
        "query($id: ID!) { measure(id: $id) { grades { fiscalYear grade label } } }",
        id=measure_id,
    )
    grade = next(g for g in data["measure"]["grades"] if g["fiscalYear"] == YEAR)
    assert grade["label"] != "未達成", grade
