"""The one data plane of the Open Inference Protocol: REST and gRPC are thin adapters over it.

"name" is always an ENDPOINT name (a deployment); "version" a model version number as a string.
Errors are the core's typed errors: InvalidInput (400 / INVALID_ARGUMENT), NotFound (404 / NOT_FOUND),
Unavailable (503 / UNAVAILABLE), PayloadTooLarge (413 / RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .._version import __version__
from ..errors import InvalidInput, MaasError, NotFound, Unavailable
from .types import InferenceRequest, InferenceResponse, Tensor, v2_datatype

if TYPE_CHECKING:
    from ..monitoring import Monitor

SERVER_NAME = "maas-jupyter"
EXTENSIONS = ["binary_tensor_data", "model_repository", "parameters"]
PLATFORM = "onnxruntime_onnx"


class DataPlane:
    """Health, metadata, infer and repository operations over the endpoints of a Deployments object."""

    def __init__(self, deployments, monitor: Monitor | None = None):
        self.deployments = deployments
        self._ready = True
        # Set by a server that listens before it has brought its stored endpoints back (maas serve after a
        # restart): until then an unknown name may be one not restored yet, so it is 503, not 404.
        self.restoring = False
        # Serving metrics and input samples (the platform's monitor); None serves without recording.
        self.monitor = monitor

    # ---- health and metadata (cheap, synchronous) ------------------------------------------------

    def _endpoint(self, name: str):
        try:
            return self.deployments.endpoint(name)
        except NotFound:
            if self.restoring:
                raise Unavailable(
                    "this server is restoring its endpoints after a start; try again in a moment"
                ) from None
            raise

    def live(self) -> bool:
        """The process answers."""
        return True

    def ready(self) -> bool:
        """The server has reconciled its endpoints and accepts inference (a failed model does not
        make the server unready; its own model_ready says so)."""
        return self._ready and not self.restoring and self.deployments.reconciled

    def server_metadata(self) -> dict:
        """{"name", "version", "extensions"} as the V2 protocol defines it."""
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict:
        """Name, served versions, platform, inputs and outputs of an endpoint (or of one served version)."""
        endpoint = self._endpoint(name)
        runtime = endpoint.runtime_for(version, require_loaded=False)
        signature = runtime.signature
        return {
            "name": name,
            "versions": endpoint.served_versions(),
            "platform": PLATFORM,
            "inputs": [dict(spec) for spec in signature["inputs"]],
            "outputs": [dict(spec) for spec in signature["outputs"]],
        }

    def model_ready(self, name: str, version: str | None = None) -> bool:
        """Whether the endpoint (or that served version) can run inference now; NotFound if unknown."""
        endpoint = self._endpoint(name)
        return endpoint.runtime_for(version, require_loaded=False).ready

    # ---- inference ---------------------------------------------------------------------------------

    async def infer(self, name: str, version: str | None, request: InferenceRequest) -> InferenceResponse:
        """Validate the request against the chosen version's signature, run it (batched), return outputs."""
        endpoint = self._endpoint(name)  # unknown names are not recorded: no label per typo
        if self.monitor is None:
            runtime = endpoint.acquire(version)
            return await self._infer(runtime, name, request, None)
        started = time.perf_counter()
        metrics = self.monitor.metrics
        try:
            runtime = endpoint.acquire(version)
        except MaasError as exc:
            recorder = metrics.recorder(name, version or endpoint.routes.primary.version)
            recorder.started()
            recorder.finished(time.perf_counter() - started, exc.http_status)
            raise
        recorder = runtime.observer  # a runtime belongs to one endpoint: its recorder stays valid
        if recorder is None or recorder.retired:
            recorder = runtime.observer = metrics.recorder(name, runtime.version)
        recorder.started()
        code, model_failed = 200, False
        try:
            return await self._infer(runtime, name, request, self.monitor)
        except ModelRunFailed as failure:
            code, model_failed = failure.error.http_status, True
            raise failure.error from None
        except MaasError as exc:
            code = exc.http_status
            raise
        except asyncio.CancelledError:
            code = 499  # the client went away
            raise
        except BaseException:
            code = 500
            raise
        finally:
            recorder.finished(time.perf_counter() - started, code, model_failed)

    async def _infer(self, runtime, name: str, request: InferenceRequest, monitor) -> InferenceResponse:
        try:  # `runtime` was acquired: it holds the session open until release, so swaps drain it
            feed = runtime.validate(request.inputs)
            wanted = _requested_names(request, runtime.output_names)
            if monitor is not None:
                monitor.sample_inputs(name, feed, runtime.input_names)
            try:
                results = await runtime.infer(feed)
            except InvalidInput as exc:  # the input passed validation: the model itself failed on it
                if monitor is None:
                    raise
                raise ModelRunFailed(exc) from None
        finally:
            runtime.release()
        outputs = []
        for output_name in wanted:
            array = results[output_name]
            outputs.append(Tensor(output_name, v2_datatype(array.dtype), list(array.shape), array, {}))
        return InferenceResponse(name, str(runtime.version), outputs, request.id, {})

    # ---- model repository extension (blocking: they load sessions; call them in an executor) ----

    def repository_index(self) -> list[dict]:
        """[{"name", "version", "state", "reason"}] for every endpoint."""
        return self.deployments.repository_index()

    def load(self, name: str) -> None:
        """(Re)load an endpoint's sessions, or deploy the newest version of the model `name` as `name`."""
        self.deployments.load(name)

    def unload(self, name: str) -> None:
        """Release an endpoint's sessions; it stays deployed but unavailable until loaded again."""
        self.deployments.unload(name)


class ModelRunFailed(Exception):
    """Carries an InvalidInput raised by the model run (not by validation) to the metrics recording."""

    def __init__(self, error: InvalidInput):
        super().__init__(error.message)
        self.error = error


def _requested_names(request: InferenceRequest, available: list[str]) -> list[str]:
    if not request.outputs:
        return available
    names = []
    for output in request.outputs:
        if output.name not in available:
            raise InvalidInput(f"unknown output {output.name!r}; the model's outputs are {available}")
        if output.name in names:
            raise InvalidInput(f"output {output.name!r} is requested twice")
        names.append(output.name)
    return names
