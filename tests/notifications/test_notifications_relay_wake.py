"""A batch that created notifications wakes the outbox relay in the process, so its
``notification.delivered`` events (the live push) do not wait for the NOTIFY after the commit;
the relay's producer does not linger. The dispatcher is told of the batch's deliveries (it
wakes for them only when it cannot LISTEN: test_notifications_dispatcher_wake.py)."""

from __future__ import annotations

from types import SimpleNamespace

from suishin.notifications.domain import triggers
from suishin.notifications.handlers import event_handler


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def wake(self) -> None:
        self.calls += 1

    def deliveries_committed(self) -> None:  # the dispatcher's (it wakes only when polling)
        self.calls += 1


def test_a_changed_batch_wakes_the_dispatcher_and_the_relay() -> None:
    dispatcher, relay = Counter(), Counter()
    runtime = SimpleNamespace(dispatcher=dispatcher, relay=relay, pool=None)
    handler = event_handler(runtime, "notifications:test", triggers.from_indicator)  # type: ignore[arg-type]
    assert handler.wake is not None
    handler.wake()
    assert (dispatcher.calls, relay.calls) == (1, 1)


def test_no_relay_yet_still_wakes_the_dispatcher() -> None:
    dispatcher = Counter()
    runtime = SimpleNamespace(dispatcher=dispatcher, relay=None, pool=None)
    handler = event_handler(runtime, "notifications:test", triggers.from_indicator)  # type: ignore[arg-type]
    assert handler.wake is not None
    handler.wake()
    assert dispatcher.calls == 1
