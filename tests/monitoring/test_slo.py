"""The SLO guard with a fake clock: a canary that fails or is slow is rolled back, a healthy one is not."""

from __future__ import annotations

import pytest

from maas_jupyter.errors import InvalidInput
from maas_jupyter.monitoring.metrics import MetricsStore
from maas_jupyter.monitoring.slo import ACTOR, EVENT_TYPE, CanaryBounds, SloGuard, judge


class FakeDeployments:
    """One endpoint 'e' serving version 1 with canary version 2 at 20%."""

    def __init__(self):
        self.state = {"name": "e", "model": "m", "version": 1, "canary": {"version": 2, "weight": 20}}
        self.cancelled = []

    def list(self):
        return [dict(self.state)]

    def get(self, name):
        return dict(self.state)

    def cancel_canary(self, name, *, actor=None, reason=""):
        self.cancelled.append((name, actor, reason))
        self.state["canary"] = None
        return dict(self.state)


@pytest.fixture
def setup(clock):
    store = MetricsStore(clock, aggregate_every_s=None)
    deployments = FakeDeployments()
    events = []
    bounds = {"e": CanaryBounds(max_failure_rate=0.05, max_p99_ratio=3.0, window_s=30, min_requests=20)}
    guard = SloGuard(store, deployments, lambda name: bounds[name], events.append, clock)
    assert guard.check_all() == []  # the guard sees the canary for the first time: its window starts now
    clock.advance(1)
    yield store, deployments, events, guard, bounds, clock
    store.close()


def _traffic(store, version, n, latency, failures=0):
    recorder = store.recorder("e", version)
    for i in range(n):
        failed = i < failures
        recorder.finished(latency, 400 if failed else 200, model_failed=failed)


def test_failing_canary_is_rolled_back_recorded_and_published(setup):
    store, deployments, events, guard, _bounds, clock = setup
    _traffic(store, 1, 100, 0.001)
    _traffic(store, 2, 25, 0.001, failures=5)
    clock.advance(1)
    done = guard.check_all()
    assert len(done) == 1 and deployments.state["canary"] is None
    name, actor, reason = deployments.cancelled[0]
    assert (name, actor) == ("e", ACTOR) and "failure rate 20.0%" in reason
    assert events[0]["type"] == EVENT_TYPE and events[0]["canary_version"] == 2
    assert events[0]["canary"]["requests"] == 25 and list(guard.rollbacks) == events


def test_slow_canary_is_rolled_back(setup):
    store, deployments, events, guard, _bounds, clock = setup
    _traffic(store, 1, 100, 0.001)
    _traffic(store, 2, 99, 0.020)  # 20 ms against 1 ms: 20x and 19 ms more...
    clock.advance(1)
    assert guard.check_all() == [], "...but a p99 of fewer than 100 requests is not judged"
    _traffic(store, 2, 1, 0.020)
    clock.advance(1)
    guard.check_all()
    assert deployments.cancelled and "p99 latency" in deployments.cancelled[0][2]


def test_healthy_canary_keeps_its_traffic(setup):
    store, deployments, events, guard, _bounds, clock = setup
    for _ in range(5):
        _traffic(store, 1, 50, 0.001)
        _traffic(store, 2, 12, 0.0012, failures=0)
        clock.advance(1)
        assert guard.check_all() == []
    assert deployments.state["canary"] is not None and events == []


def test_too_few_requests_are_not_judged(setup):
    store, deployments, _events, guard, _bounds, clock = setup
    _traffic(store, 2, 10, 0.5, failures=10)
    clock.advance(1)
    assert guard.check_all() == [] and deployments.cancelled == []


def test_data_from_before_the_canary_started_does_not_count(clock):
    store = MetricsStore(clock, aggregate_every_s=None)
    _traffic(store, 2, 50, 0.001, failures=50)  # an earlier canary of version 2, long gone
    clock.advance(5)
    deployments = FakeDeployments()
    guard = SloGuard(store, deployments, lambda name: CanaryBounds(min_requests=5), None, clock)
    guard.check_all()
    clock.advance(3)
    assert guard.check_all() == [] and deployments.cancelled == []


def test_the_same_canary_set_again_before_a_guard_pass_starts_a_fresh_window(setup):
    # A canary of version 2 fails, is removed and set again within one guard interval (the guard never saw
    # it gone): the new stint is judged on its own requests, not on the old ones still in the window.
    store, deployments, _events, guard, _bounds, clock = setup
    deployments.state["updated_at"] = "first stint"
    clock.advance(1)
    guard.check_all()  # the first stint is seen
    clock.advance(1)
    _traffic(store, 1, 100, 0.001)
    _traffic(store, 2, 50, 0.001, failures=50)
    deployments.state["updated_at"] = "second stint"  # rolled back and set again between two passes
    clock.advance(1)
    assert guard.check_all() == [] and deployments.cancelled == []
    clock.advance(1)
    _traffic(store, 1, 100, 0.001)
    _traffic(store, 2, 30, 0.001)
    clock.advance(1)
    assert guard.check_all() == [] and deployments.cancelled == []


def test_disabled_bounds_never_roll_back(setup):
    store, deployments, _events, guard, bounds, clock = setup
    bounds["e"] = CanaryBounds(enabled=False)
    _traffic(store, 2, 50, 0.001, failures=50)
    clock.advance(1)
    assert guard.check_all() == [] and deployments.cancelled == []


def test_a_canary_replaced_meanwhile_is_left_alone(setup):
    store, deployments, _events, guard, _bounds, clock = setup
    _traffic(store, 2, 50, 0.001, failures=50)
    clock.advance(1)
    deployments.state["canary"] = {"version": 3, "weight": 20}  # promoted/replaced after the list was read
    assert guard.check("e", 1, 2) is None and deployments.cancelled == []


def test_judge_and_bounds_validation():
    bounds = CanaryBounds(min_requests=1)
    quiet = {"requests": 0, "failure_rate": None, "p99_ms": None}
    assert judge(bounds, {"requests": 10, "failure_rate": 0.0, "p99_ms": 10.0}, quiet) is None  # no primary data
    assert CanaryBounds.from_dict({"max_failure_rate": 0.1}).max_failure_rate == 0.1
    for bad in ({"nope": 1}, {"window_s": 0}, {"enabled": "yes"}, {"min_requests": -1}, "x"):
        with pytest.raises(InvalidInput):
            CanaryBounds.from_dict(bad)


def test_bounds_are_stored_per_endpoint(platform):
    assert platform.monitor.canary_bounds("e") == CanaryBounds()
    stored = platform.monitor.set_canary_bounds("e", {"max_failure_rate": 0.2})
    assert stored["max_failure_rate"] == 0.2 and stored["window_s"] == CanaryBounds().window_s
    assert platform.monitor.canary_bounds("e").max_failure_rate == 0.2
    platform.monitor.set_canary_bounds("e", {"window_s": 10})
    assert platform.monitor.canary_bounds("e").max_failure_rate == 0.2  # merged, not replaced
    assert platform.monitor.set_canary_bounds("e", None) == CanaryBounds().to_dict()


def test_a_ratio_of_tiny_latencies_is_not_a_slow_canary():
    bounds = CanaryBounds(min_requests=1, max_p99_ratio=3.0, min_p99_excess_ms=5.0)
    primary = {"requests": 150, "failure_rate": 0.0, "p99_ms": 0.1}
    assert judge(bounds, {"requests": 150, "failure_rate": 0.0, "p99_ms": 0.9}, primary) is None  # 9x, but 0.8 ms
    assert "p99 latency" in judge(bounds, {"requests": 150, "failure_rate": 0.0, "p99_ms": 9.0}, primary)
    few = {"requests": 50, "failure_rate": 0.0, "p99_ms": 9.0}  # the slowest of 50 is no p99
    assert judge(bounds, few, primary) is None and judge(bounds, {**few, "failure_rate": 0.5}, primary)
