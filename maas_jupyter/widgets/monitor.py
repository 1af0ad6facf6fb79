"""The live monitoring dashboard (%maas monitor): ipywidgets + bqplot, refreshed about once a second.

A view asks its `fetch` function for the current metrics (the metrics API's JSON, from the serving
process or in-process) and replaces what it shows; nothing accumulates, so memory stays flat however
long it runs. When the endpoint disappears (NotFound) the view stops and says so. Refreshing happens in
a daemon thread; ipykernel sends widget updates from any thread.
"""

from __future__ import annotations

import base64
import html
import io
import threading
import time
from typing import Callable

import numpy as np

from ..errors import MaasError, NotFound

DEFAULT_INTERVAL_S = 1.0
MAX_FAILURES = 30  # consecutive failed fetches (server restarting...) before the view gives up
ROLE_ORDER = {"primary": 0, "canary": 1, "previous": 2, "retired": 3}
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"]
ROWS = [("throughput", "throughput (req/s)", "{:.1f}"), ("p50_ms", "p50 (ms)", "{:.2f}"),
        ("p95_ms", "p95 (ms)", "{:.2f}"), ("p99_ms", "p99 (ms)", "{:.2f}"), ("error_rate", "error rate", "{:.1%}"),
        ("mean_batch_size", "batch size", "{:.1f}"), ("queue_ms", "queue (ms)", "{:.2f}"),
        ("ort_ms", "ONNX Runtime (ms)", "{:.2f}"), ("in_flight", "in flight", "{:d}"),
        ("requests", "requests in window", "{:d}")]


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
    """Versions side by side (columns) with their window summary (rows)."""
    versions = ordered_versions(series)
    if not versions:
        return f"<i>no requests in the last {series.get('window_s', '?')} s</i>"
    head = "".join(f"<th style='text-align:right;padding:0 12px'>v{html.escape(v)} ({html.escape(d.get('role', ''))})"
                   f"</th>" for v, d in versions)
    body = "".join(
        f"<tr><td>{label}</td>" + "".join(
            f"<td style='text-align:right;padding:0 12px'>{_fmt(d['summary'].get(key), pattern)}</td>"
            for _v, d in versions) + "</tr>"
        for key, label, pattern in ROWS)
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def summary_text(series: dict) -> str:
    """The same summary as plain text (terminals, nbconvert)."""
    lines = [f"{series.get('endpoint')}: last {series.get('window_s')} s"]
    for version, data in ordered_versions(series):
        s = data["summary"]
        lines.append(f"  v{version} {data.get('role', '')}: " + ", ".join(
            f"{label} {_fmt(s.get(key), pattern)}" for key, label, pattern in ROWS[:6]))
    return "\n".join(lines)


class LiveView:
    """Refresh loop shared by the dashboards: fetch, render, repeat until stopped or gone."""

    def __init__(self, fetch: Callable[[], object], interval_s: float = DEFAULT_INTERVAL_S,
                 max_seconds: float | None = None, clock: Callable[[], float] = time.monotonic):
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
        self.last = None  # the data shown last: what the snapshot left behind at the end is drawn from
        self._display = None

    def render(self, data) -> None:
        raise NotImplementedError

    def snapshot_html(self) -> str:
        """What the view showed last, as HTML (a table, and a chart where there is one)."""
        raise NotImplementedError

    def show(self) -> "LiveView":
        """Display the view, keeping a handle so that, once it stops, the same output also carries a
        snapshot: saved notebooks, nbconvert and repository pages cannot render a widget."""
        from IPython.display import display

        self._display = display(self.mimebundle(), raw=True, display_id=True)
        return self

    def mimebundle(self) -> dict:
        bundle = {"application/vnd.jupyter.widget-view+json": {
            "version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
            "text/plain": f"{type(self).__name__} ({self.stopped_because or 'live'})"}
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

    def start(self) -> "LiveView":
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
        import bqplot
        import ipywidgets

        super().__init__(fetch, **options)
        self.endpoint = endpoint
        self.title = ipywidgets.HTML(f"<b>{html.escape(endpoint)}</b>")
        self.table = ipywidgets.HTML("")
        self.charts = {}
        figures = []
        for key, label in (("throughput", "requests/s"), ("p99_ms", "p99 latency (ms)")):
            x_scale, y_scale = bqplot.LinearScale(), bqplot.LinearScale(min=0)
            lines = bqplot.Lines(x=np.zeros(0), y=np.zeros((1, 0)), scales={"x": x_scale, "y": y_scale},
                                 colors=COLORS, display_legend=True)
            figure = bqplot.Figure(
                marks=[lines], title=label, animation_duration=0, legend_location="top-left",
                axes=[bqplot.Axis(scale=x_scale, label="seconds ago", tick_format="d"),
                      bqplot.Axis(scale=y_scale, orientation="vertical", tick_format=".3g")],
                fig_margin={"top": 30, "bottom": 40, "left": 55, "right": 10},
                layout=ipywidgets.Layout(width="48%", min_width="280px", height="240px"))
            self.charts[key] = lines
            figures.append(figure)
        self.widget = ipywidgets.VBox([
            ipywidgets.HBox([self.title, self.stop_button]), self.table, ipywidgets.HBox(figures), self.status])

    def render(self, series: dict) -> None:
        self.last = series
        serving = series.get("serving") or {}
        canary = serving.get("canary")
        self.title.value = (f"<b>{html.escape(self.endpoint)}</b> serving v{serving.get('version')}"
                            + (f", canary v{canary['version']} at {canary['weight']}%" if canary else "")
                            + f" — last {series.get('window_s')} s")
        self.table.value = summary_table_html(series)
        versions = ordered_versions(series)
        n = int(series.get("window_s", 60))
        x = np.arange(-n + 1, 1, dtype=float)
        for key, lines in self.charts.items():
            rows = []
            for _version, data in versions:
                values = data["points"].get(key, [])[-n:]
                rows.append(np.array([np.nan if v is None else v for v in values], dtype=float))
            with lines.hold_sync():
                lines.x = x
                lines.y = np.vstack(rows) if rows else np.zeros((1, n)) * np.nan
                lines.labels = [f"v{v} {d.get('role', '')}" for v, d in versions] or [""]
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
        image = (f"<img alt='throughput and p99 latency' src='data:image/png;base64,{base64.b64encode(chart).decode()}'>"
                 if chart else "")
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
    for ax, (key, label) in zip(figure.subplots(1, 2), (("throughput", "requests/s"), ("p99_ms", "p99 latency (ms)"))):
        for (version, data), color in zip(versions, COLORS):
            values = [np.nan if v is None else v for v in data["points"].get(key, [])[-n:]]
            ax.plot(np.arange(-len(values) + 1, 1), values, color=color, label=f"v{version} {data.get('role', '')}")
        ax.set_title(label, fontsize="small")
        ax.set_xlabel("seconds ago")
        ax.legend(loc="upper left", fontsize="x-small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class OverviewTable(LiveView):
    """Every endpoint and version in one compact table (%maas monitor without an endpoint)."""

    COLUMNS = [("endpoint", "endpoint", "{}"), ("version", "version", "{}"), ("role", "role", "{}"),
               ("state", "state", "{}")] + ROWS[:6]

    def __init__(self, fetch: Callable[[], list[dict]], **options):
        import ipywidgets

        super().__init__(fetch, **options)
        self.table = ipywidgets.HTML("")
        self.widget = ipywidgets.VBox([ipywidgets.HBox([ipywidgets.HTML("<b>maas endpoints</b>"), self.stop_button]),
                                       self.table, self.status])

    def render(self, rows: list[dict]) -> None:
        self.last = rows
        if not rows:
            self.table.value = "<i>no endpoints</i>"
        else:
            head = "".join(f"<th style='padding:0 10px'>{label}</th>" for _k, label, _p in self.COLUMNS)
            body = "".join("<tr>" + "".join(f"<td style='text-align:right;padding:0 10px'>"
                                            f"{html.escape(_fmt(row.get(key), pattern))}</td>"
                                            for key, _label, pattern in self.COLUMNS) + "</tr>" for row in rows)
            self.table.value = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        self.status.value = f"updated {time.strftime('%H:%M:%S')}"

    def snapshot_html(self) -> str:
        return f"<b>maas endpoints</b>{self.table.value}"
