"""The live dashboard: renders versions side by side, keeps a fixed amount of data, stops when the endpoint goes."""

from __future__ import annotations

import numpy as np

from maas_jupyter.errors import NotFound, Unavailable
from maas_jupyter.widgets.monitor import MAX_FAILURES, MonitorDashboard, OverviewTable, summary_text


def _series(window=60, canary=True, requests=5):
    def version(role, p99):
        points = {"t": list(range(window)), "requests": [requests] * window, "errors": [0] * window,
                  "throughput": [float(requests)] * window, "p50_ms": [1.0] * window, "p95_ms": [2.0] * window,
                  "p99_ms": [p99] * window, "mean_batch_size": [1.0] * window, "queue_ms": [0.1] * window,
                  "ort_ms": [0.2] * window}
        summary = {"throughput": float(requests), "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": p99, "error_rate": 0.0,
                   "mean_batch_size": 1.0, "queue_ms": 0.1, "ort_ms": 0.2, "in_flight": 0,
                   "requests": requests * window}
        return {"role": role, "points": points, "summary": summary}

    versions = {"1": version("primary", 3.0)}
    if canary:
        versions["2"] = version("canary", 9.5)
    return {"endpoint": "mnist", "window_s": window, "versions": versions,
            "serving": {"version": 1, "canary": {"version": 2, "weight": 10} if canary else None, "state": "ready"}}


def test_dashboard_shows_primary_and_canary_side_by_side():
    dashboard = MonitorDashboard("mnist", lambda: _series())
    assert dashboard.refresh()
    assert "canary v2 at 10%" in dashboard.title.value
    table = dashboard.table.value
    assert table.index("v1 (primary)") < table.index("v2 (canary)") and "9.50" in table
    lines = dashboard.charts["p99_ms"]
    assert lines.y.shape == (2, 60) and list(lines.labels) == ["v1 primary", "v2 canary"]
    assert "v2 canary" in summary_text(_series())


def test_memory_stays_flat_over_many_refreshes():
    dashboard = MonitorDashboard("mnist", lambda: _series(window=30))
    shapes = set()
    for _ in range(500):
        dashboard.refresh()
        shapes.add((dashboard.charts["throughput"].y.shape, len(dashboard.table.value) // 100))
    assert shapes == {((2, 30), len(dashboard.table.value) // 100)}
    assert dashboard.refreshes == 500


def test_dashboard_stops_and_says_so_when_the_endpoint_disappears():
    calls = {"n": 0}

    def fetch():
        calls["n"] += 1
        if calls["n"] >= 3:
            raise NotFound("no endpoint named 'mnist'")
        return _series()

    dashboard = MonitorDashboard("mnist", fetch, interval_s=0.01)
    dashboard.start()
    dashboard.join(timeout=30)
    assert not dashboard._thread.is_alive()
    assert dashboard.stopped_because == "no endpoint named 'mnist'; monitoring stopped"
    assert "monitoring stopped" in dashboard.status.value
    assert dashboard.stop_button.disabled and calls["n"] == 3
    assert not dashboard.refresh()  # a stopped view never fetches again
    assert calls["n"] == 3


def test_dashboard_survives_a_few_failed_fetches_then_gives_up():
    def fetch():
        raise Unavailable("the serving process is restarting")

    dashboard = MonitorDashboard("mnist", fetch)
    for _ in range(MAX_FAILURES - 1):
        assert dashboard.refresh()
    assert "restarting" in dashboard.status.value
    assert not dashboard.refresh() and "monitoring stopped" in dashboard.status.value


def test_stop_button_and_time_limit():
    dashboard = MonitorDashboard("mnist", lambda: _series(), interval_s=0.01, max_seconds=0.05)
    dashboard.start()
    dashboard.join(timeout=30)
    assert "stopped after" in dashboard.status.value
    other = MonitorDashboard("mnist", lambda: _series())
    other.stop_button.click()
    assert not other.refresh() and other.stopped_because == "stopped"


def test_overview_table_lists_every_endpoint():
    rows = [{"endpoint": "a", "version": 1, "role": "primary", "state": "ready", "throughput": 3.0, "p99_ms": 1.5},
            {"endpoint": "b", "version": 4, "role": "canary", "state": "ready", "throughput": None}]
    view = OverviewTable(lambda: rows)
    assert view.refresh()
    assert view.table.value.count("<tr>") == 3 and "canary" in view.table.value
    empty = OverviewTable(lambda: [])
    empty.refresh()
    assert "no endpoints" in empty.table.value


def test_empty_series_says_no_requests():
    dashboard = MonitorDashboard("mnist", lambda: {**_series(), "versions": {}})
    dashboard.refresh()
    assert "no requests" in dashboard.table.value
    assert np.isnan(dashboard.charts["throughput"].y).all()


def test_dashboard_says_when_the_guard_rolled_the_canary_back():
    rolled = {**_series(canary=False), "rollbacks": [
        {"endpoint": "mnist", "canary_version": 2, "at": 1_000_000.0,
         "reason": "canary version 2 broke its bounds: failure rate 40.0% over 25 requests is above the bound 5.0%"}]}
    dashboard = MonitorDashboard("mnist", lambda: rolled)
    dashboard.refresh()
    assert "automatic rollback" in dashboard.status.value and "failure rate 40.0%" in dashboard.status.value
    assert "canary" not in dashboard.title.value


class _Handle:
    """Stands in for IPython's DisplayHandle: records the bundles the view leaves in its output."""

    def __init__(self):
        self.bundles = []

    def update(self, bundle, raw=False):
        self.bundles.append(bundle)


def test_a_stopped_view_leaves_a_snapshot_for_renderers_without_widgets():
    dashboard = MonitorDashboard("mnist", lambda: _series(), interval_s=0.01, max_seconds=0.05)
    assert "text/html" not in dashboard.mimebundle(), "while live, the widget is the whole output"
    dashboard._display = _Handle()
    dashboard.start()
    dashboard.join(timeout=30)
    snapshot = dashboard._display.bundles[-1]
    assert "application/vnd.jupyter.widget-view+json" in snapshot
    assert "v2 (canary)" in snapshot["text/html"] and "data:image/png;base64," in snapshot["text/html"]
    assert "stopped after" in snapshot["text/html"]

    overview = OverviewTable(lambda: [{"endpoint": "a", "version": 1, "role": "primary", "state": "ready"}])
    overview._display = _Handle()
    overview.refresh()
    overview.stop("replaced by a newer view")
    html = overview._display.bundles[-1]["text/html"]
    assert "<td style='text-align:right;padding:0 10px'>a</td>" in html and "replaced by a newer view" in html


def test_a_view_stopped_before_its_first_refresh_leaves_no_empty_snapshot():
    view = MonitorDashboard("mnist", lambda: _series())
    view._display = _Handle()
    view.stop("stopped")
    assert "text/html" not in view._display.bundles[-1]
