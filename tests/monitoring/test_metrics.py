"""The metrics store: counts, percentiles, sliding windows, per-second series, lock-free recording."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from maas_jupyter.monitoring.metrics import LATENCY_BOUNDS, MetricsStore, percentile_from_histogram

# Percentiles come from log buckets about 12% apart, interpolated inside the bucket.
BUCKET_TOLERANCE = 0.13


@pytest.fixture
def store(clock):
    s = MetricsStore(clock, retention_s=120, aggregate_every_s=None)
    yield s
    s.close()


def test_window_counts_requests_errors_and_failures(store, clock):
    rec = store.recorder("mnist", 1)
    for _ in range(10):
        rec.started()
        rec.finished(0.001, 200)
    rec.started()
    rec.finished(0.001, 400)
    rec.started()
    rec.finished(0.001, 400, model_failed=True)
    rec.started()
    rec.finished(0.001, 503)
    stats = store.window_stats("mnist", 1, 10)
    assert stats["requests"] == 13
    assert stats["errors"] == 3
    assert stats["server_errors"] == 1
    assert stats["model_failures"] == 1
    assert stats["error_rate"] == pytest.approx(3 / 13)
    assert stats["failure_rate"] == pytest.approx(2 / 13)  # the 400 for bad input is not the model's fault
    assert stats["throughput"] == pytest.approx(13 / 10)
    assert rec.totals.by_code == {"200": 10, "400": 2, "503": 1}


def test_percentiles_match_the_data_within_a_bucket(store):
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(mean=np.log(0.004), sigma=0.8, size=5000)
    rec = store.recorder("e", 1)
    for value in latencies:
        rec.finished(float(value))
    stats = store.window_stats("e", 1, 10)
    for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
        exact = np.percentile(latencies, q) * 1000
        assert stats[key] == pytest.approx(exact, rel=BUCKET_TOLERANCE)


def test_percentile_of_one_bucket_interpolates_inside_it():
    counts = np.zeros(len(LATENCY_BOUNDS) + 1)
    i = int(np.searchsorted(LATENCY_BOUNDS, 0.010))  # the bucket (0.009, 0.010]
    counts[i] = 100
    assert percentile_from_histogram(counts, 0.5) == pytest.approx(0.0095)
    assert percentile_from_histogram(np.zeros_like(counts), 0.5) is None


def test_sliding_window_forgets_old_seconds(store, clock):
    rec = store.recorder("e", 1)
    for _ in range(5):
        rec.finished(0.002)
    clock.advance(30)
    for _ in range(7):
        rec.finished(0.002)
    assert store.window_stats("e", 1, 10)["requests"] == 7
    assert store.window_stats("e", 1, 60)["requests"] == 12
    clock.advance(200)  # beyond the store's retention: nothing left in any window
    assert store.window_stats("e", 1, 120)["requests"] == 0


def test_series_has_a_point_per_second_per_version(store, clock):
    first = store.recorder("e", 1)
    second = store.recorder("e", 2)
    start = int(clock.now)
    for count in (5, 0, 7):
        for _ in range(count):
            first.finished(0.001)
        clock.advance(1)
    second.finished(0.050, 500)
    clock.advance(0.5)
    series = store.series("e", 4)
    assert series["window_s"] == 4
    points = series["versions"]["1"]["points"]
    assert points["t"] == [start, start + 1, start + 2, start + 3]
    assert points["requests"] == [5, 0, 7, 0]
    assert points["p50_ms"][1] is None and points["p50_ms"][0] == pytest.approx(1.0, rel=BUCKET_TOLERANCE)
    canary = series["versions"]["2"]
    assert canary["points"]["errors"] == [0, 0, 0, 1]
    assert canary["summary"]["failure_rate"] == 1.0
    assert canary["summary"]["p99_ms"] == pytest.approx(50, rel=BUCKET_TOLERANCE)


def test_series_leaves_out_versions_without_traffic_in_the_window(store, clock):
    store.recorder("e", 1).finished(0.001)
    clock.advance(100)
    store.recorder("e", 2).finished(0.001)
    assert list(store.series("e", 10)["versions"]) == ["2"]


def test_batches_queue_time_and_in_flight(store):
    rec = store.recorder("e", 3)
    rec.ran(8, 0.004)
    rec.ran(24, 0.006)
    rec.queued(0.001)
    rec.queued(0.003)
    for _ in range(3):
        rec.started()
    rec.finished(0.01)
    stats = store.window_stats("e", 3, 5)
    assert stats["mean_batch_size"] == 16
    assert stats["ort_ms"] == pytest.approx(5.0)
    assert stats["queue_ms"] == pytest.approx(2.0)
    assert stats["in_flight"] == 2
    assert rec.totals.rows == 32


def test_concurrent_recording_loses_no_event(clock):
    store = MetricsStore(clock, aggregate_every_s=0.01)  # the aggregator drains while threads append
    recorder = store.recorder("e", 1)
    threads_n, each = 4, 20_000

    def hammer():
        for _ in range(each):
            recorder.started()
            recorder.finished(0.001)

    threads = [threading.Thread(target=hammer) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = store.window_stats("e", 1, 10)
    store.close()
    assert stats["requests"] == threads_n * each
    assert stats["in_flight"] == 0


def test_memory_stays_flat_however_long_it_records(clock):
    store = MetricsStore(clock, retention_s=30, aggregate_every_s=None)
    rec = store.recorder("e", 1)
    sizes = []
    for _ in range(3):
        for _ in range(100):  # 100 seconds of traffic
            rec.finished(0.001)
            clock.advance(1)
        store.aggregate()
        sizes.append(rec.ring.latency.nbytes + len(rec._finishes))
    assert sizes[0] == sizes[1] == sizes[2]
    # The clock stands one second past the last request: 29 of the window's 30 seconds had one each.
    assert store.window_stats("e", 1, 30)["requests"] == 29


def test_idle_recorders_are_forgotten(clock):
    store = MetricsStore(clock, retention_s=30, aggregate_every_s=None)
    old = store.recorder("gone", 1)
    old.finished(0.001)
    clock.advance(31)
    store.aggregate()
    assert store.endpoints() == [] and old.retired  # whoever still holds it knows to ask again
