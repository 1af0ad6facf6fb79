"""A small in-process publish/subscribe bus for live events (job metrics, job states, deployments, registry).

Publishers are plain threads (job monitors, the trainer, the registry watcher); subscribers are either
threads (`Subscription.get`) or asyncio code such as a WebSocket handler (`async for event in subscription`).
A publisher never waits for a subscriber: each subscription holds a bounded buffer and drops its
oldest events when a slow reader falls behind, so a stalled browser tab cannot stall a job.

Every event is a dict with a "type"; `publish` adds "seq" and "at". The types a server publishes (and
streams at maas/api/events), and each one's fields, are defined once in `events.schema.json` (see
maas_jupyter.event_schema): job.state and job.training (training.jobs), deployment.<change>, .loading and
.load_failed (serving.deployments), deployment.canary_rollback (monitoring.slo), registry.changed
(registry.changes). The bus itself carries any dict.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .event_types import MaasEvent

DEFAULT_BUFFER = 10_000


class Subscription:
    """One reader's view of the bus: a bounded buffer usable from threads and from asyncio."""

    def __init__(self, bus: EventBus, accept: Callable[[dict], bool] | None, buffer: int):
        self._bus = bus
        self._accept = accept
        self._events: collections.deque[dict] = collections.deque(maxlen=buffer)
        self._condition = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.dropped = 0
        self.closed = False

    def _offer(self, event: dict) -> None:
        if self._accept is not None and not self._accept(event):
            return
        with self._condition:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append(event)
            self._condition.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, flag in waiters:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:  # that loop is closed: its reader is gone
                pass

    def get(self, timeout: float | None = None) -> dict | None:
        """The next event, waiting up to `timeout` seconds; None on timeout or when closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._events and not self.closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
            return self._events.popleft() if self._events else None

    def drain(self) -> list[dict]:
        """Every buffered event, without waiting."""
        with self._condition:
            events = list(self._events)
            self._events.clear()
            return events

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict:
        while True:
            with self._condition:
                if self._events:
                    return self._events.popleft()
                if self.closed:
                    raise StopAsyncIteration
                flag = asyncio.Event()
                self._waiters.append((asyncio.get_running_loop(), flag))
            await flag.wait()

    def close(self) -> None:
        """Stop receiving; wakes any reader waiting on this subscription."""
        self._bus._remove(self)
        with self._condition:
            self.closed = True
            self._condition.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, flag in waiters:
            try:
                loop.call_soon_threadsafe(flag.set)
            except RuntimeError:
                pass

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventBus:
    """Fan-out of event dicts to every current subscriber; thread-safe, never blocks publishers."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._sequence = itertools.count(1)

    def publish(self, event: MaasEvent) -> dict:
        """Stamp the event with a sequence number and time, and hand it to every subscriber."""
        stamped = {**event, "seq": next(self._sequence), "at": time.time()}
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription._offer(stamped)
        return stamped

    def subscribe(self, accept: Callable[[dict], bool] | None = None, buffer: int = DEFAULT_BUFFER) -> Subscription:
        """A new subscription receiving events published from now on (optionally only those `accept`ed)."""
        subscription = Subscription(self, accept, buffer)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)
