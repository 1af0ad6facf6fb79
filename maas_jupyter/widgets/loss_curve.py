"""The live loss curve: an ipywidgets + bqplot view of one training run, fed by training events.

It is a training listener (`on_event`), so it works the same for a run in this kernel and for a
job followed from a stream of events (`follow`). Updates go out at most `max_updates_per_s`
times a second and only change the data of the line marks and the extents of the scales (bqplot
redraws a mark, not the figure). Ticks and legends are chosen in Python (chart.py, axes.py), and the
charts a run will have are laid out as soon as it names its metrics (train_begin, else its first
batch). Sending is asynchronous in ipykernel (the IOPub thread does the socket work), so the
training loop never waits for a browser. When the run ends the same output also carries a PNG and
a text summary, which is what nbconvert, nbclient outputs and non-widget frontends show.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .axes import compact_label, integer_ticks, value_extent
from .chart import Chart, Series
from .curve_state import CurveState
from .static_curve import render_png

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
DEFAULT_MAX_UPDATES_PER_S = 10.0
TRAIN = "#1f77b4"
VALIDATION = "#ff7f0e"
BATCH_SERIES = [Series("raw", TRAIN, opacity=0.3), Series("smoothed", TRAIN)]
EPOCH_SERIES = [Series("train", TRAIN, marker="circle"), Series("validation", VALIDATION, marker="circle")]


def epoch_axis(state: CurveState) -> tuple[float, float, list[int]]:
    """The epoch axis: its extent and whole-number ticks (never 1, 1, 2 from fractional ticks)."""
    lo, hi = state.epoch_extent()
    return lo, hi, integer_ticks(lo, hi)


def step_axis(state: CurveState) -> tuple[float, float, list[int], dict[str, str]]:
    """The step axis: its extent, at most MAX_TICKS whole-number ticks, and their compact labels (2.5k)."""
    lo, hi = state.step_extent()
    ticks = integer_ticks(lo, hi)
    return lo, hi, ticks, {str(t): compact_label(t) for t in ticks}


class LossCurveWidget:
    """Live curves of one run: smoothed batch loss, train/validation loss and metrics per epoch."""

    def __init__(
        self,
        title: str = "",
        max_updates_per_s: float = DEFAULT_MAX_UPDATES_PER_S,
        clock: Callable[[], float] = time.monotonic,
        state: CurveState | None = None,
    ):
        import ipywidgets

        self.state = state or CurveState()
        self.title = title
        self._clock = clock
        self._interval = 1.0 / max_updates_per_s if max_updates_per_s > 0 else 0.0
        self._last_push = float("-inf")
        self._lock = threading.Lock()  # events may come from a follower thread and the kernel at once
        self.push_count = 0
        self._display = None
        self._finished = False
        self._png: bytes | None = None

        self.header = ipywidgets.HTML(value=self._header_html())
        self.progress = ipywidgets.IntProgress(value=0, min=0, max=1, layout=ipywidgets.Layout(width="100%"))
        self.batch_chart = Chart("loss per batch", "step", BATCH_SERIES)
        self.epoch_chart = Chart("loss per epoch", "epoch", EPOCH_SERIES)
        self.metric_chart: Chart | None = None
        self._metric_name: str | None = None
        self._epoch_view: tuple | None = None  # what the epoch charts show now: they change once an epoch, not per push
        # Charts keep a third of the width whether two or three are shown, so one added later moves nothing.
        self.charts = ipywidgets.HBox(
            [self.batch_chart.widget, self.epoch_chart.widget],
            layout=ipywidgets.Layout(width="100%", flex_flow="row wrap"),
        )
        self.box = ipywidgets.VBox([self.header, self.progress, self.charts])
        self._draw()

    # ---- events ----------------------------------------------------------------------------

    def on_event(self, event: Mapping[str, Any]) -> None:
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

        def consume_in_background():
            try:
                consume()
            except Exception as exc:  # e.g. the server stopped: say so in the view, not as a kernel traceback
                self.stopped_following(str(exc) or type(exc).__name__)

        if not background:
            consume()
            return None
        thread = threading.Thread(target=consume_in_background, name="maas-curve-follow", daemon=True)
        thread.start()
        return thread

    # ---- front end -------------------------------------------------------------------------

    def _push(self, now: float) -> None:
        self._last_push = now
        self.push_count += 1
        self._draw()
        state = self.state
        if state.total_steps:
            self.progress.max = state.total_steps
            self.progress.value = min(state.global_step, state.total_steps)
        self.progress.bar_style = {
            "finished": "success",
            "interrupted": "warning",
            "failed": "danger",
            "diverged": "danger",
        }.get(state.status, "")
        self.header.value = self._header_html()

    def _draw(self) -> None:
        """Every chart of the run (the metric chart as soon as a metric is known, from train_begin when
        the run names its metrics), with its points, extents and ticks."""
        state = self.state
        metrics = state.metric_names()
        if metrics and self.metric_chart is None:
            self._metric_name = metrics[0]
            self.metric_chart = Chart(f"{metrics[0]} per epoch", "epoch", EPOCH_SERIES)
            self.charts.children = (*self.charts.children, self.metric_chart.widget)
            self._epoch_view = None

        steps, losses = state.batch_series()
        self.batch_chart.set_points(0, steps, losses[0])
        self.batch_chart.set_points(1, steps, losses[1])
        self.batch_chart.set_x(*step_axis(state))
        self.batch_chart.set_y(*value_extent([losses]))

        lo, hi, ticks = epoch_axis(state)
        view = (len(state.epoch_logs), lo, hi, state.has_validation(), self._metric_name)
        if view == self._epoch_view:
            return
        self._epoch_view = view
        legend = EPOCH_SERIES if state.has_validation() else EPOCH_SERIES[:1]
        for chart, key in self._epoch_charts():
            train, validation = state.epoch_points(key), state.epoch_points(f"val_{key}")
            chart.set_points(0, *train)
            chart.set_points(1, *validation)
            chart.set_x(lo, hi, ticks)
            chart.set_y(*value_extent([train[1], validation[1]]))
            chart.set_legend(legend)

    def _epoch_charts(self) -> list[tuple[Chart, str]]:
        charts = [(self.epoch_chart, "loss")]
        if self.metric_chart is not None and self._metric_name is not None:
            charts.append((self.metric_chart, self._metric_name))
        return charts

    def chart_list(self) -> list[Chart]:
        """The charts laid out now, left to right."""
        return [self.batch_chart] + [chart for chart, _key in self._epoch_charts()]

    def _header_html(self) -> str:
        import html

        title = f"<b>{html.escape(self.title)}</b> · " if self.title else ""
        return f"<div style='font-family: monospace'>{title}{html.escape(self.state.status_line())}</div>"

    def text_summary(self) -> str:
        """The run in one line, for terminals and text-only outputs."""
        return (f"{self.title}: " if self.title else "") + self.state.status_line()

    def mimebundle(self) -> dict:
        """The widget view, plus (once the run ended) a PNG, plus a text line: renderers pick what they can."""
        bundle = {
            WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self.box.model_id},
            "text/plain": self.text_summary(),
        }
        if self._png is not None:
            bundle["image/png"] = base64.b64encode(self._png).decode("ascii")
        return bundle

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.mimebundle()

    def show(self) -> LossCurveWidget:
        """Display the widget in the current cell, keeping a handle to add the static image at the end."""
        from IPython.display import display

        self._display = display(self.mimebundle(), raw=True, display_id=True)
        return self

    def stopped_following(self, reason: str) -> None:
        """The events stopped coming before the run ended: the view keeps what it has and says why."""
        with self._lock:
            self.state.error = f"stopped following: {reason}"
            self.header.value = self._header_html()

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
