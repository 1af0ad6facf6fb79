"""The live dashboard: renders versions side by side, keeps a fixed amount of data, stops when the endpoint goes."""

from __future__ import annotations

import numpy as np

from maas_jupyter.errors import NotFound, Unavailable
from maas_jupyter.widgets.monitor import (
    MAX_FAILURES,
    MonitorDashboard,
    OverviewTable,
    current_rate,
    ended_points,
    summary_table_html,
    summary_text,
)


def _series(window=60, canary=True, requests=5):
    def version(role, p99):
        points = {
            "t": list(range(window)),
            "requests": [requests] * window,
            "errors": [0] * window,
            "throughput": [float(requests)] * window,
            "p50_ms": [1.0] * window,
            "p95_ms": [2.0] * window,
            "p99_ms": [p99] * window,
            "mean_batch_size": [1.0] * window,
            "queue_ms": [0.1] * window,
            "ort_ms": [0.2] * window,
        }
        summary = {
            "throughput": float(requests),
            "p50_ms": 1.0,
            "p95_ms": 2.0,
            "p99_ms": p99,
            "error_rate": 0.0,
            "mean_batch_size": 1.0,
            "queue_ms": 0.1,
            "ort_ms": 0.2,
            "in_flight": 0,
            "requests": requests * window,
        }
        return {"role": role, "points": points, "summary": summary}

    versions = {"1": version("primary", 3.0)}
    if canary:
        versions["2"] = version("canary", 9.5)
    return {
        "endpoint": "mnist",
        "window_s": window,
        "versions": versions,
        "serving": {"version": 1, "canary": {"version": 2, "weight": 10} if canary else None, "state": "ready"},
    }


def test_dashboard_shows_primary_and_canary_side_by_side():
    dashboard = MonitorDashboard("mnist", lambda: _series())
    assert dashboard.refresh()
    assert "canary v2 at 10%" in dashboard.title.value
    table = dashboard.table.value
    assert table.index("v1 (primary)") < table.index("v2 (canary)") and "9.50" in table
    chart = dashboard.charts["p99_ms"]
    assert [len(mark.y) for mark in chart.marks] == [59, 59]  # the seconds that ended, per version
    assert list(chart.marks[1].y[-2:]) == [9.5, 9.5]
    assert " v1 primary<" in chart.caption.value and " v2 canary<" in chart.caption.value  # the legend
    assert "v2 canary" in summary_text(_series())


def test_memory_stays_flat_over_many_refreshes():
    dashboard = MonitorDashboard("mnist", lambda: _series(window=30))
    shapes = set()
    for _ in range(500):
        dashboard.refresh()
        marks = dashboard.charts["throughput"].marks
        shapes.add((len(marks), tuple(len(mark.y) for mark in marks), len(dashboard.table.value) // 100))
    assert shapes == {(2, (29, 29), len(dashboard.table.value) // 100)}
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
    rows = [
        {"endpoint": "a", "version": 1, "role": "primary", "state": "ready", "throughput": 3.0, "p99_ms": 1.5},
        {"endpoint": "b", "version": 4, "role": "canary", "state": "ready", "throughput": None},
    ]
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
    assert all(len(mark.x) == 0 for chart in dashboard.charts.values() for mark in chart.marks)


def test_dashboard_says_when_the_guard_rolled_the_canary_back():
    rolled = {
        **_series(canary=False),
        "rollbacks": [
            {
                "endpoint": "mnist",
                "canary_version": 2,
                "at": 1_000_000.0,
                "reason": "canary version 2 broke its bounds: failure rate 40.0% over 25 requests is above the bound 5.0%",
            }
        ],
    }
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


# ---- what the dashboard shows: the current rate, labelled windows, clean data for bqplot --------------------


def _ramp(window=60):
    """One version that has served for 20 s: 10 requests a second, the second in progress has 3 so far;
    its window average is therefore 200 / 60 (3.3), while the chart reads 10."""
    series = _series(window=window, canary=False)
    points = series["versions"]["1"]["points"]
    points["throughput"] = [0.0] * (window - 21) + [10.0] * 20 + [3.0]
    points["p99_ms"] = [None] * (window - 21) + [2.0] * 19 + [None, None]  # no latency where no request ended
    series["versions"]["1"]["summary"]["throughput"] = 200 / window
    return series


def test_the_current_rate_is_the_rate_the_chart_ends_on_and_the_window_average_says_so():
    series = _ramp()
    data = series["versions"]["1"]
    assert current_rate(data, 60) == 10.0  # the last second that ended, not the partial one (3)
    seconds, rates = ended_points(data, "throughput", 60)
    assert rates[-1] == current_rate(data, 60) and seconds[-1] == 0 and len(rates) == 59
    table = summary_table_html(series)
    assert "<td>throughput (req/s), now</td><td style='text-align:right;padding:0 12px'>10.0</td>" in table
    assert "<td>throughput (req/s), avg 60 s</td><td style='text-align:right;padding:0 12px'>3.3</td>" in table
    assert "<td>requests in 60 s</td>" in table
    assert "throughput (req/s), now 10.0; throughput (req/s), avg 60 s 3.3; p50" in summary_text(series)
    dashboard = MonitorDashboard("mnist", lambda: series)
    dashboard.refresh()
    assert dashboard.charts["throughput"].marks[0].y[-1] == 10.0


def test_no_value_sent_to_a_mark_is_none_or_nan(sent_to_marks):
    """A latency of None (a second without requests) at the end of a line was placed at
    "translate(437.5,undefined)" once a second; a version without any became the path "null"."""
    series = _ramp()
    series["versions"]["2"] = {
        "role": "canary",
        "points": {"throughput": [0.0] * 60, "p99_ms": [None] * 60},
        "summary": {"throughput": 0.0},
    }
    dashboard = MonitorDashboard("mnist", lambda: series)
    dashboard.refresh()
    series["versions"].pop("2")
    dashboard.refresh()  # a version gone: its line is emptied, not fed NaN
    assert sent_to_marks
    for name, value in sent_to_marks:
        array = np.frombuffer(value["value"], dtype=value["dtype"]).reshape(value["shape"])
        assert array.ndim == 1 and np.isfinite(array).all(), (name, array)
    p99 = dashboard.charts["p99_ms"]
    assert len(p99.marks[0].y) == 19 and len(p99.marks[1].y) == 0
    assert all(len(mark.x) == len(mark.y) for chart in dashboard.charts.values() for mark in chart.marks)


def test_charts_read_whole_seconds_ago_with_legends_outside():
    dashboard = MonitorDashboard("mnist", lambda: _series(window=30))
    dashboard.refresh()
    for chart in dashboard.charts.values():
        ticks = list(chart.x_axis.tick_values)
        assert ticks == [-25, -20, -15, -10, -5, 0]
        assert [chart.x_axis.tick_labels[str(int(t))] for t in ticks] == ["25", "20", "15", "10", "5", "0"]
        assert chart.y_scale.min == 0 and chart.y_scale.max > 0
        assert not chart.figure.display_toolbar and all(not mark.display_legend for mark in chart.marks)


def test_overview_labels_its_throughput_as_a_window_average():
    idle = {"endpoint": "a", "version": 1, "role": "primary", "state": "ready"}  # no summary, so no window
    busy = {"endpoint": "b", "version": 1, "role": "primary", "state": "ready", "throughput": 3.0, "window_s": 60}
    view = OverviewTable(lambda: [idle, busy])
    view.refresh()
    assert "throughput (req/s), avg 60 s" in view.table.value
    told = OverviewTable(lambda: [idle], window_s=30)
    told.refresh()
    assert "throughput (req/s), avg 30 s" in told.table.value
