"""The Open Inference Protocol over gRPC (inference.GRPCInferenceService): an adapter over the DataPlane."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging

import grpc

from ..errors import (
    Forbidden,
    InsufficientStorage,
    InvalidInput,
    MaasError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from ..security.authentication import ADMIN, MODEL, OPEN, SERVER, Authenticator
from . import grpc_codec
from .proto import grpc_predict_v2_pb2 as pb
from .proto import grpc_predict_v2_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

# The one place where core errors become gRPC status codes.
STATUS_OF_ERROR: dict[type, grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    InsufficientStorage: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
}


def status_of(error: MaasError) -> grpc.StatusCode:
    """The gRPC status code for a core error (by its most specific known class)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF_ERROR:
            return STATUS_OF_ERROR[cls]
    return grpc.StatusCode.FAILED_PRECONDITION if error.http_status == 409 else grpc.StatusCode.INTERNAL


async def _resolved(value):
    # The data plane may answer metadata calls synchronously and inference asynchronously.
    return await value if inspect.isawaitable(value) else value


def _rpc(access: str, endpoint=None):
    """Wrap a servicer method: check the caller's credential (metadata `authorization: Bearer <token or
    inference key>`) against what the method needs, then map core errors to gRPC statuses once.
    `endpoint(request)` names the endpoint a MODEL method is about."""

    def wrap(method):
        @functools.wraps(method)
        async def handler(self, request, context):
            try:
                caller = self._authenticate(context)
                Authenticator.authorize(caller, access, endpoint(request) if endpoint else None)
                return await method(self, request, context)
            except MaasError as error:
                await context.abort(status_of(error), error.message)
            except (grpc.aio.AbortError, grpc.RpcError):
                raise
            except Exception as error:  # the server keeps serving everyone else; the caller gets the reason
                log.exception("gRPC %s failed", method.__name__)
                await context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")

        return handler

    return wrap


def _model_name(request) -> str:
    return request.name


def _infer_model_name(request) -> str:
    return request.model_name


def _tensor_metadata(specs) -> list[pb.ModelMetadataResponse.TensorMetadata]:
    return [
        pb.ModelMetadataResponse.TensorMetadata(name=spec["name"], datatype=spec["datatype"], shape=list(spec["shape"]))
        for spec in specs or ()
    ]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """GRPCInferenceService over one DataPlane: parse, call, encode; no serving logic of its own."""

    def __init__(self, dataplane, authenticator: Authenticator | None = None):
        self._dataplane = dataplane
        self._authenticator = authenticator

    def _authenticate(self, context):
        if self._authenticator is None:
            return OPEN
        value = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), None)
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        return self._authenticator.authenticate(value)

    @_rpc(SERVER)
    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=bool(await _resolved(self._dataplane.live())))

    @_rpc(SERVER)
    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=bool(await _resolved(self._dataplane.ready())))

    @_rpc(MODEL, _model_name)
    async def ModelReady(self, request, context):
        ready = await _resolved(self._dataplane.model_ready(request.name, request.version or None))
        return pb.ModelReadyResponse(ready=bool(ready))

    @_rpc(SERVER)
    async def ServerMetadata(self, request, context):
        meta = await _resolved(self._dataplane.server_metadata())
        return pb.ServerMetadataResponse(
            name=meta["name"], version=str(meta["version"]), extensions=list(meta.get("extensions", ()))
        )

    @_rpc(MODEL, _model_name)
    async def ModelMetadata(self, request, context):
        meta = await _resolved(self._dataplane.model_metadata(request.name, request.version or None))
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=[str(v) for v in meta.get("versions", ())],
            platform=meta.get("platform", ""),
            inputs=_tensor_metadata(meta.get("inputs")),
            outputs=_tensor_metadata(meta.get("outputs")),
        )

    @_rpc(MODEL, _infer_model_name)
    async def ModelInfer(self, request, context):
        if not request.model_name:
            raise InvalidInput("model_name is empty")
        inference_request = grpc_codec.decode_infer_request(request)
        response = await self._dataplane.infer(request.model_name, request.model_version or None, inference_request)
        return grpc_codec.encode_infer_response(response, raw=grpc_codec.request_wants_raw_outputs(request))

    @_rpc(ADMIN)
    async def RepositoryIndex(self, request, context):
        entries = await asyncio.get_running_loop().run_in_executor(None, self._dataplane.repository_index)
        models = [
            pb.RepositoryIndexResponse.ModelIndex(
                name=entry["name"],
                version=str(entry.get("version") or ""),
                state=entry.get("state") or "",
                reason=entry.get("reason") or "",
            )
            for entry in entries
            if not request.ready or entry.get("state") == "READY"
        ]
        return pb.RepositoryIndexResponse(models=models)

    @_rpc(ADMIN)
    async def RepositoryModelLoad(self, request, context):
        # Loading builds ONNX Runtime sessions: keep it off the event loop that serves inference.
        await asyncio.get_running_loop().run_in_executor(None, self._dataplane.load, request.model_name)
        return pb.RepositoryModelLoadResponse()

    @_rpc(ADMIN)
    async def RepositoryModelUnload(self, request, context):
        await asyncio.get_running_loop().run_in_executor(None, self._dataplane.unload, request.model_name)
        return pb.RepositoryModelUnloadResponse()


async def start_grpc_server(
    dataplane, host: str, port: int, max_message_bytes: int, authenticator: Authenticator | None
) -> grpc.aio.Server:
    """Start inference.GRPCInferenceService on host:port (0 = a free port, see `server.bound_port`)."""
    options = [
        # Over-size messages are refused by gRPC itself with RESOURCE_EXHAUSTED, before any decoding.
        ("grpc.max_receive_message_length", int(max_message_bytes)),
        ("grpc.max_send_message_length", int(max_message_bytes)),
        # A port already taken must fail loudly, not be shared with another process.
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.aio.server(options=options)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(dataplane, authenticator), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound_port = server.add_insecure_port(address)
    except RuntimeError as error:  # grpcio raises rather than returning 0 when the port is taken
        raise Unavailable(f"cannot listen for gRPC on {address}: {error}") from None
    if not bound_port:
        raise Unavailable(f"cannot listen for gRPC on {address}")
    await server.start()
    server.bound_port = bound_port  # the caller asked for port 0 in tests; it needs the real one
    return server
