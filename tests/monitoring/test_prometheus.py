"""Prometheus text of the metrics store, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from maas_jupyter.monitoring.metrics import MetricsStore
from maas_jupyter.monitoring.prometheus import prometheus_text


def _families(text: bytes) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def _value(family, sample_name: str, **labels) -> float:
    found = [
        s.value
        for s in family.samples
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (sample_name, labels, family.samples)
    return found[0]


def test_text_parses_back_with_labels_and_values(clock):
    store = MetricsStore(clock, aggregate_every_s=None)
    primary, canary = store.recorder("mnist", 1), store.recorder("mnist", 2)
    for latency in (0.0008, 0.003, 0.003, 0.2):
        primary.started()
        primary.finished(latency, 200)
    canary.started()
    canary.finished(0.01, 400, model_failed=True)
    canary.started()  # still in flight
    primary.ran(3, 0.002)
    primary.ran(1, 0.001)
    primary.queued(0.0005)
    families = _families(prometheus_text(store, lambda: [("mnist", "1", 0.31, True)]))

    requests = families["maas_requests"]
    assert requests.type == "counter"
    assert _value(requests, "maas_requests_total", endpoint="mnist", version="1", code="200") == 4
    assert _value(requests, "maas_requests_total", endpoint="mnist", version="2", code="400") == 1
    assert _value(families["maas_model_failures"], "maas_model_failures_total", endpoint="mnist", version="2") == 1

    latency = families["maas_request_latency_seconds"]
    assert latency.type == "histogram"
    assert _value(latency, "maas_request_latency_seconds_count", endpoint="mnist", version="1") == 4
    assert _value(latency, "maas_request_latency_seconds_sum", version="1") == pytest.approx(0.2068)
    assert _value(latency, "maas_request_latency_seconds_bucket", version="1", le="0.001") == 1
    assert _value(latency, "maas_request_latency_seconds_bucket", version="1", le="0.005") == 3
    assert _value(latency, "maas_request_latency_seconds_bucket", version="1", le="+Inf") == 4

    batch = families["maas_batch_size"]
    assert _value(batch, "maas_batch_size_count", version="1") == 2
    assert _value(batch, "maas_batch_size_sum", version="1") == 4
    assert _value(families["maas_queue_time_seconds"], "maas_queue_time_seconds_count", version="1") == 1
    assert _value(
        families["maas_inference_time_seconds"], "maas_inference_time_seconds_sum", version="1"
    ) == pytest.approx(0.003)
    assert _value(families["maas_in_flight_requests"], "maas_in_flight_requests", version="2") == 1
    assert _value(
        families["maas_throughput_requests_per_second"], "maas_throughput_requests_per_second", version="1"
    ) == pytest.approx(4 / 60)
    assert _value(families["maas_drift_psi"], "maas_drift_psi", endpoint="mnist", version="1") == pytest.approx(0.31)
    assert _value(families["maas_drift_flagged"], "maas_drift_flagged", version="1") == 1
    assert all(name.startswith("maas_") for name in families)
    store.close()


def test_empty_store_gives_valid_text(clock):
    store = MetricsStore(clock, aggregate_every_s=None)
    families = _families(prometheus_text(store))
    assert "maas_requests" in families and families["maas_requests"].samples == []
