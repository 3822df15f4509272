"""The bookkeeping of a batch's hold on fetching (kit.consumer ConsumerGroup.hold/release):
what it resumes after the batch, and what it leaves to others. The behaviour on the real
broker is in test_consumer_topics.py."""

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from suishin.kit.consumer import ConsumerGroup, _CarryOver, _poll_without_sleep

A, B, C = (TopicPartition("t", p) for p in range(3))


class Partitions:
    """The pause state of a consumer's assignment, as aiokafka's consumer keeps it."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned)
        self._paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def paused(self) -> set[TopicPartition]:
        return self._paused & self.assigned

    def pause(self, *tps: TopicPartition) -> None:
        assert set(tps) <= self.assigned
        self._paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        assert set(tps) <= self.assigned
        self._paused.difference_update(tps)


def group_on(kafka: Any) -> ConsumerGroup:
    group = ConsumerGroup({}, group_id="g")
    group.subscriber = SimpleNamespace(consumer=kafka)
    return group


def test_a_hold_pauses_the_assignment_and_resumes_only_what_it_paused() -> None:
    kafka = Partitions(A, B, C)
    kafka.pause(C)  # paused by someone else (a failed part's backoff)
    group = group_on(kafka)
    group.hold(kafka)
    assert kafka.paused() == {A, B, C}
    group.release()
    assert kafka.paused() == {C}
    group.release()  # twice (the handler, then the next poll) changes nothing
    assert kafka.paused() == {C}


def test_a_partition_unassigned_during_the_batch_is_not_resumed() -> None:
    kafka = Partitions(A, B)
    group = group_on(kafka)
    group.hold(kafka)
    kafka.assigned = {A}
    group.release()
    assert kafka.paused() == set()


async def test_after_a_rebalance_the_hold_resumes_nothing() -> None:
    kafka = Partitions(A, B)
    group = group_on(kafka)
    group.hold(kafka)
    await _CarryOver(group).on_partitions_revoked({A, B})  # the subscriber's listener
    kafka.pause(A)  # newly assigned, paused while the previous groups' offsets are read
    group.release()
    assert kafka.paused() == {A, B}


def test_a_hold_on_a_consumer_since_replaced_resumes_nothing_on_the_new_one() -> None:
    old, new = Partitions(A), Partitions(A)
    group = group_on(old)
    group.hold(old)
    group.subscriber = SimpleNamespace(consumer=new)
    new.pause(A)
    group.release()
    assert new.paused() == {A}


class Buffered(Partitions):
    """A consumer whose buffer holds ``waiting`` records of partition A."""

    def __init__(self, waiting: int) -> None:
        super().__init__(A, B)
        self.waiting = waiting

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[int]]:
        taken = min(self.waiting, max_records)
        self.waiting -= taken
        return {A: list(range(taken))} if taken else {}


async def test_the_poll_holds_fetching_once_caught_up_not_while_behind() -> None:
    subscriber = SimpleNamespace(get_msg=lambda kafka: None, batch_timeout_ms=10, max_records=4)
    kafka = Buffered(waiting=6)
    group = group_on(kafka)
    assert _poll_without_sleep(subscriber, group)
    assert len(await subscriber.get_msg(kafka)) == 4  # a full batch: more are buffered
    assert kafka.paused() == set(), "behind: the buffered records are kept, prefetching goes on"
    assert len(await subscriber.get_msg(kafka)) == 2  # the rest: caught up
    assert kafka.paused() == {A, B}, "caught up: fetching held while the batch is handled"
    assert await subscriber.get_msg(kafka) == ()  # the next poll releases the hold first
    assert kafka.paused() == set()
