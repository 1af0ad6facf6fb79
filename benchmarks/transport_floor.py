"""The floor the serving benchmark compares against: the real V2 transports and codecs over a bare data plane.

    python benchmarks/transport_floor.py --http-port P --grpc-port G

Serves the same REST application (serving/rest.py, its JSON and binary codec) and the same gRPC server
(serving/grpc_server.py, its codec) as `maas serve`, but the data plane behind them only runs the ONNX
session inline on the event loop: no endpoint lookup, no validation, no batcher, no thread pool hop.
What `maas serve` loses against this floor is data-plane glue; what this floor loses against raw ONNX
Runtime is HTTP/gRPC and decoding.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from mnist_mlp import INPUT_NAME, OUTPUT_NAME, build_mnist_mlp  # noqa: E402

from maas_jupyter.serving.types import InferenceResponse, Tensor  # noqa: E402

SIGNATURE = {
    "inputs": [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, 784]}],
    "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, 10]}],
}


class InlineDataPlane:
    """The least a data plane can do: run the session inline and wrap the answer (any model name)."""

    def __init__(self, onnx_bytes: bytes):
        import onnxruntime as ort

        from maas_jupyter.serving.runtime import session_options

        self.session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def server_metadata(self) -> dict:
        return {"name": "transport-floor", "version": "0", "extensions": ["binary_tensor_data"]}

    def model_metadata(self, name: str, version=None) -> dict:
        return {"name": name, "versions": ["1"], "platform": "onnxruntime_onnx", **SIGNATURE}

    def model_ready(self, name: str, version=None) -> bool:
        return True

    async def infer(self, name, version, request) -> InferenceResponse:
        """Run the one input through the session on the event loop thread."""
        tensor = request.inputs[0]
        (output,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: tensor.data.reshape(tensor.shape)})
        return InferenceResponse(name, "1", [Tensor(OUTPUT_NAME, "FP32", list(output.shape), output)], request.id)

    def repository_index(self) -> list[dict]:
        return []


async def serve(http_port: int, grpc_port: int) -> None:
    """REST and gRPC on 127.0.0.1 until SIGTERM/SIGINT."""
    from tornado.httpserver import HTTPServer

    from maas_jupyter.security.authentication import Authenticator
    from maas_jupyter.security.request_policy import RequestPolicy
    from maas_jupyter.serving.grpc_server import start_grpc_server
    from maas_jupyter.serving.rest import make_application

    dataplane = InlineDataPlane(build_mnist_mlp())
    limit = 64 * 1024 * 1024
    application = make_application(None, dataplane, Authenticator(None, None), RequestPolicy(), limit)
    http_server = HTTPServer(application, max_body_size=2 * limit)
    http_server.listen(http_port, address="127.0.0.1")
    grpc_server = await start_grpc_server(dataplane, "127.0.0.1", grpc_port, limit, None)
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
    await stopping.wait()
    http_server.stop()
    await grpc_server.stop(1)


def main() -> None:
    """Parse the ports and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.http_port, args.grpc_port))


if __name__ == "__main__":
    main()
