"""The live events' one definition (maas_jupyter/events.schema.json): every type the server publishes is
in it and fits it, nothing in it is never published, malformed events are refused with the field named,
and the sidebar's TypeScript types and the publishers' TypedDicts are generated from it (scripts/make_event_types.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from onnx import TensorProto, helper

from maas_jupyter.config import Settings
from maas_jupyter.errors import InvalidInput, Unavailable
from maas_jupyter.event_schema import event_types, schema, validate_event
from maas_jupyter.platform import Platform
from maas_jupyter.serving.dataplane import DataPlane

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 120  # deadlines for what takes well under a second (a job: a few), generous for a loaded machine

TRAINING_SCRIPT = """
import numpy as np, keras
rng = np.random.default_rng(0)
x_train = rng.standard_normal((64, 4)).astype("float32")
y_train = (x_train[:, 0] > 0).astype("int64")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
"""


def unloadable_onnx() -> bytes:
    """Passes onnx.checker; ONNX Runtime cannot load it (an operator of a domain nobody implements)."""
    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["x"], ["y"], domain="com.example.missing")],
        "unloadable",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(
        graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example.missing", 1)]
    )
    return model.SerializeToString()


def test_the_schema_is_a_valid_json_schema():
    Draft202012Validator.check_schema(schema())


class Heard:
    """Every event a subscription received, in order, with a wait for a particular one."""

    def __init__(self, subscription):
        self.subscription = subscription
        self.events: list[dict] = []

    def wait_for(self, wanted, timeout: float) -> dict | None:
        """The first event from now on that is `wanted`, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            event = self.subscription.get(timeout=remaining)
            if event is not None:
                self.events.append(event)
                if wanted(event):
                    return event
        return None


@pytest.mark.slow
def test_every_publisher_publishes_only_what_the_schema_defines_and_all_of_it(tmp_path, make_onnx):
    """A real Platform through each publisher: the registry watcher, deployments (every change), the SLO
    guard, a background training job. What its bus carries must be exactly the schema's types."""
    platform = Platform(Settings.from_env(home=tmp_path / "maas"))
    heard = Heard(platform.events.subscribe())
    try:
        platform.watch_registry(0.05)
        for seed in (1, 2, 3):
            platform.registry.register_onnx("linear", make_onnx(seed=seed))
        bad = platform.registry.register_onnx("broken", unloadable_onnx())["version"]

        deployments = platform.deployments
        deployments.reconcile()
        plane = DataPlane(deployments)
        deployments.deploy("ep", "linear", 1)
        deployments.deploy("ep", "linear", 2)  # a swap
        deployments.update("ep", max_batch_size=4)
        deployments.canary("ep", 3, 50)
        deployments.promote("ep")
        deployments.rollback("ep")
        plane.unload("ep")
        plane.load("ep")
        with pytest.raises(Unavailable):
            deployments.deploy("other", "broken", bad)
        _canary_rolled_back_by_the_guard(platform, heard)
        deployments.undeploy("ep")

        job = platform.jobs.submit("tiny", TRAINING_SCRIPT, {"epochs": 2, "batch_size": 16})
        assert platform.jobs.wait(job["id"], timeout=600)["state"] == "SUCCEEDED", platform.jobs.logs(job["id"])
        registered = heard.wait_for(lambda e: e["type"] == "registry.changed" and e["model"] == "tiny", WAIT_S)
        assert registered is not None, "the job's registration was never heard of"
    finally:
        heard.subscription.close()
        platform.close()

    for event in heard.events:
        validate_event(event)
    assert {e["type"] for e in heard.events} == set(event_types())
    trainer = {e["event"]["type"] for e in heard.events if e["type"] == "job.training"}
    assert trainer == {"train_begin", "batch", "epoch", "train_end"}


def _canary_rolled_back_by_the_guard(platform, heard: Heard) -> None:
    """A canary failing every request, seen by the running guard: it must take the canary out."""
    monitor = platform.monitor
    monitor.set_canary_bounds("ep", {"min_requests": 5, "window_s": 60})
    guard = monitor.start_guard(interval_s=0.05)
    platform.deployments.canary("ep", 3, 50)
    deadline = time.monotonic() + WAIT_S
    while (guard.evaluation("ep") or {}).get("passes", 0) < 1:  # the canary's window opens when first seen
        assert time.monotonic() < deadline, "the SLO guard never looked at the canary"
        time.sleep(0.05)
    # What the data plane records for each request it answers; here the canary fails every one.
    primary, canary = monitor.metrics.recorder("ep", 2), monitor.metrics.recorder("ep", 3)
    while heard.wait_for(lambda e: e["type"] == "deployment.canary_rollback", timeout=0.1) is None:
        assert time.monotonic() < deadline, "the SLO guard never rolled the failing canary back"
        for _ in range(10):
            primary.finished(0.001, 200)
            canary.finished(0.001, 500, model_failed=True)


BASE = {"seq": 1, "at": 1.0}


@pytest.mark.parametrize(
    "event, words",
    [
        ({"type": "metrics", "endpoint": "ep", **BASE}, "unknown event type 'metrics'"),
        ({"type": "deployment", "deployment": {}, **BASE}, "unknown event type 'deployment'"),
        ({"model": "m", **BASE}, 'string "type"'),
        ("registry.changed", 'string "type"'),
        ({"type": "registry.changed", "model": "m", "change": "renamed", **BASE}, "change: 'renamed' is not one of"),
        ({"type": "registry.changed", "model": "m", "change": "created"}, "'seq' is a required property"),
        (
            {"type": "registry.changed", "model": "m", "change": "created", "alias": "x", **BASE},
            "'alias' was unexpected",
        ),
        (
            {"type": "deployment.swap", "name": "ep", "deployment": {"name": 1}, **BASE},
            "deployment/name: 1 is not of type",
        ),
        (
            {
                "type": "job.state",
                "job_id": "7",
                "name": "j",
                "state": "RUNNING",
                "reason": None,
                "run_id": None,
                "registered_version": None,
                **BASE,
            },
            "job_id: '7' is not of type 'integer'",
        ),
        (
            {"type": "job.training", "job_id": 1, "event": {"type": "batch", "loss": 1.0}, **BASE},
            "batch trainer event: the event: 'run_id' is a required property",
        ),
        ({"type": "job.training", "job_id": 1, "event": {"type": "metrics"}, **BASE}, "unknown trainer event type"),
        (
            {
                "type": "job.training",
                "job_id": 1,
                "event": {"type": "epoch", "run_id": "r", "epoch": 1, "logs": {"loss": "low"}, "time": 1.0},
                **BASE,
            },
            "logs/loss: 'low' is not of type 'number', 'null'",
        ),
    ],
)
def test_an_event_that_does_not_fit_is_refused_saying_where(event, words):
    with pytest.raises(InvalidInput) as refused:
        validate_event(event)
    assert words in refused.value.message


def test_the_event_types_are_generated_from_the_schema():
    """labextension/src/events.generated.ts and maas_jupyter/event_types.py are what
    scripts/make_event_types.py makes of the schema now."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_event_types.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
