"""The in-process event bus: fan-out to thread and asyncio readers, publishers never blocked."""

from __future__ import annotations

import asyncio
import threading

import pytest

from maas_jupyter.events import EventBus

pytestmark = pytest.mark.any_events  # the bus is a transport: these tests feed it whatever dicts they like


def test_every_subscriber_gets_every_event_in_order_with_a_sequence():
    bus = EventBus()
    first, second = bus.subscribe(), bus.subscribe()
    for i in range(3):
        bus.publish({"type": "x", "i": i})
    for subscription in (first, second):
        events = subscription.drain()
        assert [e["i"] for e in events] == [0, 1, 2]
        assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_a_filter_keeps_only_accepted_events():
    bus = EventBus()
    jobs = bus.subscribe(accept=lambda e: e["type"].startswith("job."))
    bus.publish({"type": "deployment.swap"})
    bus.publish({"type": "job.state", "state": "RUNNING"})
    assert [e["type"] for e in jobs.drain()] == ["job.state"]


def test_a_reader_that_never_reads_does_not_block_the_publisher():
    bus = EventBus()
    stalled = bus.subscribe(buffer=10)
    for i in range(1000):
        bus.publish({"i": i})  # would hang here if a full buffer blocked publishing
    kept = stalled.drain()
    assert [e["i"] for e in kept] == list(range(990, 1000))
    assert stalled.dropped == 990


def test_a_thread_waits_for_the_next_event():
    bus = EventBus()
    subscription = bus.subscribe()
    threading.Timer(0.05, bus.publish, args=({"type": "late"},)).start()
    assert subscription.get(timeout=30)["type"] == "late"
    assert subscription.get(timeout=0) is None


def test_asyncio_reader_receives_events_published_from_another_thread():
    bus = EventBus()

    async def read_three():
        subscription = bus.subscribe()
        publisher = threading.Thread(target=lambda: [bus.publish({"i": i}) for i in range(3)])
        publisher.start()
        got = []
        async for event in subscription:
            got.append(event["i"])
            if len(got) == 3:
                break
        publisher.join()
        subscription.close()
        return got

    assert asyncio.run(asyncio.wait_for(read_three(), 30)) == [0, 1, 2]
    assert bus.subscriber_count == 0


def test_closing_ends_an_async_iteration():
    bus = EventBus()

    async def read_until_closed():
        subscription = bus.subscribe()
        asyncio.get_running_loop().call_later(0.05, subscription.close)
        return [event async for event in subscription]

    assert asyncio.run(asyncio.wait_for(read_until_closed(), 30)) == []


def test_an_event_file_is_read_incrementally_and_waits_for_whole_lines(tmp_path):
    from maas_jupyter.training.event_file import EventFileTail

    path = tmp_path / "events.jsonl"
    tail = EventFileTail(path)
    assert tail.refresh() == []  # no file yet
    with open(path, "w") as handle:
        handle.write('{"i": 1}\n{"i": 2}\n{"i": ')  # the worker is halfway through the third line
        handle.flush()
        assert [e["i"] for e in tail.refresh()] == [1, 2]
        handle.write('3}\nnot json\n{"i": 4}\n')
    assert [e["i"] for e in tail.refresh()] == [1, 2, 3, 4]  # a torn line is skipped, not fatal
    assert [e["i"] for e in tail.refresh()] == [1, 2, 3, 4]
