"""Splitting a batch of reports into independent parts, and the heap trim after a burst."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

import pytest

from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.devstack.testing import wait_until
from suishin.indicators.handlers import PartedHandler, split
from suishin.indicators.memory import HeapTrim
from suishin.kit.consumer import Rejection


def event(key: str, idem: str, tenant: str = "partku") -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key=key, period="2024-05", value=Decimal(1), source="t", idempotency_key=idem
        ),
        tenant=tenant,
        aggregate_id=key,
        producer="test",
    )


def test_parts_share_no_indicator_and_keep_the_batch_order() -> None:
    events = [event(f"k{i % 5}", f"i{i}") for i in range(50)]
    groups = split(events, 2)
    assert len(groups) == 2
    keys = [{e.payload.indicator_key for e in g} for g in groups]
    assert not keys[0] & keys[1]
    assert sorted(len(g) for g in groups) == [20, 30]  # five indicators of 10, dealt 3 / 2
    for g in groups:
        assert g == [e for e in events if e in g]  # batch order inside a part
    assert sorted(map(id, events)) == sorted(id(e) for g in groups for e in g)


def test_same_key_in_another_tenant_is_another_indicator() -> None:
    events = [event("k", "a", "aku"), event("k", "b", "bku")]
    assert len(split(events, 2)) == 2


def test_one_indicator_is_one_part() -> None:
    events = [event("k", f"i{i}") for i in range(10)]
    assert split(events, 3) == [events]


def test_an_event_id_or_idempotency_key_across_indicators_keeps_the_batch_whole() -> None:
    a, b = event("k1", "x"), event("k2", "y")
    twin = b.model_copy(update={"event_id": a.event_id})
    assert split([a, b, twin], 2) == [[a, b, twin]]
    reused = event("k2", "x")  # the same idempotency key for another indicator
    assert split([a, b, reused], 2) == [[a, b, reused]]


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.finished: list[list[str]] = []
        self.fail_on = fail_on

    async def __call__(self, events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        keys = sorted({e.payload.indicator_key for e in events})
        self.calls.append(keys)
        await asyncio.sleep(0.01 if self.fail_on in keys else 0.05)
        if self.fail_on in keys:
            raise OSError("part failed")
        self.finished.append(keys)
        return [Rejection(e, "r", "d") for e in events if e.payload.idempotency_key == "bad"]


async def test_small_batches_are_applied_whole_and_large_ones_in_parts() -> None:
    events = [event(f"k{i % 4}", f"i{i}") for i in range(8)] + [event("k0", "bad")]
    recorder = Recorder()
    handler = PartedHandler(recorder, parts=2, min_part=5)
    rejections = await handler(events[:9])
    assert len(recorder.calls) == 1  # 9 // 5 = 1 part
    handler.min_part = 2
    rejections = await handler(events)
    assert len(recorder.calls) == 3  # whole, then two parts
    assert [r.event.payload.idempotency_key for r in rejections] == ["bad"]


async def test_a_failing_part_fails_the_batch_after_every_part_ended() -> None:
    events = [event(f"k{i % 2}", f"i{i}") for i in range(10)]
    recorder = Recorder(fail_on="k0")
    handler = PartedHandler(recorder, parts=2, min_part=1)
    with pytest.raises(OSError, match="part failed"):
        await handler(events)
    # the other part was not abandoned mid-transaction: it ended before the error surfaced
    assert recorder.finished == [["k1"]]


async def test_the_heap_is_trimmed_once_after_a_burst_and_not_for_a_trickle() -> None:
    trims: list[int] = []
    heap = HeapTrim(quiet=0.3, min_records=100, trim=lambda: trims.append(1))
    heap.saw(10)  # a trickle: below min_records, nothing scheduled
    assert heap._timer is None
    for _ in range(5):  # a burst: each batch postpones the trim
        heap.saw(50)
    assert heap._timer is not None and trims == []

    async def trimmed() -> bool:
        return trims == [1]

    await wait_until(trimmed, timeout=5)
    assert heap.trims == 1 and heap._timer is None  # once, and nothing more scheduled
    assert not HeapTrim(quiet=0, trim=lambda: None).enabled


def test_malloc_trim_is_found_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert HeapTrim(quiet=1).enabled
