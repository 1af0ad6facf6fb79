"""gRPC against a real `maas serve` process: the official tritonclient.grpc client and the raw stubs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from helpers import free_port, stop_process
from helpers.onnx_models import build_linear_onnx

from maas_jupyter.serving import grpc_codec
from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
from maas_jupyter.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "grpc-test-token"
MAX_MESSAGE_BYTES = 256 * 1024
AUTH = (("authorization", f"Bearer {TOKEN}"),)


@contextlib.contextmanager
def maas_serve(home: Path, http_port: int, grpc_port: int, *extra: str):
    """`maas serve` on loopback until the block ends; the test stops the process it started (by its PID)."""
    # A MAAS_TOKEN from the caller's environment would silently switch authentication on.
    env = {key: value for key, value in os.environ.items() if key != "MAAS_TOKEN"}
    env.update(MAAS_HOME=str(home), PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    command = [
        sys.executable,
        "-m",
        "maas_jupyter.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        *extra,
    ]
    log_path = home / f"serve-{grpc_port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"maas serve exited:\n{log_path.read_text()[-3000:]}"
            request = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v2/health/ready", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(request, timeout=1) as answer:
                    if answer.status == 200:
                        break
            assert time.monotonic() < deadline, f"maas serve not ready:\n{log_path.read_text()[-3000:]}"
            time.sleep(0.2)
        yield process
    finally:
        stop_process(process, grace_s=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A `maas serve` with token and a small message limit, serving `linear` (x: FP32 [-1, 4] -> y: [-1, 3])."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    home = tmp_path_factory.mktemp("maas-serve-grpc")
    onnx_bytes = build_linear_onnx(seed=11)
    platform = Platform(Settings.from_env(home=home))
    try:
        platform.register("linear", onnx_bytes)
        platform.deployments.deploy("linear", "linear")
    finally:
        platform.deployments.close()
        platform.close()
    http_port, grpc_port = free_port(), free_port()
    with maas_serve(home, http_port, grpc_port, "--token", TOKEN, "--max-request-bytes", str(MAX_MESSAGE_BYTES)):
        yield {"address": f"127.0.0.1:{grpc_port}", "onnx": onnx_bytes}


def reference(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.fixture
def stub(served):
    with grpc.insecure_channel(served["address"]) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def _error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# ---- the official client, in its own process ----------------------------------------------------


@pytest.fixture(scope="module")
def tritonclient_seen(served):
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    script = Path(__file__).with_name("tritonclient_grpc_scenarios.py")
    output = subprocess.run(
        [sys.executable, str(script), served["address"], TOKEN, "linear", json.dumps(x.tolist())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert output.returncode == 0, output.stderr[-3000:]
    return json.loads(output.stdout.strip().splitlines()[-1]), x


def test_tritonclient_health_and_metadata(tritonclient_seen):
    seen, _ = tritonclient_seen
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["server_metadata"]["name"] == "maas-jupyter"
    assert "model_repository" in seen["server_metadata"]["extensions"]
    meta = seen["model_metadata"]
    assert (meta["name"], meta["platform"], meta["versions"]) == ("linear", "onnxruntime_onnx", ["1"])
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "4"]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": ["-1", "3"]}]


def test_tritonclient_infer_matches_onnx_runtime(served, tritonclient_seen):
    seen, x = tritonclient_seen
    expected = reference(served["onnx"], x)
    infer = seen["infer"]
    assert infer["raw"], "a raw request (tritonclient's) gets raw outputs"
    assert (infer["id"], infer["model_version"]) == ("triton-1", "1")
    np.testing.assert_allclose(np.asarray(infer["y"], dtype=np.float32), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(seen["infer_version_1"], dtype=np.float32), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "scenario, status, reason",
    [
        ("wrong_datatype", "StatusCode.INVALID_ARGUMENT", "FP64"),
        ("wrong_shape", "StatusCode.INVALID_ARGUMENT", "shape"),
        ("wrong_name", "StatusCode.INVALID_ARGUMENT", "not_x"),
        ("unknown_model", "StatusCode.NOT_FOUND", "ghost"),
        ("unknown_model_metadata", "StatusCode.NOT_FOUND", "ghost"),
        ("no_token", "StatusCode.UNAUTHENTICATED", "bearer token"),
    ],
)
def test_tritonclient_errors_carry_status_and_reason(tritonclient_seen, scenario, status, reason):
    seen, _ = tritonclient_seen
    assert seen[scenario]["status"] == status
    assert reason in seen[scenario]["message"]


def test_tritonclient_repository_index(tritonclient_seen):
    seen, _ = tritonclient_seen
    assert [(m["name"], m["state"]) for m in seen["index"]["models"]] == [("linear", "READY")]


# ---- the raw stubs, in this process ---------------------------------------------------------------


@pytest.mark.parametrize("raw", [True, False])
def test_raw_stub_infer_with_contents_and_raw_contents(served, stub, raw):
    x = np.random.default_rng(6).standard_normal((4, 4)).astype(np.float32)
    message = pb.ModelInferRequest(model_name="linear", model_version="1", id="stub-1")
    tensor = message.inputs.add(name="x", datatype="FP32", shape=[4, 4])
    if raw:
        message.raw_input_contents.append(x.tobytes())
    else:
        tensor.contents.fp32_contents.extend(x.ravel().tolist())
    message.outputs.add(name="y")
    response = stub.ModelInfer(message, metadata=AUTH)
    assert (response.model_name, response.model_version, response.id) == ("linear", "1", "stub-1")
    assert bool(response.raw_output_contents) == raw
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [("y", "FP32", [4, 3])]
    np.testing.assert_allclose(
        grpc_codec.decode_infer_response(response)["y"], reference(served["onnx"], x), rtol=1e-6, atol=1e-7
    )


def test_raw_stub_metadata(stub):
    server = stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=AUTH)
    assert server.name == "maas-jupyter" and server.version
    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="linear"), metadata=AUTH)
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("x", "FP32", [-1, 4])]
    assert stub.ModelReady(pb.ModelReadyRequest(name="linear", version="1"), metadata=AUTH).ready


def test_raw_stub_wrong_requests(stub):
    message = pb.ModelInferRequest(model_name="linear")
    message.inputs.add(name="x", datatype="FP32", shape=[2, 4]).contents.fp32_contents.extend([0.0] * 7)
    error = _error(lambda: stub.ModelInfer(message, metadata=AUTH))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs 8 elements, fp32_contents holds 7" in error.details()
    message = pb.ModelInferRequest(model_name="linear")
    message.inputs.add(name="x", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend([0.0] * 4)
    message.outputs.add(name="nope")
    error = _error(lambda: stub.ModelInfer(message, metadata=AUTH))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "nope" in error.details()
    error = _error(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="linear", version="7"), metadata=AUTH))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_raw_stub_message_over_the_limit_is_resource_exhausted(stub):
    rows = MAX_MESSAGE_BYTES // 16 + 1  # 16 bytes a row: just over the limit
    message = pb.ModelInferRequest(model_name="linear")
    message.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
    message.raw_input_contents.append(np.zeros((rows, 4), dtype=np.float32).tobytes())
    error = _error(lambda: stub.ModelInfer(message, metadata=AUTH))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(MAX_MESSAGE_BYTES) in error.details()
    # Still serving after refusing it.
    assert stub.ServerLive(pb.ServerLiveRequest(), metadata=AUTH).live


def test_raw_stub_without_or_with_a_wrong_token_is_unauthenticated(stub):
    for metadata in (None, (("authorization", "Bearer wrong"),)):
        error = _error(lambda metadata=metadata: stub.ServerReady(pb.ServerReadyRequest(), metadata=metadata))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
