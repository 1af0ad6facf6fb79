"""The one data plane of the Open Inference Protocol: REST and gRPC are thin adapters over it.

"name" is always an ENDPOINT name (a deployment); "version" a model version number as a string.
Errors are the core's typed errors: InvalidInput (400 / INVALID_ARGUMENT), NotFound (404 / NOT_FOUND),
Unavailable (503 / UNAVAILABLE), PayloadTooLarge (413 / RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

from .. import __version__
from ..errors import InvalidInput
from .types import InferenceRequest, InferenceResponse, Tensor, v2_datatype

SERVER_NAME = "maas-jupyter"
EXTENSIONS = ["binary_tensor_data", "model_repository", "parameters"]
PLATFORM = "onnxruntime_onnx"


class DataPlane:
    """Health, metadata, infer and repository operations over the endpoints of a Deployments object."""

    def __init__(self, deployments):
        self.deployments = deployments
        self._ready = True

    # ---- health and metadata (cheap, synchronous) ------------------------------------------------

    def live(self) -> bool:
        """The process answers."""
        return True

    def ready(self) -> bool:
        """The server has reconciled its endpoints and accepts inference (a failed model does not
        make the server unready; its own model_ready says so)."""
        return self._ready and self.deployments.reconciled

    def server_metadata(self) -> dict:
        """{"name", "version", "extensions"} as the V2 protocol defines it."""
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str | None = None) -> dict:
        """Name, served versions, platform, inputs and outputs of an endpoint (or of one served version)."""
        endpoint = self.deployments.endpoint(name)
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
        endpoint = self.deployments.endpoint(name)
        return endpoint.runtime_for(version, require_loaded=False).ready

    # ---- inference ---------------------------------------------------------------------------------

    async def infer(self, name: str, version: str | None, request: InferenceRequest) -> InferenceResponse:
        """Validate the request against the chosen version's signature, run it (batched), return outputs."""
        endpoint = self.deployments.endpoint(name)
        runtime = endpoint.acquire(version)  # holds the session open until release: swaps drain it
        try:
            feed = runtime.validate(request.inputs)
            wanted = _requested_names(request, runtime.output_names)
            results = await runtime.infer(feed)
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
