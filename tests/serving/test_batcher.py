"""Dynamic batching: concurrent requests merge into fewer runs and each gets exactly its own result."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from helpers import onnx_models

from maas_jupyter.serving.batcher import Batcher
from maas_jupyter.serving.runtime import load_runtime


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown()


def _runtime(executor, max_batch_size, delay_ms):
    from maas_jupyter.registry.signature import parse_onnx, signature_of

    data = onnx_models.linear(2.0)
    return load_runtime(
        "linear",
        1,
        data,
        signature_of(parse_onnx(data)),
        executor=executor,
        intra_op_threads=1,
        max_batch_size=max_batch_size,
        max_queue_delay_ms=delay_ms,
        max_concurrent_runs=2,
    )


def test_concurrent_distinct_requests_each_get_their_single_request_result(executor):
    runtime = _runtime(executor, max_batch_size=16, delay_ms=1000.0)
    batch_rows = []
    original = runtime._run

    def counting_run(feed):
        batch_rows.append(next(iter(feed.values())).shape[0])
        return original(feed)

    runtime.batcher.run = counting_run
    rng = np.random.default_rng(0)
    # Requests of 1, 2 or 3 rows each, all distinct.
    feeds = [{"X": rng.normal(size=(1 + i % 3, 4)).astype(np.float32)} for i in range(64)]
    singles = [runtime.run_now(feed) for feed in feeds]

    async def main():
        return await asyncio.gather(*[runtime.infer(feed) for feed in feeds])

    results = asyncio.run(main())
    for got, want in zip(results, singles):
        np.testing.assert_array_equal(got["Y"], want["Y"])
        np.testing.assert_array_equal(got["label"], want["label"])
    assert sum(batch_rows) == sum(f["X"].shape[0] for f in feeds)
    assert len(batch_rows) < len(feeds), "requests were merged into fewer runs"
    assert max(batch_rows) <= 16


def test_batching_off_runs_each_request_alone(executor):
    runtime = _runtime(executor, max_batch_size=1, delay_ms=0.0)
    calls = []
    original = runtime._run
    runtime._run = lambda feed: calls.append(1) or original(feed)
    feeds = [{"X": np.full((1, 4), i, np.float32)} for i in range(10)]

    async def main():
        return await asyncio.gather(*[runtime.infer(feed) for feed in feeds])

    results = asyncio.run(main())
    assert len(calls) == 10
    for got, feed in zip(results, feeds):
        np.testing.assert_array_equal(got["Y"], runtime.run_now(feed)["Y"])


def test_a_failing_request_fails_alone_inside_a_batch(executor):
    lock = threading.Lock()

    def run(feed):
        with lock:
            x = feed["x"]
            if (x < 0).any():
                raise ValueError("negative input")
            return [x * 2]

    batcher = Batcher(run, executor, max_batch_size=8, max_queue_delay_ms=1000.0)
    feeds = [{"x": np.array([[float(i)]])} for i in range(7)] + [{"x": np.array([[-1.0]])}]

    async def main():
        return await asyncio.gather(*[batcher.submit(f, 1, ()) for f in feeds], return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[-1], ValueError)
    for i, got in enumerate(results[:-1]):
        np.testing.assert_array_equal(got[0], [[2.0 * i]])


def test_requests_with_different_trailing_shapes_are_not_merged(executor):
    shapes = []

    def run(feed):
        shapes.append(feed["x"].shape)
        return [feed["x"].sum(axis=1)]

    batcher = Batcher(run, executor, max_batch_size=8, max_queue_delay_ms=0.0)
    feeds = [{"x": np.ones((1, 2 + i % 2))} for i in range(6)]

    async def main():
        return await asyncio.gather(*[batcher.submit(f, 1, (f["x"].shape[1:],)) for f in feeds])

    results = asyncio.run(main())
    assert [float(r[0][0]) for r in results] == [2.0, 3.0] * 3
    assert {s[1] for s in shapes} == {2, 3}  # two groups, each run held one trailing shape
    assert sum(s[0] for s in shapes) == 6
