"""Durable ingest over HTTP: 200 only after the commit, a result per item, idempotent, the same
rules as the Kafka consumer (one shared code path), authenticated like the subgraph."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids, topics
from suishin.contracts.events import IndicatorReported, new_event
from suishin.devstack.testing import Infrastructure, isolated_settings, produce, started, wait_until
from suishin.indicators.app import build
from suishin.indicators.http_ingest import MAX_BODY_BYTES, MAX_ITEMS, PATH
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token

from .conftest import JUNE_2024, Clock, plan_file, small_plan

pytestmark = pytest.mark.integration

TENANT = "httpku"


@dataclass
class Ingest:
    runtime: IndicatorsRuntime
    client: httpx.AsyncClient
    settings: IndicatorsSettings

    def token(self, *roles: str, departments: tuple[str, ...] = (), tenant: str = TENANT) -> str:
        return issue_token(
            self.settings,
            subject="rpa@httpku",
            tenant=tenant,
            roles=list(roles),
            departments=list(departments),
        )

    @property
    def admin(self) -> str:
        return self.token("admin")

    async def post(self, items: Any, token: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(PATH, json=items, headers=headers)

    async def current(self, key: str, period: str) -> Any:
        return await self.runtime.pool.fetchval(
            "select value from measurements where indicator_id = $1 and period = $2 and is_current",
            ids.indicator_id(TENANT, key),
            period,
        )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ingest_api(infra: Infrastructure) -> AsyncIterator[Ingest]:
    clock = Clock(JUNE_2024)
    settings = isolated_settings(IndicatorsSettings, infra, stale_sweep_enabled=False)
    runtime, app = build(settings, clock=clock)
    async with started(runtime):
        for tenant in (TENANT, "otherku"):
            await import_indicator_definitions(
                runtime.pool, plan_file(small_plan(tenant)), now=clock.now()
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Ingest(runtime, client, settings)


def payload(key: str, period: str, value: object, idem: str, **kw: Any) -> dict[str, Any]:
    return {
        "indicator_key": key,
        "period": period,
        "value": str(value),
        "source": "rpa-log",
        "idempotency_key": idem,
        **kw,
    }


def envelope(key: str, period: str, value: object, idem: str, tenant: str = TENANT) -> Any:
    return new_event(
        IndicatorReported(
            indicator_key=key,
            period=period,
            value=Decimal(str(value)),
            source="rpa-log",
            idempotency_key=idem,
        ),
        tenant=tenant,
        aggregate_id=key,
        producer="rpa",
    )


async def test_a_batch_is_committed_before_the_answer_with_a_result_per_item(
    ingest_api: Ingest,
) -> None:
    event = envelope("p1.rpa", "FY2024", 11, "http-env-1")
    items = [
        payload("p1.konbini", "FY2024", 31, "http-1"),
        json.loads(event.to_bytes()),
        payload("p1.nope", "FY2024", 1, "http-2"),  # unknown indicator
        payload("p1.konbini", "FY2024", 31, "http-1"),  # the same report twice
        {"indicator_key": "p1.rpa"},  # invalid payload
        payload("p1.konbini", "FY2024", 99, "http-1"),  # key reused with other content
        json.loads(envelope("p1.rpa", "FY2024", 1, "http-x", tenant="otherku").to_bytes()),
    ]
    response = await ingest_api.post(items, ingest_api.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    statuses = [(r["status"], r["reason"]) for r in body["results"]]
    assert statuses == [
        ("accepted", None),
        ("accepted", None),
        ("rejected", "unknown_indicator"),
        ("duplicate", "idempotency_key_seen"),
        ("rejected", "invalid_payload"),
        ("rejected", "idempotency_key_reused"),
        ("rejected", "foreign_tenant"),
    ]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 1, 4)
    assert body["results"][1]["event_id"] == str(event.event_id)
    # Committed when the answer came: readable at once, no waiting.
    assert await ingest_api.current("p1.konbini", "FY2024") == Decimal(31)
    assert await ingest_api.current("p1.rpa", "FY2024") == Decimal(11)
    via = await ingest_api.runtime.pool.fetchval(
        "select via from measurements where idempotency_key = 'http-1'"
    )
    assert via == "http"

    # Sending the batch again (a retry after a timeout) changes nothing.
    again = (await ingest_api.post(items, ingest_api.admin)).json()
    assert [r["status"] for r in again["results"][:2]] == ["duplicate", "duplicate"]
    count = await ingest_api.runtime.pool.fetchval(
        "select count(*) from measurements where idempotency_key like 'http-%'"
    )
    assert count == 2


async def test_an_event_sent_over_http_and_kafka_is_applied_once(
    ingest_api: Ingest, infra: Infrastructure
) -> None:
    event = envelope("p1.konbini", "FY2024", 40, "both-ways")
    response = await ingest_api.post([json.loads(event.to_bytes())], ingest_api.admin)
    assert response.json()["results"][0]["status"] == "accepted"
    topic = ingest_api.runtime.topic(topics.INDICATOR_REPORTED)
    later = envelope("p1.konbini", "FY2024", 41, "after-both-ways")
    await produce(
        infra.kafka_bootstrap,
        topic,
        [(event.key, event.to_bytes()), (later.key, later.to_bytes())],
    )

    async def later_applied() -> bool:
        return await ingest_api.current("p1.konbini", "FY2024") == Decimal(41)

    await wait_until(later_applied, timeout=60, message="the Kafka copy and the later report")
    count = await ingest_api.runtime.pool.fetchval(
        "select count(*) from measurements where idempotency_key = 'both-ways'"
    )
    assert count == 1


async def test_reporters_report_for_their_own_department_only(ingest_api: Ingest) -> None:
    token = ingest_api.token("reporter", departments=("IT推進課",))
    items = [
        payload("p1.rpa", "FY2023", 13, "dept-1"),  # IT推進課 owns it
        payload("p1.konbini", "FY2023", 20, "dept-2"),  # 区民課's
    ]
    body = (await ingest_api.post(items, token)).json()
    assert [(r["status"], r["reason"]) for r in body["results"]] == [
        ("accepted", None),
        ("rejected", "forbidden"),
    ]


async def test_callers_and_bodies_are_checked(ingest_api: Ingest) -> None:
    item = [payload("p1.rpa", "FY2023", 1, "checked")]
    assert (await ingest_api.post(item, None)).status_code == 401
    assert (await ingest_api.post(item, "not-a-token")).status_code == 401
    assert (await ingest_api.post(item, ingest_api.token("viewer"))).status_code == 403
    assert (await ingest_api.post({"not": "a list"}, ingest_api.admin)).status_code == 400
    too_many = [payload("p1.rpa", "FY2023", 1, f"m-{n}") for n in range(MAX_ITEMS + 1)]
    assert (await ingest_api.post(too_many, ingest_api.admin)).status_code == 413
    huge = await ingest_api.client.post(
        PATH,
        content=b"[" + b" " * MAX_BODY_BYTES + b"]",
        headers={"authorization": f"Bearer {ingest_api.admin}"},
    )
    assert huge.status_code == 413
    deep = await ingest_api.client.post(
        PATH,
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"authorization": f"Bearer {ingest_api.admin}"},
    )
    assert deep.status_code == 400
    count = await ingest_api.runtime.pool.fetchval(
        "select count(*) from measurements where idempotency_key in ('checked', 'm-0')"
    )
    assert count == 0
