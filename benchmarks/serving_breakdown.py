"""Where a request's time goes inside `maas serve`, layer by layer, in-process (MNIST MLP, batch 1).

    python benchmarks/serving_breakdown.py

Each figure is the best of several timed repeats of one layer alone, so other load on the machine moves it
far less than the end-to-end table of benchmarks/serving.py. Layers: the ONNX Runtime run itself; the
codecs (REST JSON, REST binary, gRPC) decode + encode; the data plane around the run (endpoint lookup,
validation, acquire/release, thread-pool hop or batcher) measured as DataPlane.infer minus the bare run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from mnist_mlp import INPUT_NAME, OUTPUT_NAME, build_mnist_mlp, sample_images  # noqa: E402


def best_us(call, number: int = 2000, repeat: int = 7) -> float:
    """Best per-call microseconds over `repeat` runs of `number` calls."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def codec_costs(image: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Decode request + encode response per transport, including protobuf parse/serialize for gRPC."""
    from maas_jupyter.serving import codec_rest, grpc_codec
    from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb
    from maas_jupyter.serving.types import InferenceResponse, Tensor

    response = InferenceResponse("mnist", "1", [Tensor(OUTPUT_NAME, "FP32", [1, 10], probabilities)])
    json_body = orjson.dumps(
        {"inputs": [{"name": INPUT_NAME, "shape": [1, 784], "datatype": "FP32", "data": image.ravel().tolist()}]}
    )
    raw = image.astype("<f4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": INPUT_NAME,
                    "shape": [1, 784],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": OUTPUT_NAME, "parameters": {"binary_data": True}}],
        }
    )
    message = pb.ModelInferRequest(model_name="mnist")
    message.inputs.add(name=INPUT_NAME, datatype="FP32", shape=[1, 784])
    message.raw_input_contents.append(raw)
    wire = message.SerializeToString()

    def rest_json():
        request = codec_rest.decode_request(json_body, None)
        codec_rest.encode_response(response, request)

    def rest_binary():
        request = codec_rest.decode_request(header + raw, len(header))
        codec_rest.encode_response(response, request)

    def grpc_raw():
        parsed = pb.ModelInferRequest.FromString(wire)
        grpc_codec.decode_infer_request(parsed)
        grpc_codec.encode_infer_response(response, raw=True).SerializeToString()

    return {
        "codec rest_json": best_us(rest_json, 500),
        "codec rest_binary": best_us(rest_binary),
        "codec grpc (raw contents)": best_us(grpc_raw),
    }


def dataplane_costs(onnx_bytes: bytes, image: np.ndarray) -> dict[str, float]:
    """The bare session run, and DataPlane.infer end to end with batching off and on."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform
    from maas_jupyter.serving.dataplane import DataPlane
    from maas_jupyter.serving.types import InferenceRequest, Tensor

    with tempfile.TemporaryDirectory(prefix="maas-breakdown-") as home:
        platform = Platform(Settings.from_env(home=home))
        try:
            platform.register("mnist", onnx_bytes)
            deployments = platform.deployments
            deployments.configure(intra_op_threads=1)
            deployments.reconcile()
            deployments.deploy("off", "mnist", 1, max_batch_size=1, max_queue_delay_ms=0)
            deployments.deploy("on", "mnist", 1, max_batch_size=32, max_queue_delay_ms=0)
            session = deployments.endpoint("off").runtime_for(None).session
            feed = {INPUT_NAME: image}
            costs = {"onnx runtime run (batch 1)": best_us(lambda: session.run(None, feed))}
            dataplane = DataPlane(deployments, monitor=platform.monitor)  # as maas serve runs it
            request = InferenceRequest([Tensor(INPUT_NAME, "FP32", [1, 784], image.ravel())])

            async def sequential(endpoint: str, count: int) -> tuple[float, float]:
                for _ in range(200):
                    await dataplane.infer(endpoint, None, request)
                best_wall = best_cpu = float("inf")
                for _ in range(7):
                    wall, cpu = time.perf_counter(), time.process_time()
                    for _ in range(count):
                        await dataplane.infer(endpoint, None, request)
                    best_wall = min(best_wall, (time.perf_counter() - wall) / count * 1e6)
                    best_cpu = min(best_cpu, (time.process_time() - cpu) / count * 1e6)
                return best_wall, best_cpu

            run_us = costs["onnx runtime run (batch 1)"]
            for endpoint in ("off", "on"):
                wall, cpu = asyncio.run(sequential(endpoint, 1000))
                # Wall time includes waiting for the pool thread to wake; CPU time is what the glue burns.
                costs[f"data plane glue, batching {endpoint} (wall)"] = wall - run_us
                costs[f"data plane glue, batching {endpoint} (cpu)"] = cpu - run_us
        finally:
            platform.deployments.close()
            platform.close()
    return costs


def main() -> None:
    """Print one line per layer: microseconds per batch-1 request."""
    import onnxruntime as ort

    from maas_jupyter.serving.runtime import session_options

    onnx_bytes = build_mnist_mlp()
    image = sample_images(1)
    session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {INPUT_NAME: image})[0]
    costs = {**dataplane_costs(onnx_bytes, image), **codec_costs(image, probabilities)}
    print(f"{'layer (batch-1 MNIST MLP request)':<40} {'us':>8}")
    for layer, micros in costs.items():
        print(f"{layer:<40} {micros:>8.1f}")


if __name__ == "__main__":
    main()
