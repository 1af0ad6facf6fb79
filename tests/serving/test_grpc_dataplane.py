"""The gRPC server in-process over a real DataPlane and real ONNX Runtime sessions (small onnx.helper models)."""

import asyncio

import grpc
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from maas_jupyter.serving import grpc_codec
from maas_jupyter.serving.dataplane import DataPlane
from maas_jupyter.serving.grpc_server import start_grpc_server
from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
from maas_jupyter.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from maas_jupyter.serving.types import InferenceRequest, RequestedOutput, Tensor

# One Identity per datatype: what goes in must come back, bit for bit, in either encoding.
ECHO_TYPES = {
    "FP16": (TensorProto.FLOAT16, np.array([[0.5, -2.0, 65504.0]], dtype=np.float16)),
    "FP64": (TensorProto.DOUBLE, np.array([[1e-300, -2.5, 3.0]])),
    "INT8": (TensorProto.INT8, np.array([[-128, 0, 127]], dtype=np.int8)),
    "UINT64": (TensorProto.UINT64, np.array([[0, 1, 2**64 - 1]], dtype=np.uint64)),
    "BOOL": (TensorProto.BOOL, np.array([[True, False, True]])),
    "BYTES": (TensorProto.STRING, np.array([[b"a", b"", "\u00e9".encode()]], dtype=object)),
}


def build_echo_onnx(datatypes) -> bytes:
    """in_<TYPE> -> Identity -> out_<TYPE> for each of `datatypes` (keys of ECHO_TYPES)."""
    inputs, outputs, nodes = [], [], []
    for datatype in datatypes:
        elem_type = ECHO_TYPES[datatype][0]
        inputs.append(helper.make_tensor_value_info(f"in_{datatype}", elem_type, ["batch", 3]))
        outputs.append(helper.make_tensor_value_info(f"out_{datatype}", elem_type, ["batch", 3]))
        nodes.append(helper.make_node("Identity", [f"in_{datatype}"], [f"out_{datatype}"]))
    model = helper.make_model(
        helper.make_graph(nodes, "echo", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture
def deployments(platform, make_onnx):
    """`linear` (FP32 softmax, 4 -> 3), `echo` (every datatype through Identity), `echo_typed` (all but FP16)."""
    platform.register("linear", make_onnx(seed=3))
    platform.register("echo", build_echo_onnx(ECHO_TYPES))
    # FP16 has no typed contents field, so typed requests go to an echo without it.
    platform.register("echo_typed", build_echo_onnx([d for d in ECHO_TYPES if d != "FP16"]))
    deployments = getattr(platform, "deployments", None)
    if deployments is None:  # before the Platform owns one
        from maas_jupyter.serving.deployments import Deployments

        deployments = Deployments(platform)
    deployments.reconcile()
    deployments.deploy("linear", "linear")
    deployments.deploy("echo", "echo")
    deployments.deploy("echo_typed", "echo_typed")
    yield deployments
    deployments.close()


def run_against(deployments, scenario):
    """Serve the DataPlane on a free loopback port for `scenario(stub)`, then stop the server."""

    async def main():
        server = await start_grpc_server(DataPlane(deployments), "127.0.0.1", 0, 4 << 20, None)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
                await scenario(pb_grpc.GRPCInferenceServiceStub(channel))
        finally:
            await server.stop(None)

    asyncio.run(main())


def _linear_reference(platform, x):
    _, onnx_bytes = platform.registry.load_onnx("linear", 1)
    return ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("raw", [True, False])
def test_linear_model_answers_like_onnx_runtime(platform, deployments, raw):
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = _linear_reference(platform, x)

    async def scenario(stub):
        request = InferenceRequest([Tensor("x", "FP32", [5, 4], x)])
        response = await stub.ModelInfer(grpc_codec.encode_infer_request(request, model_name="linear", raw=raw))
        assert (response.model_name, response.model_version) == ("linear", "1")
        assert bool(response.raw_output_contents) == raw
        got = grpc_codec.decode_infer_response(response)["y"]
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
        meta = await stub.ModelMetadata(pb.ModelMetadataRequest(name="linear"))
        assert (meta.platform, [i.name for i in meta.inputs], list(meta.inputs[0].shape)) == (
            "onnxruntime_onnx",
            ["x"],
            [-1, 4],
        )
        assert (await stub.ModelReady(pb.ModelReadyRequest(name="linear", version="1"))).ready

    run_against(deployments, scenario)


@pytest.mark.parametrize("endpoint, raw", [("echo", True), ("echo_typed", False), ("echo_typed", True)])
def test_every_datatype_survives_the_round_trip(deployments, endpoint, raw):
    datatypes = [d for d in ECHO_TYPES if endpoint == "echo" or d != "FP16"]

    async def scenario(stub):
        tensors = [Tensor(f"in_{d}", d, [1, 3], ECHO_TYPES[d][1]) for d in datatypes]
        message = grpc_codec.encode_infer_request(InferenceRequest(tensors), model_name=endpoint, raw=raw)
        response = await stub.ModelInfer(message)
        assert bool(response.raw_output_contents) == raw
        got = grpc_codec.decode_infer_response(response)
        for datatype in datatypes:
            expected = ECHO_TYPES[datatype][1]
            assert got[f"out_{datatype}"].dtype == expected.dtype
            assert got[f"out_{datatype}"].tolist() == expected.tolist()

    run_against(deployments, scenario)


def test_fp16_in_typed_contents_is_refused_with_the_raw_alternative(deployments):
    async def scenario(stub):
        tensors = [Tensor(f"in_{d}", d, [1, 3], ECHO_TYPES[d][1]) for d in ECHO_TYPES if d != "FP16"]
        message = grpc_codec.encode_infer_request(InferenceRequest(tensors), model_name="echo", raw=False)
        message.inputs.add(name="in_FP16", datatype="FP16", shape=[1, 3])
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(message)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "FP16 has no typed contents field; send it in raw_input_contents" in caught.value.details()

    run_against(deployments, scenario)


def test_requested_outputs_come_back_in_the_order_asked(deployments):
    async def scenario(stub):
        tensors = [Tensor(f"in_{d}", d, [1, 3], ECHO_TYPES[d][1]) for d in ECHO_TYPES]
        wanted = [RequestedOutput("out_BYTES"), RequestedOutput("out_INT8")]
        message = grpc_codec.encode_infer_request(InferenceRequest(tensors, wanted), model_name="echo", raw=True)
        response = await stub.ModelInfer(message)
        assert [o.name for o in response.outputs] == ["out_BYTES", "out_INT8"]
        assert len(response.raw_output_contents) == 2
        got = grpc_codec.decode_infer_response(response)
        assert got["out_BYTES"].tolist() == ECHO_TYPES["BYTES"][1].tolist()
        assert got["out_INT8"].tolist() == ECHO_TYPES["INT8"][1].tolist()

    run_against(deployments, scenario)


@pytest.mark.parametrize(
    "mutate, code, reason",
    [
        (lambda m: setattr(m.inputs[0], "name", "z"), grpc.StatusCode.INVALID_ARGUMENT, "'z'"),
        (lambda m: setattr(m.inputs[0], "datatype", "FP64"), grpc.StatusCode.INVALID_ARGUMENT, "FP64"),
        (lambda m: m.outputs.add(name="nope"), grpc.StatusCode.INVALID_ARGUMENT, "unknown output 'nope'"),
        (lambda m: setattr(m, "model_name", "ghost"), grpc.StatusCode.NOT_FOUND, "ghost"),
        (lambda m: setattr(m, "model_version", "9"), grpc.StatusCode.NOT_FOUND, "9"),
    ],
)
def test_wrong_requests_get_the_status_and_the_reason(deployments, mutate, code, reason):
    async def scenario(stub):
        message = pb.ModelInferRequest(model_name="linear")
        message.inputs.add(name="x", datatype="FP32", shape=[2, 4])
        message.raw_input_contents.append(np.zeros((2, 4), dtype=np.float32).tobytes())
        if "FP64" in reason:
            message.raw_input_contents[0] = np.zeros((2, 4)).tobytes()
        mutate(message)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(message)
        assert caught.value.code() == code
        assert reason in caught.value.details()

    run_against(deployments, scenario)


def test_wrong_shape_is_invalid_argument(deployments):
    async def scenario(stub):
        message = pb.ModelInferRequest(model_name="linear")
        message.inputs.add(name="x", datatype="FP32", shape=[2, 5])
        message.raw_input_contents.append(np.zeros((2, 5), dtype=np.float32).tobytes())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(message)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "shape" in caught.value.details()

    run_against(deployments, scenario)


def test_repository_index_lists_the_endpoints(deployments):
    async def scenario(stub):
        index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
        assert sorted((m.name, m.state) for m in index.models) == [
            ("echo", "READY"),
            ("echo_typed", "READY"),
            ("linear", "READY"),
        ]
        await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="echo"))
        assert not (await stub.ModelReady(pb.ModelReadyRequest(name="echo"))).ready
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="echo"))
        assert (await stub.ModelReady(pb.ModelReadyRequest(name="echo"))).ready

    run_against(deployments, scenario)
