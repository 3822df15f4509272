"""`suishin up`'s process stack starts every service and the gateway, and stops cleanly."""

import httpx
import pytest

from suishin.cli.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_every_process_is_ready_and_reports_metrics(platform: Stack) -> None:
    async with httpx.AsyncClient(timeout=5, follow_redirects=True) as client:
        for spec in platform.specs:
            ready = await client.get(f"{spec.base_url}/readyz")
            assert ready.status_code == 200, (spec.name, ready.text)
        gateway = next(s for s in platform.specs if s.name == "gateway")
        response = await client.post(
            f"{gateway.base_url}/graphql", json={"query": "{ __typename }"}
        )
        assert response.status_code == 200
        assert response.json()["data"]["__typename"] == "Query"
