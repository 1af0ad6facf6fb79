"""Endpoints in-process: deploy, swap, rollback, canary, promote, failed deploys, restart, validation."""

import asyncio
import re

import numpy as np
import pytest
from helpers import onnx_models

from maas_jupyter.config import Settings
from maas_jupyter.errors import Conflict, InvalidInput, NotFound, Unavailable
from maas_jupyter.platform import Platform
from maas_jupyter.serving.dataplane import DataPlane
from maas_jupyter.serving.types import InferenceRequest, RequestedOutput, Tensor

X = np.arange(8, dtype=np.float32).reshape(2, 4) / 10


def infer(dataplane, name, version=None, x=X, **request):
    req = InferenceRequest([Tensor("X", "FP32", list(x.shape), x)], **request)
    return asyncio.run(dataplane.infer(name, version, req))


def served_scale(dataplane, name, version=None) -> float:
    """Which linear version answered, read from its output (version k was built with scale k)."""
    response = infer(dataplane, name, version)
    y = response.outputs[0].data
    for scale in (1.0, 2.0, 3.0):
        if np.allclose(y, onnx_models.linear_reference(scale, X), atol=1e-5):
            assert response.model_version == str(int(scale))
            return scale
    raise AssertionError(f"unknown output {y}")


@pytest.fixture
def plane(serving_platform):
    deployments = serving_platform.deployments
    deployments.reconcile()
    return DataPlane(deployments)


def test_deploy_resolves_an_alias_to_a_number_at_deploy_time(serving_platform, plane):
    state = serving_platform.deployments.deploy("ep", "linear", "production")
    assert state["version"] == 2 and state["state"] == "ready"
    serving_platform.registry.set_alias("linear", "production", 3)
    assert served_scale(plane, "ep") == 2.0  # the endpoint does not follow the alias by itself
    assert plane.model_ready("ep") and plane.model_metadata("ep")["versions"] == ["2"]


def test_swap_rollback_and_history(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    old = d.endpoint("ep").routes.primary
    d.deploy("ep", "linear", 3, reason="better")
    assert served_scale(plane, "ep") == 3.0
    assert d.endpoint("ep").routes.previous is old and old.ready  # kept loaded for rollback
    d.rollback("ep")
    assert served_scale(plane, "ep") == 1.0
    assert d.endpoint("ep").routes.primary is old  # the same session: no reload
    d.rollback("ep")  # rolling back twice returns to where we were
    assert served_scale(plane, "ep") == 3.0
    actions = [(e["action"], e["version"]) for e in serving_platform.registry.history("ep")]
    assert actions == [("deploy", 1), ("swap", 3), ("rollback", 1), ("rollback", 3)]


def test_canary_weights_version_routes_and_promote(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    d.canary("ep", 2, 100)
    assert {served_scale(plane, "ep") for _ in range(10)} == {2.0}
    d.update("ep", canary_weight=0)
    assert {served_scale(plane, "ep") for _ in range(10)} == {1.0}
    assert served_scale(plane, "ep", "2") == 2.0 and served_scale(plane, "ep", "1") == 1.0
    assert sorted(plane.model_metadata("ep")["versions"]) == ["1", "2"]
    with pytest.raises(NotFound, match="does not serve version 3"):
        infer(plane, "ep", "3")
    d.update("ep", canary_weight=50)
    seen = {served_scale(plane, "ep") for _ in range(200)}
    assert seen == {1.0, 2.0}
    state = d.promote("ep")
    assert state["version"] == 2 and state["canary"] is None and state["previous_version"] == 1
    assert {served_scale(plane, "ep") for _ in range(10)} == {2.0}
    with pytest.raises(Conflict, match="no canary"):
        d.promote("ep")


def test_rollback_with_a_canary_removes_the_canary(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    d.canary("ep", 3, 100)
    state = d.rollback("ep", reason="canary too slow")
    assert state["canary"] is None and state["version"] == 1
    assert served_scale(plane, "ep") == 1.0
    assert serving_platform.registry.history("ep")[-1]["canary_removed"] == 3


@pytest.mark.parametrize(
    "other, what",
    [
        (lambda: onnx_models.linear(2.0, features=5), "takes X:FP32[-1, 5]"),  # another input width
        (lambda: onnx_models.linear(2.0, classes=4), "gives Y:FP32[-1, 4]"),  # another output width
        (onnx_models.two_inputs, "takes A:FP32"),  # other input names
    ],
)
def test_a_canary_with_other_inputs_or_outputs_is_refused_and_nothing_changes(serving_platform, plane, other, what):
    # The canary shares the primary's clients: a request valid for one must be valid for the other.
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    version = serving_platform.registry.register_onnx("linear", other())["version"]
    with pytest.raises(Conflict, match=re.escape(f"version {version} {what}")):
        d.canary("ep", version, 10)
    assert d.get("ep")["canary"] is None and served_scale(plane, "ep") == 1.0
    assert [e["action"] for e in serving_platform.registry.history("ep")] == ["deploy"]
    assert d.deploy("ep", "linear", version)["version"] == version, "a swap may change the interface"


@pytest.mark.parametrize(
    "bad_model,reason",
    [
        (onnx_models.unloadable, "failed to load in ONNX Runtime"),
        (onnx_models.fails_at_run, "failed its warm-up run"),
    ],
)
def test_a_failed_deploy_keeps_the_current_version_serving(serving_platform, plane, bad_model, reason):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 2)
    bad = serving_platform.registry.register_onnx("linear", bad_model())["version"]
    with pytest.raises(Unavailable, match=reason):
        d.deploy("ep", "linear", bad)
    with pytest.raises(Unavailable, match=reason):
        d.canary("ep", bad, 10)
    assert served_scale(plane, "ep") == 2.0
    assert d.get("ep")["version"] == 2 and d.get("ep")["canary"] is None
    assert [e["action"] for e in serving_platform.registry.history("ep")] == ["deploy"]


def test_a_corrupt_artifact_fails_the_deploy_with_the_reason(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    version = serving_platform.registry.get_version("linear", 3)
    serving_platform.store.path_of(version["sha256"]).write_bytes(b"garbage")
    with pytest.raises(Unavailable, match="corrupt"):
        d.deploy("ep", "linear", 3)
    assert served_scale(plane, "ep") == 1.0


def test_a_restarted_process_serves_what_it_served(serving_platform, plane, tmp_path):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1, max_batch_size=4, max_queue_delay_ms=2)
    d.deploy("ep", "linear", 2)
    d.canary("ep", 3, 100)
    d.deploy("other", "linear", "production")
    again = Platform(Settings.from_env(home=serving_platform.settings.home))
    try:
        again.deployments.reconcile()
        plane2 = DataPlane(again.deployments)
        assert plane2.ready()
        state = again.deployments.get("ep")
        assert (state["version"], state["canary"], state["previous_version"]) == (2, {"version": 3, "weight": 100}, 1)
        assert (state["max_batch_size"], state["max_queue_delay_ms"]) == (4, 2.0)
        assert served_scale(plane2, "ep") == 3.0 and served_scale(plane2, "ep", "2") == 2.0
        assert served_scale(plane2, "other") == 2.0
        again.deployments.rollback("ep")
        again.deployments.rollback("ep")  # the previous version was reloaded at start
        assert served_scale(plane2, "ep") == 1.0
    finally:
        again.deployments.close()
        again.close()


def test_a_version_that_fails_to_load_at_start_answers_503_with_the_reason(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 3)
    d.deploy("fine", "linear", 1)
    version = serving_platform.registry.get_version("linear", 3)
    serving_platform.store.path_of(version["sha256"]).write_bytes(b"garbage")
    again = Platform(Settings.from_env(home=serving_platform.settings.home))
    try:
        again.deployments.reconcile()
        plane2 = DataPlane(again.deployments)
        assert plane2.ready() and not plane2.model_ready("ep")
        with pytest.raises(Unavailable, match="failed to load.*corrupt"):
            infer(plane2, "ep")
        assert plane2.model_metadata("ep")["inputs"][0]["name"] == "X"  # metadata still answers
        assert served_scale(plane2, "fine") == 1.0  # the others serve
        assert again.deployments.get("ep")["state"] == "failed"
        index = {e["name"]: e for e in plane2.repository_index()}
        assert index["ep"]["state"] == "UNAVAILABLE" and "corrupt" in index["ep"]["reason"]
    finally:
        again.deployments.close()
        again.close()


def test_undeploy_and_model_deletion_guard(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    with pytest.raises(Conflict, match="deployed as ep"):
        serving_platform.registry.delete_model("linear")
    d.undeploy("ep")
    with pytest.raises(NotFound):
        infer(plane, "ep")
    with pytest.raises(NotFound):
        d.get("ep")
    assert serving_platform.registry.history("ep")[-1]["action"] == "undeploy"
    serving_platform.registry.delete_model("linear")


def test_repository_unload_and_load(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 2)
    plane.unload("ep")
    assert not plane.model_ready("ep")
    with pytest.raises(Unavailable, match="unloaded"):
        infer(plane, "ep")
    assert d.get("ep")["state"] == "unloaded"
    plane.load("ep")
    assert served_scale(plane, "ep") == 2.0
    assert [e["action"] for e in serving_platform.registry.history("ep")] == ["deploy", "unload", "load"]
    plane.load("linear")  # a registered model with no endpoint: deploy its newest version under its name
    assert served_scale(plane, "linear") == 3.0
    with pytest.raises(NotFound):
        plane.load("nothing-here")


def test_swap_drains_requests_in_flight_before_closing_the_old_session(serving_platform, plane):
    d = serving_platform.deployments
    d.deploy("ep", "linear", 1)
    endpoint = d.endpoint("ep")
    held = endpoint.acquire(None)  # a request in flight on version 1
    d.deploy("ep", "linear", 2)
    d.deploy("ep", "linear", 3)  # version 1 is now neither primary nor previous: retired
    assert not held.closed
    assert held.run_now({"X": X})["Y"].shape == (2, 3)
    held.release()
    assert held.closed


@pytest.mark.parametrize(
    "tensors,reason",
    [
        ([Tensor("Z", "FP32", [2, 4], X)], "unknown input 'Z'"),
        ([Tensor("X", "FP64", [2, 4], X.astype(np.float64))], "datatype FP64; the model expects FP32"),
        ([Tensor("X", "FP32", [2, 5], np.zeros(10, np.float32))], r"shape \[2, 5\]"),
        ([Tensor("X", "FP32", [8], X)], r"shape \[8\]"),
        ([Tensor("X", "FP32", [3, 4], X)], "has 8 elements; shape"),
        ([], "missing input"),
        ([Tensor("X", "FP32", [2, 4], X), Tensor("X", "FP32", [2, 4], X)], "given twice"),
    ],
)
def test_inputs_are_validated_against_the_signature(serving_platform, plane, tensors, reason):
    serving_platform.deployments.deploy("ep", "linear", 1)
    with pytest.raises(InvalidInput, match=reason):
        asyncio.run(plane.infer("ep", None, InferenceRequest(tensors)))


def test_requested_outputs_are_filtered_and_unknown_ones_rejected(serving_platform, plane):
    serving_platform.deployments.deploy("ep", "linear", 1)
    response = infer(plane, "ep", outputs=[RequestedOutput("label")])
    assert [o.name for o in response.outputs] == ["label"] and response.outputs[0].datatype == "INT64"
    with pytest.raises(InvalidInput, match="unknown output"):
        infer(plane, "ep", outputs=[RequestedOutput("nope")])


def test_unknown_endpoint_model_and_bad_settings(serving_platform, plane):
    d = serving_platform.deployments
    with pytest.raises(NotFound):
        infer(plane, "missing")
    with pytest.raises(NotFound):
        d.deploy("ep", "no-such-model")
    with pytest.raises(NotFound):
        d.deploy("ep", "linear", 99)
    with pytest.raises(InvalidInput):
        d.deploy("ep", "linear", 1, max_batch_size=0)
    d.deploy("ep", "linear", 1)
    with pytest.raises(InvalidInput):
        d.canary("ep", 2, 150)
    serving_platform.registry.register_onnx("other", onnx_models.linear(1.0))
    with pytest.raises(Conflict, match="serves model 'linear'"):
        d.deploy("ep", "other")
    with pytest.raises(Conflict, match="another version of that model"):
        d.canary("ep", 1, 10, model="other")


def test_without_keep_previous_the_old_session_closes_and_rollback_reloads_it(serving_platform, plane):
    d = serving_platform.deployments
    d.configure(keep_previous=False)
    d.deploy("ep", "linear", 1)
    old = d.endpoint("ep").routes.primary
    d.deploy("ep", "linear", 2)
    assert old.closed and d.endpoint("ep").routes.previous is None
    d.rollback("ep")
    assert served_scale(plane, "ep") == 1.0 and d.endpoint("ep").routes.primary is not old


def test_session_options_turn_graph_optimisation_on_and_set_intra_op_threads():
    import onnxruntime as ort

    from maas_jupyter.serving.runtime import session_options

    options = session_options(3)
    assert options.intra_op_num_threads == 3
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_changes_work_in_a_process_that_never_reconciled(serving_platform, plane):
    serving_platform.deployments.deploy("ep", "linear", 1)
    serving_platform.deployments.deploy("ep", "linear", 2)
    other = Platform(Settings.from_env(home=serving_platform.settings.home))
    try:
        state = other.deployments.rollback("ep")  # brought up from the stored state, then changed
        assert state["version"] == 1 and state["state"] == "ready"
        assert other.deployments.deploy("ep", "linear", 3)["previous_version"] == 1
    finally:
        other.deployments.close()
        other.close()


def test_every_change_is_published_on_the_event_bus(serving_platform, plane):
    d = serving_platform.deployments
    with serving_platform.events.subscribe() as events:
        d.deploy("ep", "linear", 1)
        d.deploy("ep", "linear", 2)
        d.canary("ep", 3, 10)
        d.promote("ep")
        d.rollback("ep")
        plane.unload("ep")
        plane.load("ep")
        d.update("ep", max_batch_size=2)
        bad = serving_platform.registry.register_onnx("linear", onnx_models.unloadable())["version"]
        with pytest.raises(Unavailable):
            d.deploy("ep", "linear", bad)
        d.undeploy("ep")
        received = events.drain()
    changes = [e["type"] for e in received if e["type"] not in ("deployment.loading",)]
    assert changes == [
        "deployment.deploy",
        "deployment.swap",
        "deployment.canary",
        "deployment.promote",
        "deployment.rollback",
        "deployment.unload",
        "deployment.load",
        "deployment.update",
        "deployment.load_failed",
        "deployment.undeploy",
    ]
    swap = next(e for e in received if e["type"] == "deployment.swap")
    assert swap["name"] == "ep" and swap["deployment"]["version"] == 2
    failed = next(e for e in received if e["type"] == "deployment.load_failed")
    assert failed["version"] == bad and "ONNX Runtime" in failed["error"]
    assert any(e["type"] == "deployment.loading" and e["version"] == 3 for e in received)
