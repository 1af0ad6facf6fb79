"""The benchmark's client process: closed-loop load over V2 REST (JSON, binary) and gRPC, one JSON line per cell.

Run by benchmarks/serving.py in its own process so the client never shares a GIL with the server or the
in-process ONNX Runtime baseline. The client stays cheap on purpose (pre-built request bytes, a bare
HTTP/1.1 keep-alive reader, gRPC bytes without client-side protobuf work) so the figures measure the server.

Optional cell keys: `token` (sent as `Authorization: Bearer`, over REST and gRPC) and `report_every`
(seconds: also print one line per interval of the measured phase, as benchmarks/soak.py reads them).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mnist_mlp import INPUT_NAME, OUTPUT_NAME, sample_images  # noqa: E402

GRPC_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"


def _authorization(token: str | None) -> str:
    return f"Authorization: Bearer {token}\r\n" if token else ""


def rest_json_request(host: str, port: int, endpoint: str, image: np.ndarray, token: str | None = None) -> bytes:
    """A complete HTTP/1.1 request: V2 JSON infer with the flat tensor in `data`."""
    body = orjson.dumps(
        {"inputs": [{"name": INPUT_NAME, "shape": [1, 784], "datatype": "FP32", "data": image.ravel().tolist()}]}
    )
    head = (
        f"POST /v2/models/{endpoint}/infer HTTP/1.1\r\nHost: {host}:{port}\r\n{_authorization(token)}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def rest_binary_request(host: str, port: int, endpoint: str, image: np.ndarray, token: str | None = None) -> bytes:
    """A complete HTTP/1.1 request using the binary tensor data extension both ways."""
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
    body = header + raw
    head = (
        f"POST /v2/models/{endpoint}/infer HTTP/1.1\r\nHost: {host}:{port}\r\n{_authorization(token)}"
        f"Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {len(header)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def grpc_request(endpoint: str, image: np.ndarray) -> bytes:
    """A serialized ModelInferRequest with raw input contents, as tritonclient sends it."""
    from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb

    message = pb.ModelInferRequest(model_name=endpoint)
    message.inputs.add(name=INPUT_NAME, datatype="FP32", shape=[1, 784])
    message.raw_input_contents.append(image.astype("<f4").tobytes())
    return message.SerializeToString()


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None where unavailable."""
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class HttpStatusError(RuntimeError):
    """A complete answer other than 200 (the connection stays usable)."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status


def error_kind(error: Exception) -> str:
    """How a failed call is counted: `HTTP 503`, `grpc UNAVAILABLE`, or the exception's type."""
    if isinstance(error, HttpStatusError):
        return f"HTTP {error.status}"
    code = getattr(error, "code", None)  # grpc.aio.AioRpcError
    if callable(code):
        return f"grpc {code().name}"
    return type(error).__name__


def _header_value(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


class HttpConnection:
    """One keep-alive HTTP/1.1 connection sending pre-built requests."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        return cls(*await asyncio.open_connection(host, port))

    async def call(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Send one request; (status, head, body)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(_header_value(head, b"content-length") or 0)
        body = await self.reader.readexactly(length) if length else b""
        return status, head, body

    def close(self) -> None:
        self.writer.close()


def rest_probabilities(head: bytes, body: bytes) -> np.ndarray:
    """The output tensor of a V2 REST answer, JSON or binary."""
    header_length = _header_value(head, b"inference-header-content-length")
    if header_length is None:
        output = orjson.loads(body)["outputs"][0]
        return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
    split = int(header_length)
    output = orjson.loads(body[:split])["outputs"][0]
    return np.frombuffer(body[split:], dtype="<f4").reshape(output["shape"])


def grpc_probabilities(answer: bytes) -> np.ndarray:
    from maas_jupyter.serving import grpc_codec
    from maas_jupyter.serving.proto import grpc_predict_v2_pb2 as pb

    return grpc_codec.decode_infer_response(pb.ModelInferResponse.FromString(answer))[OUTPUT_NAME]


async def run_cell(cell: dict, images: np.ndarray, expected: np.ndarray, grpc_channel) -> dict:
    """Closed-loop load at `concurrency` for `seconds` (or `max_requests`); latencies and correctness."""
    host, port, endpoint, transport = cell["host"], cell["http_port"], cell["endpoint"], cell["transport"]
    builders = {"rest_json": rest_json_request, "rest_binary": rest_binary_request}
    variants, token = len(images), cell.get("token")
    if transport == "grpc":
        infer = grpc_channel.unary_unary(GRPC_INFER_METHOD)  # bytes in, bytes out: no client-side protobuf work
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        requests = [grpc_request(endpoint, images[i : i + 1]) for i in range(variants)]
    else:
        requests = [builders[transport](host, port, endpoint, images[i : i + 1], token) for i in range(variants)]
        connections = [await HttpConnection.open(host, port) for _ in range(cell["concurrency"])]

    async def call(worker: int, index: int) -> bytes | tuple:
        if transport == "grpc":
            return await infer(requests[index], metadata=metadata)
        if connections[worker] is None:  # dropped after a transport error
            connections[worker] = await HttpConnection.open(host, port)
        status, head, body = await connections[worker].call(requests[index])
        if status != 200:
            raise HttpStatusError(status, body)
        return head, body

    # Correctness first: every variant's answer must match in-process ONNX Runtime.
    worst = 0.0
    for index in range(variants):
        answer = await call(0, index)
        got = grpc_probabilities(answer) if transport == "grpc" else rest_probabilities(*answer)
        worst = max(worst, float(np.max(np.abs(got - expected[index : index + 1]))))

    latencies = array.array("d")  # 8 bytes a request: a long soak keeps millions
    errors: Counter[str] = Counter()
    deadline_holder = {}

    async def worker(worker_id: int, record: bool):
        index = worker_id % variants
        while time.perf_counter() < deadline_holder["end"] and (not record or len(latencies) < cell["max_requests"]):
            start, failed = time.perf_counter(), None
            try:
                await call(worker_id, index)
            except Exception as error:
                failed = error
                errors[error_kind(error)] += 1
            if record:
                latencies.append(time.perf_counter() - start)
            if failed is not None and transport != "grpc" and not isinstance(failed, HttpStatusError):
                # A broken connection would fail every later call of this worker: drop it (the next call
                # reopens it), and do not spin while the server is unreachable.
                if connections[worker_id] is not None:
                    connections[worker_id].close()
                    connections[worker_id] = None
                await asyncio.sleep(0.05)
            index = (index + 1) % variants

    def report_interval(state: dict) -> None:
        """One line for the requests since the last one: rate, errors by kind, p50/p99."""
        now, done = time.perf_counter(), len(latencies)
        window = np.frombuffer(latencies, dtype=np.float64)[state["done"] : done] * 1000
        print(
            json.dumps(
                {
                    "interval_end_s": round(now - started, 3),
                    "requests": done - state["done"],
                    "requests_per_s": (done - state["done"]) / (now - state["at"]),
                    "errors": dict(errors - state["errors"]),
                    "p50_ms": float(np.percentile(window, 50)) if len(window) else None,
                    "p99_ms": float(np.percentile(window, 99)) if len(window) else None,
                }
            ),
            flush=True,
        )
        state.update(at=now, done=done, errors=Counter(errors))

    async def reporter(every: float, state: dict) -> None:
        while state["at"] + every < deadline_holder["end"]:  # the last interval is reported once the run drains
            await asyncio.sleep(max(0.0, state["at"] + every - time.perf_counter()))
            report_interval(state)

    deadline_holder["end"] = time.perf_counter() + cell["warmup_seconds"]
    await asyncio.gather(*(worker(w, False) for w in range(cell["concurrency"])))
    # Server CPU per request barely moves with other load on the machine, unlike requests/s.
    cpu_before = process_cpu_seconds(cell.get("server_pid"))
    started = time.perf_counter()
    deadline_holder["end"] = started + cell["seconds"]
    interval = {"at": started, "done": 0, "errors": Counter()}
    reporting = asyncio.create_task(reporter(cell["report_every"], interval)) if cell.get("report_every") else None
    await asyncio.gather(*(worker(w, True) for w in range(cell["concurrency"])))
    elapsed = time.perf_counter() - started
    if reporting is not None:
        reporting.cancel()
        if len(latencies) > interval["done"]:
            report_interval(interval)
    cpu_after = process_cpu_seconds(cell.get("server_pid"))
    server_cpu_us = None
    if cpu_before is not None and cpu_after is not None and latencies:
        server_cpu_us = (cpu_after - cpu_before) / len(latencies) * 1e6
    if transport != "grpc":
        for connection in connections:
            if connection is not None:
                connection.close()
    latency_ms = np.asarray(latencies) * 1000
    return {
        **{key: cell[key] for key in ("transport", "endpoint", "batching", "concurrency")},
        "requests": len(latencies),
        "failures": sum(errors.values()),
        "errors": dict(errors),
        "seconds": round(elapsed, 3),
        "requests_per_s": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": float(np.percentile(latency_ms, 50)) if len(latency_ms) else None,
        "p99_ms": float(np.percentile(latency_ms, 99)) if len(latency_ms) else None,
        "max_abs_diff": worst,
        "server_cpu_us_per_request": server_cpu_us,
    }


async def main_async(cells: list[dict]) -> None:
    import grpc

    images = sample_images(16, seed=7)
    expected = np.load(cells[0]["expected_path"]) if cells else None
    grpc_address = f"{cells[0]['host']}:{cells[0]['grpc_port']}" if cells else ""
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        for cell in cells:
            result = await run_cell(cell, images, expected, channel)
            print(json.dumps(result), flush=True)


def main() -> None:
    """Read the list of cells (JSON) from --cells and print one JSON result line per cell."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", required=True, help="path of a JSON list of cells")
    args = parser.parse_args()
    asyncio.run(main_async(json.loads(Path(args.cells).read_text())))


if __name__ == "__main__":
    main()
