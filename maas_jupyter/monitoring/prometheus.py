"""Prometheus text of the serving metrics: a prometheus_client Collector over the MetricsStore's totals.

Names are under `maas_`, labelled endpoint and version (requests also by code). Documented in README.md.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .metrics import BATCH_BOUNDS, LATENCY_BOUNDS, MetricsStore

# Exported latency buckets: 100 µs to 10 s at 1, 2.5, 5 per decade (exact sums of the store's buckets).
EXPORTED_BOUNDS = [
    b
    for b in LATENCY_BOUNDS
    if 1e-4 <= b <= 10.0 and any(abs(b / 10.0 ** np.floor(np.log10(b)) - m) < 1e-9 for m in (1.0, 2.5, 5.0))
]
THROUGHPUT_WINDOW_S = 60
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _cumulative(counts: np.ndarray, bounds: np.ndarray, exported: list[float]) -> list[tuple[str, float]]:
    """Prometheus buckets (cumulative counts at each exported bound, then +Inf) from the store's buckets."""
    cumulative = np.cumsum(counts)
    buckets = []
    for bound in exported:
        i = int(np.searchsorted(bounds, bound, side="left"))  # bucket i holds values <= bounds[i]
        buckets.append((repr(float(bound)), float(cumulative[i])))
    buckets.append(("+Inf", float(cumulative[-1])))
    return buckets


class MaasCollector:
    """Collects the maas_ families at scrape time; `drift` gives [(endpoint, version, psi, flagged)]."""

    def __init__(self, store: MetricsStore, drift: Callable[[], list[tuple[str, str, float, bool]]] | None = None):
        self.store = store
        self.drift = drift

    def collect(self):
        labels = ["endpoint", "version"]
        requests = CounterMetricFamily(
            "maas_requests", "Inference requests answered, by status code.", labels=labels + ["code"]
        )
        failures = CounterMetricFamily(
            "maas_model_failures", "Requests whose model run failed in ONNX Runtime.", labels=labels
        )
        latency = HistogramMetricFamily(
            "maas_request_latency_seconds", "Time from reaching the data plane to the answer.", labels=labels
        )
        queue = HistogramMetricFamily(
            "maas_queue_time_seconds",
            "Time a request waited for its model run to start (batching queue).",
            labels=labels,
        )
        ort = HistogramMetricFamily("maas_inference_time_seconds", "ONNX Runtime time per model run.", labels=labels)
        batch = HistogramMetricFamily("maas_batch_size", "Rows per model run.", labels=labels)
        in_flight = GaugeMetricFamily("maas_in_flight_requests", "Requests being served now.", labels=labels)
        throughput = GaugeMetricFamily(
            "maas_throughput_requests_per_second",
            f"Requests per second over the last {THROUGHPUT_WINDOW_S} s.",
            labels=labels,
        )
        for recorder in self.store.recorders():
            key = [recorder.endpoint, recorder.version]
            t = recorder.totals
            for code, count in sorted(t.by_code.items()):
                requests.add_metric(key + [code], count)
            failures.add_metric(key, t.model_failures)
            latency.add_metric(key, _cumulative(t.latency, LATENCY_BOUNDS, EXPORTED_BOUNDS), t.latency_sum)
            queue.add_metric(key, _cumulative(t.queue, LATENCY_BOUNDS, EXPORTED_BOUNDS), t.queue_sum)
            ort.add_metric(key, _cumulative(t.ort, LATENCY_BOUNDS, EXPORTED_BOUNDS), t.ort_sum)
            batch.add_metric(key, _cumulative(t.batch, BATCH_BOUNDS, list(BATCH_BOUNDS)), float(t.rows))
            in_flight.add_metric(key, recorder.in_flight)
            stats = self.store.window_stats(recorder.endpoint, recorder.version, THROUGHPUT_WINDOW_S)
            throughput.add_metric(key, stats["throughput"])
        yield from (requests, failures, latency, queue, ort, batch, in_flight, throughput)
        if self.drift is not None:
            psi = GaugeMetricFamily(
                "maas_drift_psi",
                "Population stability index of served inputs against the version's training inputs (overall).",
                labels=labels,
            )
            flagged = GaugeMetricFamily(
                "maas_drift_flagged", "1 when the drift PSI is over its threshold.", labels=labels
            )
            for endpoint, version, value, over in self.drift():
                psi.add_metric([endpoint, str(version)], value)
                flagged.add_metric([endpoint, str(version)], 1.0 if over else 0.0)
            yield psi
            yield flagged


def prometheus_text(store: MetricsStore, drift=None) -> bytes:
    """The Prometheus text exposition of every maas_ family."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MaasCollector(store, drift))
    return generate_latest(registry)
