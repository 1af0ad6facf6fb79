"""The gRPC adapter in-process over a scripted data plane: rpc mapping, error statuses, token, size limit."""

import asyncio

import grpc
import numpy as np
import pytest

from maas_jupyter.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, Unavailable
from maas_jupyter.security.authentication import Authenticator
from maas_jupyter.serving import grpc_codec
from maas_jupyter.serving.grpc_server import start_grpc_server
from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
from maas_jupyter.serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from maas_jupyter.serving.types import InferenceResponse, Tensor

METADATA = {
    "name": "double",
    "versions": ["1", "2"],
    "platform": "onnxruntime_onnx",
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 3]}],
}


class ScriptedDataPlane:
    """Answers like the DataPlane; `infer` doubles its input or raises the error named by the model."""

    errors = {
        "invalid": InvalidInput("bad shape"),
        "missing": NotFound("no endpoint 'missing'"),
        "broken": Unavailable("failed to load: boom"),
        "huge": PayloadTooLarge("too big"),
        "busy": Conflict("in use"),
        "crash": RuntimeError("kaboom"),
    }

    def __init__(self):
        self.loaded, self.unloaded, self.seen = [], [], []

    def live(self):
        return True

    def ready(self):
        return True

    def server_metadata(self):
        return {"name": "maas-jupyter", "version": "0.1.0", "extensions": ["model_repository"]}

    def model_metadata(self, name, version=None):
        if name != "double":
            raise NotFound(f"no endpoint {name!r}")
        return METADATA

    def model_ready(self, name, version=None):
        return name == "double" and version in (None, "2")

    async def infer(self, name, version, request):
        self.seen.append((name, version, request))
        if name in self.errors:
            raise self.errors[name]
        (tensor,) = request.inputs
        doubled = (tensor.data * 2).astype(np.float32)
        return InferenceResponse(name, version or "2", [Tensor("y", "FP32", tensor.shape, doubled)], request.id)

    def repository_index(self):
        return [
            {"name": "double", "version": "2", "state": "READY", "reason": ""},
            {"name": "broken", "version": "1", "state": "UNAVAILABLE", "reason": "boom"},
        ]

    def load(self, name):
        self.loaded.append(name)

    def unload(self, name):
        self.unloaded.append(name)


def serve(scenario, *, token=None, max_message_bytes=1 << 20):
    """Run `scenario(stub, dataplane)` against a fresh server on a free loopback port, then stop it."""

    async def main():
        dataplane = ScriptedDataPlane()
        authenticator = Authenticator(token, None) if token else None
        server = await start_grpc_server(dataplane, "127.0.0.1", 0, max_message_bytes, authenticator)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.bound_port}") as channel:
                return await scenario(pb_grpc.GRPCInferenceServiceStub(channel), dataplane)
        finally:
            await server.stop(None)

    return asyncio.run(main())


def _infer_request(model="double", raw=True, rows=2):
    message = pb.ModelInferRequest(model_name=model, id="req-1")
    values = np.arange(rows * 3, dtype=np.float32)
    tensor = message.inputs.add(name="x", datatype="FP32", shape=[rows, 3])
    if raw:
        message.raw_input_contents.append(values.tobytes())
    else:
        tensor.contents.fp32_contents.extend(values.tolist())
    return message, values.reshape(rows, 3)


def test_health_and_metadata_rpcs_answer_from_the_data_plane():
    async def scenario(stub, _):
        assert (await stub.ServerLive(pb.ServerLiveRequest())).live
        assert (await stub.ServerReady(pb.ServerReadyRequest())).ready
        assert (await stub.ModelReady(pb.ModelReadyRequest(name="double"))).ready
        assert not (await stub.ModelReady(pb.ModelReadyRequest(name="double", version="1"))).ready
        server = await stub.ServerMetadata(pb.ServerMetadataRequest())
        assert (server.name, server.version, list(server.extensions)) == ("maas-jupyter", "0.1.0", ["model_repository"])
        model = await stub.ModelMetadata(pb.ModelMetadataRequest(name="double"))
        assert (model.name, list(model.versions), model.platform) == ("double", ["1", "2"], "onnxruntime_onnx")
        assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("x", "FP32", [-1, 3])]
        assert [(t.name, t.datatype, list(t.shape)) for t in model.outputs] == [("y", "FP32", [-1, 3])]

    serve(scenario)


@pytest.mark.parametrize("raw", [True, False])
def test_infer_answers_in_the_form_the_request_used(raw):
    async def scenario(stub, dataplane):
        message, values = _infer_request(raw=raw)
        message.model_version = "2"
        response = await stub.ModelInfer(message)
        assert (response.model_name, response.model_version, response.id) == ("double", "2", "req-1")
        assert bool(response.raw_output_contents) == raw
        np.testing.assert_array_equal(grpc_codec.decode_infer_response(response)["y"], values * 2)
        name, version, request = dataplane.seen[-1]
        assert (name, version, request.inputs[0].shape) == ("double", "2", [2, 3])

    serve(scenario)


@pytest.mark.parametrize(
    "model, code, reason",
    [
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT, "bad shape"),
        ("missing", grpc.StatusCode.NOT_FOUND, "no endpoint 'missing'"),
        ("broken", grpc.StatusCode.UNAVAILABLE, "failed to load: boom"),
        ("huge", grpc.StatusCode.RESOURCE_EXHAUSTED, "too big"),
        ("busy", grpc.StatusCode.FAILED_PRECONDITION, "in use"),
        ("crash", grpc.StatusCode.INTERNAL, "RuntimeError: kaboom"),
    ],
)
def test_core_errors_map_to_grpc_statuses_with_the_reason(model, code, reason):
    async def scenario(stub, _):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(_infer_request(model)[0])
        assert caught.value.code() == code
        assert reason in caught.value.details()
        # The server keeps serving after an error.
        assert (await stub.ModelInfer(_infer_request()[0])).outputs[0].name == "y"

    serve(scenario)


def test_malformed_tensor_is_invalid_argument_before_the_data_plane():
    async def scenario(stub, dataplane):
        message, _ = _infer_request()
        message.raw_input_contents[0] = b"\x00" * 5
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(message)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "needs 24 bytes, raw_input_contents holds 5" in caught.value.details()
        assert dataplane.seen == []

    serve(scenario)


def test_message_over_the_size_limit_is_resource_exhausted():
    async def scenario(stub, dataplane):
        message, _ = _infer_request(rows=2000)  # 24 kB of floats against a 16 kB limit
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ModelInfer(message)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in caught.value.details()
        assert dataplane.seen == []
        assert (await stub.ModelInfer(_infer_request()[0])).outputs[0].name == "y"

    serve(scenario, max_message_bytes=16 * 1024)


def test_token_is_required_when_set():
    async def scenario(stub, dataplane):
        for metadata in [
            None,
            (("authorization", "Bearer wrong"),),
            (("authorization", "s3cret"),),
            (("authorization", "Basic s3cret"),),
            (("authorization", "Bearer "),),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ModelInfer(_infer_request()[0], metadata=metadata)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ServerLive(pb.ServerLiveRequest(), metadata=metadata)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dataplane.seen == []
        good = (("authorization", "Bearer s3cret"),)
        assert (await stub.ServerLive(pb.ServerLiveRequest(), metadata=good)).live
        assert (await stub.ServerLive(pb.ServerLiveRequest(), metadata=(("authorization", "bearer s3cret"),))).live
        assert (await stub.ModelInfer(_infer_request()[0], metadata=good)).outputs[0].name == "y"

    serve(scenario, token="s3cret")


def test_repository_rpcs_index_load_and_unload():
    async def scenario(stub, dataplane):
        index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
        assert [(m.name, m.version, m.state, m.reason) for m in index.models] == [
            ("double", "2", "READY", ""),
            ("broken", "1", "UNAVAILABLE", "boom"),
        ]
        ready_only = await stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True))
        assert [m.name for m in ready_only.models] == ["double"]
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="double"))
        await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="double"))
        assert (dataplane.loaded, dataplane.unloaded) == (["double"], ["double"])

    serve(scenario)


def test_a_taken_port_fails_to_start():
    async def main():
        first = await start_grpc_server(ScriptedDataPlane(), "127.0.0.1", 0, 1 << 20, None)
        try:
            with pytest.raises(Unavailable, match="cannot listen"):
                await start_grpc_server(ScriptedDataPlane(), "127.0.0.1", first.bound_port, 1 << 20, None)
        finally:
            await first.stop(None)

    asyncio.run(main())
