"""The live loss curve: an ipywidgets + bqplot view of one training run, fed by training events.

It is a training listener (`on_event`), so it works the same for a run in this kernel and for a
job followed from a stream of events (`follow`). Updates go out at most `max_updates_per_s`
times a second and only change the data of the line marks (bqplot redraws a mark, not the
figure). Sending is asynchronous in ipykernel (the IOPub thread does the socket work), so the
training loop never waits for a browser. When the run ends the same output also carries a PNG and
a text summary, which is what nbconvert, nbclient outputs and non-widget frontends show.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Callable, Iterable

import numpy as np

from .curve_state import CurveState
from .static_curve import render_png

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
DEFAULT_MAX_UPDATES_PER_S = 10.0
_COLORS = ["#1f77b4", "#ff7f0e"]


def _figure(title: str, x_label: str, lines_kwargs: dict):
    import bqplot
    import ipywidgets

    x_scale, y_scale = bqplot.LinearScale(), bqplot.LinearScale()
    lines = bqplot.Lines(x=np.zeros(0), y=np.zeros((len(lines_kwargs["colors"]), 0)),
                         scales={"x": x_scale, "y": y_scale}, **lines_kwargs)
    axes = [bqplot.Axis(scale=x_scale, label=x_label, tick_format="d"),
            bqplot.Axis(scale=y_scale, orientation="vertical", tick_format=".3g")]
    figure = bqplot.Figure(marks=[lines], axes=axes, title=title, animation_duration=0,
                           fig_margin={"top": 30, "bottom": 40, "left": 55, "right": 10},
                           legend_location="top-right",
                           layout=ipywidgets.Layout(width="33%", min_width="260px", height="260px"))
    return figure, lines


def _epoch_ticks(figure, epochs: np.ndarray) -> None:
    """Whole-number ticks on an epoch axis: with "d" formatting bqplot's own ticks (1, 1.5, 2...) would
    read 1, 1, 2; at most ten, spread over the epochs so far."""
    last = int(epochs[-1]) if len(epochs) else 1
    figure.axes[0].tick_values = np.unique(np.linspace(1, last, min(last, 10)).round().astype(int))


class LossCurveWidget:
    """Live curves of one run: smoothed batch loss, train/validation loss and metrics per epoch."""

    def __init__(self, title: str = "", max_updates_per_s: float = DEFAULT_MAX_UPDATES_PER_S,
                 clock: Callable[[], float] = time.monotonic, state: CurveState | None = None):
        import ipywidgets

        self.state = state or CurveState()
        self.title = title
        self._clock = clock
        self._interval = 1.0 / max_updates_per_s if max_updates_per_s > 0 else 0.0
        self._last_push = float("-inf")
        self._lock = threading.Lock()  # events may come from a follower thread and the kernel at once
        self.push_count = 0
        self._epochs_pushed = 0
        self._display = None
        self._finished = False
        self._png: bytes | None = None

        self.header = ipywidgets.HTML(value=self._header_html())
        self.progress = ipywidgets.IntProgress(value=0, min=0, max=1, layout=ipywidgets.Layout(width="100%"))
        self.batch_figure, self.batch_lines = _figure(
            "loss per batch", "step",
            {"colors": _COLORS[:1] * 2, "opacities": [0.3, 1.0], "labels": ["raw", "smoothed"],
             "stroke_width": 1.5})
        self.epoch_figure, self.epoch_lines = _figure(
            "loss per epoch", "epoch",
            {"colors": _COLORS, "labels": ["train", "validation"], "marker": "circle", "marker_size": 24,
             "display_legend": True})
        self.metric_figure = self.metric_lines = None
        self._metric_name = None
        self.charts = ipywidgets.HBox([self.batch_figure, self.epoch_figure])
        self.box = ipywidgets.VBox([self.header, self.progress, self.charts])

    # ---- events ----------------------------------------------------------------------------

    def on_event(self, event: dict) -> None:
        """Take one training event; pushes to the front end only when the throttle allows."""
        with self._lock:
            self.state.apply(event)
            kind = event.get("type")
            now = self._clock()
            if kind == "train_begin" or (kind != "train_end" and now - self._last_push >= self._interval):
                self._push(now)
        if kind == "train_end":
            self.finish()

    __call__ = on_event

    def follow(self, events: Iterable[dict], background: bool = True) -> threading.Thread | None:
        """Feed the widget from a stream of events (a job's), in a thread unless told otherwise."""
        def consume():
            for event in events:
                self.on_event(event)
            self.finish()

        if not background:
            consume()
            return None
        thread = threading.Thread(target=consume, name="maas-curve-follow", daemon=True)
        thread.start()
        return thread

    # ---- front end -------------------------------------------------------------------------

    def _push(self, now: float) -> None:
        self._last_push = now
        self.push_count += 1
        state = self.state
        steps, losses = state.batch_series()
        with self.batch_lines.hold_sync():
            self.batch_lines.x = steps
            self.batch_lines.y = losses
        if len(state.epoch_logs) != self._epochs_pushed:  # epoch curves change once an epoch, not per push
            self._epochs_pushed = len(state.epoch_logs)
            epochs, train_loss = state.epoch_series("loss")
            _, val_loss = state.epoch_series("val_loss")
            with self.epoch_lines.hold_sync():
                self.epoch_lines.x = epochs
                self.epoch_lines.y = np.vstack([train_loss, val_loss])
            _epoch_ticks(self.epoch_figure, epochs)
            metrics = state.metric_names()
            if metrics:
                self._show_metric(metrics[0])
        if state.total_steps:
            self.progress.max = state.total_steps
            self.progress.value = min(state.global_step, state.total_steps)
        self.progress.bar_style = {"finished": "success", "interrupted": "warning", "failed": "danger",
                                   "diverged": "danger"}.get(state.status, "")
        self.header.value = self._header_html()

    def _show_metric(self, name: str) -> None:
        if self.metric_figure is None:
            self._metric_name = name
            self.metric_figure, self.metric_lines = _figure(
                f"{name} per epoch", "epoch",
                {"colors": _COLORS, "labels": ["train", "validation"], "marker": "circle", "marker_size": 24,
                 "display_legend": True})
            self.charts.children = (*self.charts.children, self.metric_figure)
        epochs, train = self.state.epoch_series(self._metric_name)
        _, val = self.state.epoch_series(f"val_{self._metric_name}")
        with self.metric_lines.hold_sync():
            self.metric_lines.x = epochs
            self.metric_lines.y = np.vstack([train, val])
        _epoch_ticks(self.metric_figure, epochs)

    def _header_html(self) -> str:
        import html

        title = f"<b>{html.escape(self.title)}</b> · " if self.title else ""
        return f"<div style='font-family: monospace'>{title}{html.escape(self.state.status_line())}</div>"

    def text_summary(self) -> str:
        """The run in one line, for terminals and text-only outputs."""
        return (f"{self.title}: " if self.title else "") + self.state.status_line()

    def mimebundle(self) -> dict:
        """The widget view, plus (once the run ended) a PNG, plus a text line: renderers pick what they can."""
        bundle = {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.box.model_id},
                  "text/plain": self.text_summary()}
        if self._png is not None:
            bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        return bundle

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.mimebundle()

    def show(self) -> "LossCurveWidget":
        """Display the widget in the current cell, keeping a handle to add the static image at the end."""
        from IPython.display import display

        self._display = display(self.mimebundle(), raw=True, display_id=True)
        return self

    def finish(self) -> None:
        """Push the final state and leave the static image and text summary in the output (once)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._push(self._clock())
            try:
                self._png = render_png(self.state)
            except Exception:  # a missing font or backend must not turn a finished run into an error
                self._png = None
        if self._display is not None:
            self._display.update(self.mimebundle(), raw=True)


def in_widget_kernel() -> bool:
    """True inside a Jupyter kernel (where a front end may render widgets), False in a terminal or script."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def live_curve(title: str = "", write: Callable[[str], object] = print):
    """A new live view for one run: a displayed LossCurveWidget in a kernel, else text progress lines."""
    if in_widget_kernel():
        return LossCurveWidget(title=title).show()
    from ..training.listeners import TextProgress

    return TextProgress(write=write)
