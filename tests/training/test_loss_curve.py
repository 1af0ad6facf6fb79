"""The live curve widget: throttled updates, state from events, headless and terminal fallbacks."""

from __future__ import annotations

import base64

import nbformat
import numpy as np
import pytest

from maas_jupyter.training.listeners import TextProgress
from maas_jupyter.widgets import CurveState, LossCurveWidget, live_curve
from maas_jupyter.widgets.axes import compact_label, integer_ticks, nice_ticks, value_extent
from maas_jupyter.widgets.curve_state import decimate
from maas_jupyter.widgets.loss_curve import step_axis


class FakeClock:
    """Time that moves only when the test says so: throttling is checked without real timing."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _begin(epochs=2, steps=500, **extra):
    return {
        "type": "train_begin",
        "run_id": "r1",
        "epochs": epochs,
        "steps_per_epoch": steps,
        "samples": steps * 32,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 0.001,
        **extra,
    }


def _run_events(epochs=2, steps=500, seconds_per_step=0.001):
    yield _begin(epochs, steps)
    step = 0
    for epoch in range(1, epochs + 1):
        for s in range(1, steps + 1):
            step += 1
            yield {
                "type": "batch",
                "epoch": epoch,
                "step": s,
                "global_step": step,
                "loss": 1.0 / step,
                "metrics": {"accuracy": 0.5},
                "time": step * seconds_per_step,
            }
        yield {
            "type": "epoch",
            "epoch": epoch,
            "logs": {"loss": 1.0 / epoch, "accuracy": 0.5 + epoch / 10, "val_loss": 1.2 / epoch, "val_accuracy": 0.5},
            "time": step * seconds_per_step,
        }
    yield {"type": "train_end", "status": "finished", "epochs_completed": epochs, "duration_s": step * seconds_per_step}


def test_updates_are_throttled_to_ten_per_second_of_training():
    clock = FakeClock()
    widget = LossCurveWidget(clock=clock, max_updates_per_s=10)
    sent = []
    widget.batch_chart.marks[1].observe(lambda change: sent.append(change), names="y")  # the smoothed loss
    for event in _run_events(epochs=2, steps=500):
        clock.now = event.get("time", clock.now)  # 1000 batches over 1 s of (fake) time
        widget.on_event(event)
    # at most one push per 0.1 s over 1 s, plus the start and the final state
    assert widget.push_count <= 1 + 10 + 1 + 1
    assert len(sent) <= widget.push_count
    assert widget.push_count >= 3, "the curve moved while training ran"


def test_without_the_clock_moving_there_is_no_push_per_batch():
    clock = FakeClock()
    widget = LossCurveWidget(clock=clock)
    widget.on_event(_begin())
    pushes = widget.push_count
    for step in range(1, 200):
        widget.on_event({"type": "batch", "epoch": 1, "step": step, "global_step": step, "loss": 1.0})
    assert widget.push_count == pushes


def test_lines_carry_smoothed_batch_loss_and_epoch_curves():
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)  # 0: push on every event
    for event in _run_events(epochs=2, steps=50):
        widget.on_event(event)
    raw, smoothed = (mark.y for mark in widget.batch_chart.marks)
    assert len(raw) == len(smoothed) == 100
    assert smoothed[-1] > raw[-1], "the smoothed line lags a falling raw loss"
    train, validation = widget.epoch_chart.marks
    assert list(train.x) == list(validation.x) == [1, 2]
    for chart in (widget.epoch_chart, widget.metric_chart):  # whole epochs only, never 1, 1, 2
        assert list(chart.x_axis.tick_values) == [1, 2]
    assert list(validation.y) == pytest.approx([1.2, 0.6])
    assert widget.metric_chart is not None and list(widget.metric_chart.marks[0].y) == pytest.approx([0.6, 0.7])
    assert widget.progress.value == widget.progress.max == 100


def test_many_batches_are_thinned_before_they_reach_the_front_end():
    state = CurveState(max_points=100)
    for event in _run_events(epochs=1, steps=5000):
        state.apply(event)
    steps, losses = state.batch_series()
    assert len(steps) == 100 and losses.shape == (2, 100)
    assert steps[0] < steps[-1]
    x, y = decimate(steps, losses, 10)
    assert len(x) == 10


def test_status_line_has_epoch_step_throughput_and_time_left():
    state = CurveState()
    events = list(_run_events(epochs=2, steps=100, seconds_per_step=0.01))
    for event in events[:51]:
        state.apply(event)
    line = state.status_line()
    assert "epoch 1/2" in line and "step 50/100" in line and "rows/s" in line and "left ~0:02" in line


def test_a_finished_run_leaves_a_png_and_a_text_line_for_headless_renderers():
    widget = LossCurveWidget(clock=FakeClock())
    for event in _run_events(epochs=2, steps=20):
        widget.on_event(event)
    bundle = widget.mimebundle()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == widget.box.model_id
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert "finished" in bundle["text/plain"] and "epoch 2/2" in bundle["text/plain"]


def test_a_new_widget_per_run_keeps_the_earlier_one():
    first, second = LossCurveWidget(clock=FakeClock()), LossCurveWidget(clock=FakeClock())
    for event in _run_events(epochs=1, steps=10):
        first.on_event(event)
    assert first.box.model_id != second.box.model_id
    assert second.state.global_step == 0 and first.state.global_step == 10


def test_following_a_stream_of_events_in_a_thread():
    widget = LossCurveWidget(clock=FakeClock())
    thread = widget.follow(iter(list(_run_events(epochs=1, steps=30))))
    thread.join(timeout=60)
    assert widget.state.status == "finished" and widget.state.global_step == 30
    assert "image/png" in widget.mimebundle()


def test_a_stream_that_breaks_off_leaves_the_curve_and_says_why_instead_of_a_thread_traceback(monkeypatch):
    """The events of a watched job come from a server; if it goes away mid-run, the background follower
    ends quietly and the view says it stopped following, keeping what it drew."""
    import threading

    from maas_jupyter.errors import Unavailable

    crashes = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)

    def events():
        yield from list(_run_events(epochs=1, steps=30))[:10]
        raise Unavailable("cannot reach the maas server at http://127.0.0.1:1/maas/api/")

    widget = LossCurveWidget(clock=FakeClock())
    thread = widget.follow(events())
    thread.join(timeout=60)
    assert not thread.is_alive() and crashes == []
    assert widget.state.global_step > 0 and widget.state.status == "running"
    assert "stopped following: cannot reach the maas server" in widget.header.value
    assert "image/png" not in widget.mimebundle()  # the run did not end: no closing image pretends it did


def test_outside_a_kernel_the_live_view_is_text():
    lines = []
    view = live_curve("demo", write=lines.append)
    assert isinstance(view, TextProgress)
    for event in _run_events(epochs=2, steps=5):
        view.on_event(event)
    assert len(lines) == 4 and "epoch 2/2" in lines[2] and "finished" in lines[-1]


@pytest.mark.slow
def test_a_notebook_run_headless_keeps_a_static_image_of_the_curves(tmp_path, maas_home):
    """nbclient, like nbconvert, has no widget renderer: the saved output must still show the curves."""
    from nbclient import NotebookClient

    code = """
import numpy as np, keras
from maas_jupyter.platform import Platform
from maas_jupyter.widgets import live_curve
x = np.random.default_rng(0).standard_normal((64, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
result = Platform().train(model, x, y, epochs=2, batch_size=16, listener=live_curve("tiny"))
print(result.status)
"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = notebook.cells[0].outputs
    displays = [o for o in outputs if o.output_type in ("display_data", "update_display_data")]
    assert displays, outputs
    final = displays[-1].data
    assert "application/vnd.jupyter.widget-view+json" in final
    assert base64.b64decode(final["image/png"]).startswith(b"\x89PNG")
    assert "finished" in final["text/plain"]
    assert any(o.output_type == "stream" and "finished" in o.text for o in outputs)


def test_the_end_event_completes_the_step_count_of_thinned_batch_events():
    # A job's event file keeps at most ten batch events a second; the end event says how many steps ran.
    state = CurveState()
    state.apply(_begin(epochs=2, steps=100))
    state.apply({"type": "batch", "epoch": 2, "step": 93, "global_step": 193, "loss": 0.5})
    state.apply({"type": "train_end", "status": "finished", "epochs_completed": 2, "steps": 200, "duration_s": 3})
    assert (state.global_step, state.step) == (200, 100)
    assert "step 100/100" in state.status_line()


# ---- what the charts show: ticks, labels, legends, layout --------------------------------------------------


def _decoded(value):
    """A mark's x or y as bqplot serialises it (a buffer with dtype and shape), back as an array."""
    assert isinstance(value, dict) and value.get("dtype") in ("float64", "float32", "int32"), value
    return np.frombuffer(value["value"], dtype=value["dtype"]).reshape(value["shape"])


def _assert_all_finite(sent):
    assert sent, "no mark data was sent"
    for name, value in sent:
        array = _decoded(value)
        assert array.ndim == 1 and np.isfinite(array).all(), (name, array)


def test_no_value_sent_to_a_mark_is_none_or_nan(sent_to_marks):
    """d3 draws None and NaN as "translate(x,undefined)", and an empty curve as the path "null": console errors."""
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    widget.on_event(_begin(epochs=3, steps=4, metrics=["accuracy"], has_validation=True))
    step = 0
    for epoch in range(1, 4):
        for s in range(1, 5):
            step += 1
            loss = float("nan") if step == 3 else None if step == 5 else 1.0 / step
            widget.on_event(
                {
                    "type": "batch",
                    "epoch": epoch,
                    "step": s,
                    "global_step": step,
                    "loss": loss,
                    "metrics": {"accuracy": None},
                }
            )
        # validation only every other epoch, and a metric that was not a number
        logs = {
            "loss": 1.0 / epoch,
            "accuracy": float("nan") if epoch == 2 else 0.5,
            **({"val_loss": 1.1 / epoch} if epoch != 2 else {"val_accuracy": None}),
        }
        widget.on_event({"type": "epoch", "epoch": epoch, "logs": logs})
    widget.on_event({"type": "train_end", "status": "finished", "steps": step})
    _assert_all_finite(sent_to_marks)
    for chart in widget.chart_list():
        for mark in chart.marks:
            assert len(mark.x) == len(mark.y)
        for axis, scale in ((chart.x_axis, chart.x_scale), (chart.y_axis, chart.y_scale)):
            assert np.isfinite([scale.min, scale.max]).all() and scale.min < scale.max
            assert np.isfinite(axis.tick_values).all() and len(axis.tick_values)
    assert list(widget.epoch_chart.marks[1].x) == [1, 3]  # validation where there was one
    assert list(widget.metric_chart.marks[0].x) == [1, 3]


def test_a_run_without_validation_sends_an_empty_validation_curve_not_a_curve_of_nan(sent_to_marks):
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    events = [e for e in _run_events(epochs=2, steps=5) if e["type"] != "epoch"]
    events[-1:-1] = [{"type": "epoch", "epoch": 1, "logs": {"loss": 0.5}}]
    for event in events:
        widget.on_event(event)
    _assert_all_finite(sent_to_marks)
    assert len(widget.epoch_chart.marks[1].x) == 0 and list(widget.epoch_chart.marks[0].y) == [0.5]


def test_the_epoch_axis_reads_whole_epochs_before_the_first_one_ends():
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    assert list(widget.epoch_chart.x_axis.tick_values) == [1]  # before the run began: not 0, 0, 0, 1, 1
    widget.on_event(_begin(epochs=3, steps=100))
    widget.on_event({"type": "batch", "epoch": 1, "step": 10, "global_step": 10, "loss": 1.0})
    axis = widget.epoch_chart.x_axis
    assert list(axis.tick_values) == [1, 2, 3] and axis.tick_format == "d"
    assert (widget.epoch_chart.x_scale.min, widget.epoch_chart.x_scale.max) == (0.5, 3.5)


def test_a_long_run_gets_a_bounded_number_of_whole_epoch_ticks():
    state = CurveState()
    state.apply(_begin(epochs=500, steps=10))
    for epoch in range(1, 38):
        state.apply({"type": "epoch", "epoch": epoch, "logs": {"loss": 1.0}})
        lo, hi = state.epoch_extent()
        ticks = integer_ticks(lo, hi)
        assert 1 <= len(ticks) <= 6 and all(lo <= t <= hi for t in ticks)
        assert len({str(t) for t in ticks}) == len(ticks)  # never a repeated label
    assert state.epoch_extent() == (0.5, 37.5)  # the axis grew with the run past the first ten epochs
    assert integer_ticks(*state.epoch_extent()) == [10, 20, 30]


def test_step_ticks_are_few_and_compact_at_thousands_of_steps():
    state = CurveState()
    state.apply(_begin(epochs=3, steps=1000))
    lo, hi, ticks, labels = step_axis(state)
    assert (lo, hi) == (0, 3000)  # the run's planned steps from the start
    assert ticks == [0, 1000, 2000, 3000]
    assert [labels[str(t)] for t in ticks] == ["0", "1k", "2k", "3k"]
    state = CurveState()
    state.apply(_begin(epochs=1, steps=2700))
    _lo, _hi, ticks, labels = step_axis(state)
    assert [labels[str(t)] for t in ticks] == ["0", "500", "1k", "1.5k", "2k", "2.5k"]


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0.5, 1.5, [1]),
        (0.5, 3.5, [1, 2, 3]),
        (0.5, 10.5, [2, 4, 6, 8, 10]),
        (0, 2700, [0, 500, 1000, 1500, 2000, 2500]),
        (0, 1, [0, 1]),
        (-28, 0, [-25, -20, -15, -10, -5, 0]),
        (0, 125_000, [0, 25_000, 50_000, 75_000, 100_000, 125_000]),
        (3.2, 3.8, []),
        (5, 1, []),
    ],
)
def test_integer_ticks(lo, hi, expected):
    assert integer_ticks(lo, hi) == expected


def test_round_ticks_and_compact_labels():
    assert nice_ticks(0.0757, 0.9, 5) == [0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0.83, 1.0, 5) == [0.85, 0.9, 0.95, 1.0]
    assert nice_ticks(0.0, 110.0, 6) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(float("nan"), 1.0) == []
    assert [compact_label(v) for v in (0, 950, 1000, 1500, 2500, 12_000, 1250, 1_500_000)] == [
        "0",
        "950",
        "1k",
        "1.5k",
        "2.5k",
        "12k",
        "1.25k",
        "1.5M",
    ]
    assert value_extent([]) == (0.0, 1.0) and value_extent([np.array([np.nan])]) == (0.0, 1.0)
    lo, hi = value_extent([np.array([0.5])])
    assert lo < 0.5 < hi  # one value is not a point-sized domain


def test_every_chart_is_laid_out_from_the_first_frame():
    """A run that names its metrics when it begins has its accuracy chart (empty) from then on: the layout
    does not change when epoch 1 ends."""
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    widget.on_event(_begin(epochs=2, steps=20, metrics=["accuracy"], has_validation=True))
    assert [chart.title for chart in widget.chart_list()] == ["loss per batch", "loss per epoch", "accuracy per epoch"]
    layout = widget.charts.children
    assert layout == tuple(chart.widget for chart in widget.chart_list())
    assert all(len(mark.x) == 0 for mark in widget.metric_chart.marks)  # present, and empty
    for event in list(_run_events(epochs=2, steps=20))[1:]:
        widget.on_event(event)
    assert widget.charts.children == layout
    assert list(widget.metric_chart.marks[0].x) == [1, 2]


def test_a_run_that_does_not_name_its_metrics_gets_the_chart_with_its_first_batch():
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    widget.on_event(_begin(epochs=2, steps=20))
    assert len(widget.charts.children) == 2
    widget.on_event(
        {"type": "batch", "epoch": 1, "step": 1, "global_step": 1, "loss": 1.0, "metrics": {"accuracy": 0.5}}
    )
    assert [chart.title for chart in widget.chart_list()][-1] == "accuracy per epoch"
    widths = {chart.widget.layout.width for chart in widget.chart_list()}
    assert widths == {"33%"}, "the charts already shown keep their size"


def test_legends_sit_outside_the_plots_and_name_only_the_curves_the_run_has():
    widget = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    widget.on_event(_begin(has_validation=False, metrics=["accuracy"]))
    for chart in widget.chart_list():
        assert not chart.figure.display_toolbar  # it covered the title on hover
        assert all(not mark.display_legend for mark in chart.marks)  # no legend box inside the plot
        assert chart.title in chart.caption.value and "maas-legend" in chart.caption.value
    assert " raw<" in widget.batch_chart.caption.value and " smoothed<" in widget.batch_chart.caption.value
    caption = widget.epoch_chart.caption.value
    assert " train<" in caption and "validation" not in caption
    validating = LossCurveWidget(clock=FakeClock(), max_updates_per_s=0)
    validating.on_event(_begin(has_validation=True))
    assert " validation<" in validating.epoch_chart.caption.value
