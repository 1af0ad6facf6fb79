"""The live curve widget: throttled updates, state from events, headless and terminal fallbacks."""

from __future__ import annotations

import base64

import nbformat
import pytest

from maas_jupyter.training.listeners import TextProgress
from maas_jupyter.widgets import CurveState, LossCurveWidget, live_curve
from maas_jupyter.widgets.curve_state import decimate


class FakeClock:
    """Time that moves only when the test says so: throttling is checked without real timing."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _begin(epochs=2, steps=500):
    return {"type": "train_begin", "run_id": "r1", "epochs": epochs, "steps_per_epoch": steps,
            "samples": steps * 32, "batch_size": 32, "optimizer": "adam", "lr": 0.001}


def _run_events(epochs=2, steps=500, seconds_per_step=0.001):
    yield _begin(epochs, steps)
    step = 0
    for epoch in range(1, epochs + 1):
        for s in range(1, steps + 1):
            step += 1
            yield {"type": "batch", "epoch": epoch, "step": s, "global_step": step, "loss": 1.0 / step,
                   "metrics": {"accuracy": 0.5}, "time": step * seconds_per_step}
        yield {"type": "epoch", "epoch": epoch, "logs": {"loss": 1.0 / epoch, "accuracy": 0.5 + epoch / 10,
                                                         "val_loss": 1.2 / epoch, "val_accuracy": 0.5},
               "time": step * seconds_per_step}
    yield {"type": "train_end", "status": "finished", "epochs_completed": epochs, "duration_s": step * seconds_per_step}


def test_updates_are_throttled_to_ten_per_second_of_training():
    clock = FakeClock()
    widget = LossCurveWidget(clock=clock, max_updates_per_s=10)
    sent = []
    widget.batch_lines.observe(lambda change: sent.append(change), names="y")
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
    assert widget.batch_lines.y.shape == (2, 100)  # raw and smoothed
    raw, smoothed = widget.batch_lines.y
    assert smoothed[-1] > raw[-1], "the smoothed line lags a falling raw loss"
    assert list(widget.epoch_lines.x) == [1, 2]
    for figure in (widget.epoch_figure, widget.metric_figure):  # whole epochs only, never 1, 1, 2
        assert list(figure.axes[0].tick_values) == [1, 2]
    assert list(widget.epoch_lines.y[1]) == pytest.approx([1.2, 0.6])  # validation loss
    assert widget.metric_lines is not None and list(widget.metric_lines.y[0]) == pytest.approx([0.6, 0.7])
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
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
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
