"""The live monitoring dashboard (%maas monitor): ipywidgets + bqplot, refreshed about once a second.

A view asks its `fetch` function for the current metrics (the metrics API's JSON, from the serving
process or in-process) and replaces what it shows; nothing accumulates, so memory stays flat however
long it runs. When the endpoint disappears (NotFound) the view stops and says so. Refreshing happens in
a daemon thread; ipykernel sends widget updates from any thread.

The series' last point is the second in progress (a fraction of its requests so far), so the charts
and the "now" figures use the seconds that ended; the window's aggregates say which window they cover.
"""

from __future__ import annotations

import base64
import html
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import MaasError, NotFound
from .axes import finite_points, integer_ticks, value_extent
from .chart import Chart, Series

DEFAULT_INTERVAL_S = 1.0
MAX_FAILURES = 30  # consecutive failed fetches (server restarting...) before the view gives up
ROLE_ORDER = {"primary": 0, "canary": 1, "previous": 2, "retired": 3}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"]
# Window aggregates (the summary of a series, a row of the overview). "window" in a label is replaced by
# the window's length where it is known ("throughput (req/s), avg 60 s").
ROWS = [
    ("throughput", "throughput (req/s), window avg", "{:.1f}"),
    ("p50_ms", "p50 (ms)", "{:.2f}"),
    ("p95_ms", "p95 (ms)", "{:.2f}"),
    ("p99_ms", "p99 (ms)", "{:.2f}"),
    ("error_rate", "error rate", "{:.1%}"),
    ("mean_batch_size", "batch size", "{:.1f}"),
    ("queue_ms", "queue (ms)", "{:.2f}"),
    ("ort_ms", "ONNX Runtime (ms)", "{:.2f}"),
    ("in_flight", "in flight", "{:d}"),
    ("requests", "requests in window", "{:d}"),
]


CHARTS = [("throughput", "requests/s"), ("p99_ms", "p99 latency (ms)")]
NOW_LABEL = "throughput (req/s), now"


def window_label(label: str, window_s) -> str:
    """A row label with its window spelled out: "throughput (req/s), avg 60 s", "requests in 60 s"."""
    if window_s is None:
        return label
    window = f"{float(window_s):g} s"
    return label.replace("window avg", f"avg {window}").replace("in window", f"in {window}")


def ended_points(data: dict, key: str, window_s: int) -> tuple[np.ndarray, np.ndarray]:
    """(seconds ago, value) of one per-second metric over the seconds of the window that ended, finite
    values only; the second that ended last is at 0."""
    values = list(data.get("points", {}).get(key, []))[-int(window_s) :][:-1]  # without the second in progress
    return finite_points(np.arange(-len(values) + 1, 1, dtype=np.float64), values)


def current_rate(data: dict, window_s: int) -> float | None:
    """Requests in the last second that ended: the right end of the throughput chart."""
    _seconds, rates = ended_points(data, "throughput", window_s)
    return float(rates[-1]) if len(rates) else None


def _fmt(value, pattern: str) -> str:
    if value is None:
        return "–"
    try:
        return pattern.format(int(value) if pattern.endswith("d}") else value)
    except (ValueError, TypeError):
        return str(value)


def ordered_versions(series: dict) -> list[tuple[str, dict]]:
    """The series' versions, primary first, then canary, then others by number."""
    items = list(series.get("versions", {}).items())
    return sorted(items, key=lambda kv: (ROLE_ORDER.get(kv[1].get("role"), 9), int(kv[0]) if kv[0].isdigit() else 0))


def summary_table_html(series: dict) -> str:
    """Versions side by side (columns): the current rate, then the window's aggregates (rows)."""
    versions = ordered_versions(series)
    window = series.get("window_s", 60)
    if not versions:
        return f"<i>no requests in the last {window} s</i>"
    cell = "<td style='text-align:right;padding:0 12px'>{}</td>"
    head = "".join(
        f"<th style='text-align:right;padding:0 12px'>v{html.escape(v)} ({html.escape(d.get('role', ''))})</th>"
        for v, d in versions
    )
    now = (
        f"<tr><td>{NOW_LABEL}</td>"
        + "".join(cell.format(_fmt(current_rate(d, window), "{:.1f}")) for _v, d in versions)
        + "</tr>"
    )
    body = "".join(
        f"<tr><td>{html.escape(window_label(label, window))}</td>"
        + "".join(cell.format(_fmt(d["summary"].get(key), pattern)) for _v, d in versions)
        + "</tr>"
        for key, label, pattern in ROWS
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{now}{body}</tbody></table>"


def summary_text(series: dict) -> str:
    """The same summary as plain text (terminals, nbconvert)."""
    window = series.get("window_s")
    lines = [f"{series.get('endpoint')}: last {window} s"]
    for version, data in ordered_versions(series):
        s = data["summary"]
        figures = [f"{NOW_LABEL} {_fmt(current_rate(data, window or 60), '{:.1f}')}"] + [
            f"{window_label(label, window)} {_fmt(s.get(key), pattern)}" for key, label, pattern in ROWS[:6]
        ]
        lines.append(f"  v{version} {data.get('role', '')}: " + "; ".join(figures))
    return "\n".join(lines)


class LiveView:
    """Refresh loop shared by the dashboards: fetch, render, repeat until stopped or gone."""

    def __init__(
        self,
        fetch: Callable[[], object],
        interval_s: float = DEFAULT_INTERVAL_S,
        max_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        import ipywidgets

        self.fetch = fetch
        self.interval_s = interval_s
        self.max_seconds = max_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self.refreshes = 0
        self.stopped_because: str | None = None
        self.status = ipywidgets.HTML("")
        self.stop_button = ipywidgets.Button(description="Stop", layout=ipywidgets.Layout(width="80px"))
        self.stop_button.on_click(lambda _button: self.stop("stopped"))
        self.last: Any = None  # the data shown last: what the snapshot left behind at the end is drawn from
        self._display = None
        self.widget: Any = None  # each view lays out its own ipywidgets box

    def render(self, data) -> None:
        raise NotImplementedError

    def snapshot_html(self) -> str:
        """What the view showed last, as HTML (a table, and a chart where there is one)."""
        raise NotImplementedError

    def show(self) -> LiveView:
        """Display the view, keeping a handle so that, once it stops, the same output also carries a
        snapshot: saved notebooks, nbconvert and repository pages cannot render a widget."""
        from IPython.display import display

        self._display = display(self.mimebundle(), raw=True, display_id=True)
        return self

    def mimebundle(self) -> dict:
        bundle = {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": f"{type(self).__name__} ({self.stopped_because or 'live'})",
        }
        if self.stopped_because is not None and self.last is not None:
            bundle["text/html"] = self.snapshot_html() + f"<p><i>{html.escape(self.stopped_because)}</i></p>"
        return bundle

    def refresh(self) -> bool:
        """Fetch and show once; False when the view has stopped (endpoint gone, too many failures)."""
        if self._stop.is_set():
            return False
        try:
            data = self.fetch()
        except NotFound as exc:
            self.stop(f"{exc.message}; monitoring stopped")
            return False
        except MaasError as exc:
            self._failures += 1
            self.status.value = f"<span style='color:#b00'>{html.escape(exc.message)}</span>"
            if self._failures >= MAX_FAILURES:
                self.stop(f"{exc.message}; monitoring stopped after {MAX_FAILURES} failed refreshes")
                return False
            return True
        self._failures = 0
        self.render(data)
        self.refreshes += 1
        return True

    def start(self) -> LiveView:
        """Refresh every interval in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="maas-monitor", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        started = self._clock()
        while self.refresh():
            if self.max_seconds is not None and self._clock() - started >= self.max_seconds:
                self.stop(f"stopped after {self.max_seconds:g} s")
                return
            if self._stop.wait(self.interval_s):
                return

    def stop(self, reason: str = "stopped") -> None:
        """Stop refreshing and say why in the view."""
        if self.stopped_because is None:
            self.stopped_because = reason
        self._stop.set()
        self.status.value = f"<b>{html.escape(self.stopped_because)}</b>"
        self.stop_button.disabled = True
        if self._display is not None:
            try:
                self._display.update(self.mimebundle(), raw=True)
            except Exception:  # the kernel is shutting down: nothing to leave behind
                pass

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class MonitorDashboard(LiveView):
    """One endpoint: a summary table per version side by side, and throughput / p99 lines over the window."""

    def __init__(self, endpoint: str, fetch: Callable[[], dict], **options):
        import ipywidgets

        super().__init__(fetch, **options)
        self.endpoint = endpoint
        self.title = ipywidgets.HTML(f"<b>{html.escape(endpoint)}</b>")
        self.table = ipywidgets.HTML("")
        self.table.add_class("maas-monitor-table")
        self.charts = {key: Chart(label, "seconds ago", [], width="50%") for key, label in CHARTS}
        self.widget = ipywidgets.VBox(
            [
                ipywidgets.HBox([self.title, self.stop_button]),
                self.table,
                ipywidgets.HBox(
                    [chart.widget for chart in self.charts.values()],
                    layout=ipywidgets.Layout(width="100%", flex_flow="row wrap"),
                ),
                self.status,
            ]
        )
        self._draw_axes(60)

    def _draw_axes(self, window_s: int) -> None:
        """The "seconds ago" axis of the seconds that ended in the window: 50, 40, ..., 0."""
        lo = -max(int(window_s) - 2, 1)
        ticks = integer_ticks(lo, 0)
        for chart in self.charts.values():
            chart.set_x(lo, 0, ticks, {str(t): str(-t) for t in ticks})

    def render(self, series: dict) -> None:
        self.last = series
        serving = series.get("serving") or {}
        canary = serving.get("canary")
        self.title.value = (
            f"<b>{html.escape(self.endpoint)}</b> serving v{serving.get('version')}"
            + (f", canary v{canary['version']} at {canary['weight']}%" if canary else "")
            + f" — last {series.get('window_s')} s"
        )
        self.table.value = summary_table_html(series)
        versions = ordered_versions(series)
        window = int(series.get("window_s", 60))
        self._draw_axes(window)
        legend = [
            Series(f"v{v} {d.get('role', '')}".strip(), COLORS[i % len(COLORS)]) for i, (v, d) in enumerate(versions)
        ]
        for key, chart in self.charts.items():
            chart.set_series(legend)
            points = [ended_points(data, key, window) for _version, data in versions]
            for i, (x, y) in enumerate(points):
                chart.set_points(i, x, y)
            chart.set_y(*value_extent([y for _x, y in points], floor=0.0))
        rollbacks = series.get("rollbacks") or []
        note = ""
        if rollbacks:
            last = rollbacks[-1]
            when = time.strftime("%H:%M:%S", time.localtime(last.get("at", 0)))
            note = f" — <span style='color:#b00'>automatic rollback at {when}: {html.escape(last['reason'])}</span>"
        self.status.value = f"updated {time.strftime('%H:%M:%S')}{note}"

    def snapshot_html(self) -> str:
        series = self.last
        chart = _charts_png(series)
        image = (
            f"<img alt='throughput and p99 latency' src='data:image/png;base64,{base64.b64encode(chart).decode()}'>"
            if chart
            else ""
        )
        return f"<div>{self.title.value}</div>{summary_table_html(series)}{image}"


def _charts_png(series: dict) -> bytes | None:
    """Throughput and p99 over the window, per version, as one PNG (the snapshot of a stopped dashboard)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    versions = ordered_versions(series)
    if not versions:
        return None
    n = int(series.get("window_s", 60))
    figure = Figure(figsize=(9, 2.6), dpi=80)
    figure.subplots_adjust(left=0.07, right=0.99, bottom=0.18, top=0.86, wspace=0.22)
    FigureCanvasAgg(figure)
    for ax, (key, label) in zip(figure.subplots(1, 2), CHARTS):
        for i, (version, data) in enumerate(versions):
            seconds, values = ended_points(data, key, n)
            ax.plot(-seconds, values, color=COLORS[i % len(COLORS)], label=f"v{version} {data.get('role', '')}")
        ax.invert_xaxis()
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("seconds ago")
        ax.legend(loc="upper left", fontsize="x-small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class OverviewTable(LiveView):
    """Every endpoint and version in one compact table (%maas monitor without an endpoint)."""

    COLUMNS = [
        ("endpoint", "endpoint", "{}"),
        ("version", "version", "{}"),
        ("role", "role", "{}"),
        ("state", "state", "{}"),
    ] + ROWS[:6]

    def __init__(self, fetch: Callable[[], list[dict]], window_s: float | None = None, **options):
        import ipywidgets

        super().__init__(fetch, **options)
        self.window_s = window_s  # the window the rows cover, for the headers; else read from the rows
        self.table = ipywidgets.HTML("")
        self.table.add_class("maas-monitor-table")
        self.widget = ipywidgets.VBox(
            [ipywidgets.HBox([ipywidgets.HTML("<b>maas endpoints</b>"), self.stop_button]), self.table, self.status]
        )

    def render(self, rows: list[dict]) -> None:
        self.last = rows
        if not rows:
            self.table.value = "<i>no endpoints</i>"
        else:
            # A version without requests may come without a summary (so without its window).
            window = self.window_s or next((row["window_s"] for row in rows if row.get("window_s")), None)
            head = "".join(
                f"<th style='padding:0 10px'>{html.escape(window_label(label, window))}</th>"
                for _k, label, _p in self.COLUMNS
            )
            body = "".join(
                "<tr>"
                + "".join(
                    f"<td style='text-align:right;padding:0 10px'>{html.escape(_fmt(row.get(key), pattern))}</td>"
                    for key, _label, pattern in self.COLUMNS
                )
                + "</tr>"
                for row in rows
            )
            self.table.value = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        self.status.value = f"updated {time.strftime('%H:%M:%S')}"

    def snapshot_html(self) -> str:
        return f"<b>maas endpoints</b>{self.table.value}"
