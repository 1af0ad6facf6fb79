"""Dynamic batching: concurrent requests with compatible shapes merge into one model run, split back.

A group flushes when it holds max_batch_size rows or its oldest request has waited max_queue_delay_ms.
While every runner is busy, groups keep filling instead of queueing one run per request: under load
batches grow by themselves, at low load a request waits at most the configured delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Executor

import numpy as np

Feed = dict[str, np.ndarray]
RunFn = Callable[[Feed], list[np.ndarray]]


class _Group:
    __slots__ = ("items", "rows", "timer", "due", "started")

    def __init__(self):
        self.items: list[tuple[Feed, int, asyncio.Future]] = []
        self.rows = 0
        self.timer: asyncio.Handle | None = None  # call_later's TimerHandle, or call_soon's Handle
        self.due = False  # full or waited long enough, but every runner was busy
        self.started = 0.0  # perf_counter when its run began in the executor (monitoring: queue time)


class Batcher:
    """Merges concurrent `submit`s of one model session; must be used from one event loop."""

    def __init__(
        self,
        run: RunFn,
        executor: Executor,
        max_batch_size: int,
        max_queue_delay_ms: float,
        max_concurrent_runs: int = 2,
    ):
        self.run = run
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_queue_delay_ms = max_queue_delay_ms
        self.max_concurrent_runs = max(1, max_concurrent_runs)
        self._groups: dict[Hashable, _Group] = {}
        self._running = 0
        # Monitoring hook: called with each request's seconds between submit and its run starting.
        self.on_queue_time: Callable[[float], None] | None = None

    async def submit(self, feed: Feed, rows: int, key: Hashable) -> list[np.ndarray]:
        """Run `feed` (rows along axis 0) merged with requests of the same `key`; its own output rows."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        queued_at = time.perf_counter()
        group = self._groups.get(key)
        if group is not None and group.rows + rows > self.max_batch_size:
            self._flush(key, force=True)  # this request would overflow the batch: send what is there
            group = None
        if group is None:
            group = self._groups[key] = _Group()
        group.items.append((feed, rows, future))
        group.rows += rows
        if group.rows >= self.max_batch_size:
            self._flush(key)
        elif len(group.items) == 1:
            delay = self.max_queue_delay_ms / 1000.0
            group.timer = loop.call_later(delay, self._flush, key) if delay > 0 else loop.call_soon(self._flush, key)
        outputs = await future
        if self.on_queue_time is not None:
            self.on_queue_time(group.started - queued_at)
        return outputs

    def _flush(self, key: Hashable, force: bool = False) -> None:
        group = self._groups.get(key)
        if group is None:
            return
        if self._running >= self.max_concurrent_runs and not force:
            group.due = True  # a finishing run picks it up, with whatever joined it meanwhile
            return
        del self._groups[key]
        if group.timer is not None:
            group.timer.cancel()
        self._running += 1
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self.executor, self._run_started, group)
        task.add_done_callback(lambda done: self._finished(done, group.items))

    def _run_started(self, group: _Group) -> list:
        group.started = time.perf_counter()
        return _run_group(self.run, group.items)

    def _finished(self, done: asyncio.Future, items) -> None:
        self._running -= 1
        try:
            results = done.result()
        except BaseException as exc:  # _run_group isolates per-request errors; this is a bug or shutdown
            results = [exc] * len(items)
        for (_feed, _rows, future), result in zip(items, results):
            if future.done():
                continue  # the client went away (cancelled)
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        for key, group in list(self._groups.items()):
            if group.due:
                self._flush(key)
                break


def _run_group(run: RunFn, items) -> list:
    """Runs in the executor: one merged run, split back; a failing batch retries its requests one by one
    so that one bad request fails alone."""
    if len(items) == 1:
        try:
            return [run(items[0][0])]
        except Exception as exc:
            return [exc]
    names = list(items[0][0])
    merged = {name: np.concatenate([feed[name] for feed, _rows, _fut in items]) for name in names}
    try:
        outputs = run(merged)
    except Exception:
        return _run_each(run, items)
    total = sum(rows for _feed, rows, _fut in items)
    if any(out.ndim == 0 or out.shape[0] != total for out in outputs):
        return _run_each(run, items)  # an output that is not per-row cannot be split
    results, start = [], 0
    for _feed, rows, _fut in items:
        results.append([out[start : start + rows] for out in outputs])
        start += rows
    return results


def _run_each(run: RunFn, items) -> list:
    results: list[list[np.ndarray] | Exception] = []
    for feed, _rows, _fut in items:
        try:
            results.append(run(feed))
        except Exception as exc:
            results.append(exc)
    return results
