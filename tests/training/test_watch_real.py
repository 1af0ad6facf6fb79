"""`%maas watch` of a real training job, in a real IPython kernel, asserted on what its front end receives.

The kernel is ipykernel's in-process kernel, made the way a kernel process makes its own (`instance()`,
so it is the process's Kernel and its shell is the IPython of the process): `in_widget_kernel()` sees a
shell with a kernel, widgets open their comms through ipykernel's comm manager, and every display and
widget message goes out on the kernel's IOPub channel to a connected client, the way a browser gets
them. Cells run as execute requests of that client. The test rebuilds the widget models from those
messages only (each comm_open's state, then each update, binary buffers put back where they belong),
so it asserts what a front end would draw, not what the Python object says about itself.

Jobs are real: the runner of the body the magics talk to (in-process, or a real Jupyter server) runs
each in a worker process; the expected curve comes from the events the job recorded (the runner's
events, or GET maas/api/jobs/{id}/events through the server).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest

from maas_jupyter.magics import training_commands

pytestmark = pytest.mark.slow

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
JOB_LIMIT_S = 300  # a limit for a stuck job on a loaded machine, not an expected duration
# 256 rows in batches of 2, three epochs: 384 steps, of which the worker records a few (at most ten batch
# events a second), and a metric chart (the trainer compiles with accuracy for labels).
TRAINING_SCRIPT = """
import numpy as np, keras
rng = np.random.default_rng(0)
x_train = rng.standard_normal((256, 4)).astype("float32")
y_train = (x_train[:, 0] + x_train[:, 1] > 0).astype("int64")
keras.utils.set_random_seed(1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
"""
JOB_FLAGS = "--epochs 3 --batch-size 2 --optimizer adam"
# The job runs (RUNNING, no training event yet) until the test creates the gate file: a job that is
# certainly still running when it is watched, whose whole curve arrives after the watching cell ended.
GATED = """
import os, time
print("waiting for the gate", flush=True)
deadline = time.monotonic() + {limit}
while not os.path.exists({gate!r}) and time.monotonic() < deadline:
    time.sleep(0.05)
"""


# ---- a kernel and its front end -------------------------------------------------------------------


class Frontend:
    """What a Jupyter front end knows from a kernel's IOPub messages: the state of every widget model,
    the displays, and where each execute request's output ended (its `idle` status)."""

    def __init__(self, kernel, client):
        self.kernel, self.client = kernel, client
        self.messages: list[dict] = []
        self.models: dict[str, dict] = {}

    def receive(self) -> None:
        """Take every message the kernel has sent so far (those queued in its IOPub thread included)."""
        sent = threading.Event()
        self.kernel.iopub_thread.schedule(sent.set)  # runs after every send scheduled before it
        assert sent.wait(60), "the kernel's IOPub thread did not answer"
        for msg in self.client.iopub_channel.get_msgs():
            self.messages.append(msg)
            content, kind = msg["content"], msg["header"]["msg_type"]
            if kind == "comm_open":
                self.models[content["comm_id"]] = _with_buffers(content["data"], msg.get("buffers"))
            elif kind == "comm_msg" and content["data"].get("method") == "update":
                self.models[content["comm_id"]].update(_with_buffers(content["data"], msg.get("buffers")))

    def execute(self, code: str) -> str:
        """Run a cell as an execute request; its msg_id. A cell that raised fails the test with its error."""
        msg_id = self.client.execute(code)
        reply = self.client.get_shell_msg(timeout=JOB_LIMIT_S)
        assert reply["parent_header"]["msg_id"] == msg_id
        self.receive()
        content = reply["content"]
        assert content["status"] == "ok", f"{code!r}: {content.get('ename')}: {content.get('evalue')}"
        return msg_id

    def index(self, predicate) -> int | None:
        return next((i for i, msg in enumerate(self.messages) if predicate(msg)), None)

    def idle_of(self, msg_id: str) -> int:
        """Where the cell's output ended: its busy/idle status says idle (nbclient stops collecting there)."""
        found = self.index(
            lambda m: (
                m["header"]["msg_type"] == "status"
                and m["parent_header"].get("msg_id") == msg_id
                and m["content"]["execution_state"] == "idle"
            )
        )
        assert found is not None, "the cell never went idle"
        return found

    def displayed_widget(self, msg_id: str) -> tuple[str, str]:
        """(model id, display id) of the widget view the cell displayed."""
        (msg,) = [
            m
            for m in self.messages
            if m["header"]["msg_type"] == "display_data"
            and m["parent_header"].get("msg_id") == msg_id
            and WIDGET_MIME in m["content"]["data"]
        ]
        return msg["content"]["data"][WIDGET_MIME]["model_id"], msg["content"]["transient"]["display_id"]

    def final_image_at(self, display_id: str) -> int | None:
        """Where the display was updated with the static image the widget leaves when the run ended."""
        return self.index(
            lambda m: (
                m["header"]["msg_type"] == "update_display_data"
                and m["content"].get("transient", {}).get("display_id") == display_id
                and "image/png" in m["content"]["data"]
            )
        )

    # -- reading the widget as the front end has it ------------------------------------------------

    def model(self, reference: str) -> dict:
        assert reference.startswith("IPY_MODEL_"), reference
        return self.models[reference[len("IPY_MODEL_") :]]

    def descendants(self, model_id: str):
        state = self.models[model_id]
        yield state
        for child in state.get("children", []):
            yield from self.descendants(child[len("IPY_MODEL_") :])

    def chart(self, box_id: str, title: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (x, y) of each line mark of the chart captioned `title`, inside the widget `box_id`."""
        for state in self.descendants(box_id):
            children = [self.model(ref) for ref in state.get("children", [])]
            if (
                len(children) == 2
                and children[0]["_model_name"] == "HTMLModel"
                and f"<b>{title}</b>" in children[0]["value"]
                and children[1]["_model_name"] == "FigureModel"
            ):
                marks = [self.model(ref) for ref in children[1]["marks"]]
                return [(_array(mark["x"]), _array(mark["y"])) for mark in marks]
        raise AssertionError(f"no chart {title!r} in the widget")

    def of_type(self, box_id: str, model_name: str) -> dict:
        (state,) = [s for s in self.descendants(box_id) if s["_model_name"] == model_name]
        return state


def _with_buffers(data: dict, buffers) -> dict:
    """A comm message's state with its binary parts back at their paths (as @jupyter-widgets/base does)."""
    state = dict(data["state"])
    for path, buffer in zip(data.get("buffer_paths", []), buffers or []):
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bytes(memoryview(buffer))
    return state


def _array(value) -> np.ndarray:
    """A bqplot array as its JavaScript side decodes it: {value: bytes, dtype, shape}."""
    return np.frombuffer(value["value"], dtype=value["dtype"]).reshape(value["shape"])


@dataclass
class Kernel:
    """A kernel with the %maas magics, and the front end connected to it."""

    shell: object
    magics: object
    frontend: Frontend

    def jobs(self):
        """The jobs of the body the magics talk to (the runner, or the server's over HTTP), as they read them."""
        return training_commands._jobs(self.magics.context)


@pytest.fixture
def kernel(maas_home):
    """A real ipykernel kernel, made as a kernel process makes its own, with fresh %maas magics."""
    from ipykernel.inprocess.blocking import BlockingInProcessKernelClient
    from ipykernel.inprocess.ipkernel import InProcessInteractiveShell, InProcessKernel
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics

    saved = sys.stdout, sys.stderr, sys.displayhook, sys.excepthook
    InteractiveShell.clear_instance()  # the plain shell other tests made: a kernel brings its own
    ipykernel = InProcessKernel.instance()  # as IPKernelApp makes its kernel: the process's one Kernel
    client = BlockingInProcessKernelClient(kernel=ipykernel, session=ipykernel.session)
    client.start_channels()
    magics = MaasMagics(ipykernel.shell)
    ipykernel.shell.register_magics(magics)
    try:
        yield Kernel(ipykernel.shell, magics, Frontend(ipykernel, client))
    finally:
        service = magics.context._service
        if service is not None and hasattr(service, "close"):
            service.close()
        client.stop_channels()
        ipykernel.iopub_thread.stop()
        InProcessInteractiveShell.clear_instance()
        InProcessKernel.clear_instance()
        sys.stdout, sys.stderr, sys.displayhook, sys.excepthook = saved


@pytest.fixture
def shell(kernel):
    """The kernel's shell: overrides tests/conftest.py's plain one, so its `body` fixture runs these tests
    against both bodies."""
    return kernel.shell


# ---- the job and what it recorded ----------------------------------------------------------------


def _submit(kernel: Kernel, name: str, script: str) -> int:
    kernel.frontend.execute(f"%%maas job {name} {JOB_FLAGS}\n{script}")
    kernel.frontend.execute("submitted = %maas jobs")
    return int(kernel.shell.user_ns["submitted"].index[0])  # newest first


def _wait_state(kernel: Kernel, job_id: int, states: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + JOB_LIMIT_S
    while time.monotonic() < deadline:
        job = kernel.jobs().get(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} in {JOB_LIMIT_S} s: {job}")


def _followers() -> set[threading.Thread]:
    """The widget's follower threads alive now (LossCurveWidget.follow names them)."""
    return {thread for thread in threading.enumerate() if thread.name == "maas-curve-follow"}


def _smoothed(losses: list[float], smoothing: float = 0.9) -> list[float]:
    """The moving average the batch chart draws over the raw losses, with TensorBoard's bias correction."""
    ema, out = 0.0, []
    for count, loss in enumerate(losses, start=1):
        ema = smoothing * ema + (1 - smoothing) * loss
        out.append(ema / (1 - smoothing**count))
    return out


def assert_shows_the_job(frontend: Frontend, box_id: str, job: dict, events: list[dict]) -> None:
    """The widget, as the front end has it, holds every recorded batch and epoch loss of the job."""
    begin, end = events[0], events[-1]
    assert begin["type"] == "train_begin" and end["type"] == "train_end" and end["status"] == "finished"
    batches = [e for e in events if e["type"] == "batch" and isinstance(e["loss"], float) and math.isfinite(e["loss"])]
    epochs = [e for e in events if e["type"] == "epoch"]
    assert len(epochs) == 3 and batches

    (raw_x, raw_y), (smooth_x, smooth_y) = frontend.chart(box_id, "loss per batch")
    assert raw_x.tolist() == [float(e["global_step"]) for e in batches]
    assert raw_y.tolist() == [e["loss"] for e in batches]
    assert smooth_x.tolist() == raw_x.tolist()
    np.testing.assert_allclose(smooth_y, _smoothed([e["loss"] for e in batches]), rtol=1e-12)

    (train_x, train_y), (val_x, val_y) = frontend.chart(box_id, "loss per epoch")
    assert train_x.tolist() == [1.0, 2.0, 3.0] == [float(e["epoch"]) for e in epochs]
    assert train_y.tolist() == [e["logs"]["loss"] for e in epochs]
    assert val_x.size == val_y.size == 0  # the script holds no validation data

    metric = begin["metrics"][0]
    (metric_x, metric_y), _ = frontend.chart(box_id, f"{metric} per epoch")
    assert metric_x.tolist() == train_x.tolist() and metric_y.tolist() == [e["logs"][metric] for e in epochs]

    progress = frontend.of_type(box_id, "IntProgressModel")
    assert progress["value"] == progress["max"] == end["steps"] == 3 * 128 and progress["bar_style"] == "success"
    header = frontend.model(frontend.models[box_id]["children"][0])  # the status line above the charts
    assert header["_model_name"] == "HTMLModel"
    assert f"job {job['id']}" in header["value"] and "finished" in header["value"]


# ---- the tests ---------------------------------------------------------------------------------


def test_watch_of_an_ended_job_replays_its_whole_curve_into_the_widget_before_the_cell_ends(kernel, body):
    frontend = kernel.frontend
    assert kernel.shell.kernel is not None and kernel.shell.kernel.comm_manager is not None  # as Jupyter runs one
    job_id = _submit(kernel, f"ended-{int(time.time() * 1000) % 10**8}", TRAINING_SCRIPT)
    job = _wait_state(kernel, job_id, ("SUCCEEDED",))
    events = kernel.jobs().events(job_id, 0)["events"]

    before = _followers()
    cell = frontend.execute(f"%maas watch {job_id}")
    assert _followers() <= before  # nothing left running behind the cell
    box_id, display_id = frontend.displayed_widget(cell)
    image = frontend.final_image_at(display_id)
    # The final image is part of the cell's output: sent before the cell went idle, so a notebook
    # executed headless (nbclient) keeps it; and by then the widget held the whole history.
    assert image is not None and image < frontend.idle_of(cell)
    assert_shows_the_job(frontend, box_id, job, events)


def test_watch_of_a_running_job_follows_it_after_the_cell_ended_until_it_ends(kernel, body, tmp_path):
    frontend = kernel.frontend
    gate = tmp_path / "gate"
    try:
        job_id = _submit(
            kernel,
            f"running-{int(time.time() * 1000) % 10**8}",
            GATED.format(limit=JOB_LIMIT_S, gate=str(gate)) + TRAINING_SCRIPT,
        )
        _wait_state(kernel, job_id, ("RUNNING",))
        before = _followers()
        cell = frontend.execute(f"%maas watch {job_id}")
        (follower,) = _followers() - before
        box_id, display_id = frontend.displayed_widget(cell)
        # The cell ended while the job waits at the gate: the widget is shown, still empty, no final image.
        (raw_x, _), _ = frontend.chart(box_id, "loss per batch")
        assert raw_x.size == 0 and frontend.final_image_at(display_id) is None
        assert kernel.jobs().get(job_id)["state"] == "RUNNING"
    finally:
        gate.touch()

    deadline = time.monotonic() + JOB_LIMIT_S
    while frontend.final_image_at(display_id) is None:  # the background follower's last update
        assert time.monotonic() < deadline, f"the widget never showed the end of job {job_id}"
        time.sleep(0.05)
        frontend.receive()
    job = _wait_state(kernel, job_id, ("SUCCEEDED",))
    follower.join(JOB_LIMIT_S)  # it follows the job to its end, then stops
    assert not follower.is_alive()
    frontend.receive()
    events = kernel.jobs().events(job_id, 0)["events"]
    assert_shows_the_job(frontend, box_id, job, events)
