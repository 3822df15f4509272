"""Two replicas of a service share a topic through their consumer group, with the platform's
heartbeat and rebalance settings: the group settles, each replica takes a share, nothing is
lost, and the survivor of a stop takes over the rest."""

from collections.abc import Sequence

import pytest

from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.devstack.testing import Infrastructure, isolated_settings, produce, started, wait_until
from suishin.kit.consumer import Rejection
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def report(key: str) -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key=key, period="FY2024", value=1, source="t", idempotency_key=key
        ),
        tenant="itabashi",
        aggregate_id=key,
        producer="test",
    )


async def test_two_replicas_share_a_topic_and_the_survivor_takes_over(
    infra: Infrastructure,
) -> None:
    settings = isolated_settings(ServiceSettings, infra)
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def replica(name: str) -> ServiceRuntime:
        runtime = ServiceRuntime("grouptest", settings, migrations=None)

        async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
            seen[name].extend(e.payload.indicator_key for e in events)
            return []

        runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, handle)
        return runtime

    a, b = replica("a"), replica("b")
    topic = a.topic(topics.INDICATOR_REPORTED)

    def assigned(runtime: ServiceRuntime) -> set[int]:
        kafka = getattr(runtime.consumers[0].subscriber, "consumer", None)
        return {tp.partition for tp in kafka.assignment()} if kafka is not None else set()

    async def publish(keys: list[str]) -> None:
        events = [report(k) for k in keys]
        await produce(infra.kafka_bootstrap, topic, [(e.key, e.to_bytes()) for e in events])

    async with started(a):
        async with started(b):

            async def settled() -> bool:
                mine, theirs = assigned(a), assigned(b)
                return bool(mine) and bool(theirs) and not mine & theirs

            await wait_until(settled, timeout=60, message="both replicas hold partitions")
            first = [f"first-{i}" for i in range(200)]
            await publish(first)

            async def all_first() -> bool:
                return set(first) <= set(seen["a"]) | set(seen["b"])

            await wait_until(all_first, timeout=60, message="the first reports consumed")
            assert seen["a"] and seen["b"], "each replica takes a share"
            assert sorted(seen["a"] + seen["b"]) == sorted(first), "each report once"

        # b stopped: a takes every partition and the reports published after
        second = [f"second-{i}" for i in range(50)]
        await publish(second)

        async def all_second() -> bool:
            return set(second) <= set(seen["a"]) | set(seen["b"])

        await wait_until(all_second, timeout=60, message="the survivor took over")
