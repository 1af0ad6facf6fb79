"""Serving benchmark: `maas serve` with an MNIST MLP over V2 REST (JSON, binary) and gRPC, against raw ONNX Runtime.

    python benchmarks/serving.py                 # the full table (about 2 minutes)
    python benchmarks/serving.py --seconds 1     # quicker, noisier
    python benchmarks/serving.py --rounds 3 --seconds 1.5   # medians of three rounds, for a busy machine
    python benchmarks/serving.py --profile DIR   # also py-spy the servers (collapsed stacks per transport)

Rows marked `floor` come from benchmarks/transport_floor.py: the same transports and codecs over a data
plane that runs the session inline, so `vs floor` shows what the data plane's glue costs.

The server runs in its own process, the load comes from another (benchmarks/load_driver.py), and the
baseline (raw ONNX Runtime in this process, batch 1 and batch 32) is measured in the same run, before the
load starts, so the ratios compare like with like on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from mnist_mlp import INPUT_NAME, build_mnist_mlp, sample_images  # noqa: E402

TRANSPORTS = ("rest_json", "rest_binary", "grpc")
ENDPOINTS = {"off": "mnist", "on": "mnist_batched"}


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def onnx_runtime_baseline(onnx_bytes: bytes, seconds: float, max_runs: int) -> dict:
    """Raw in-process ONNX Runtime: batch-1 inferences/s and batch-32 rows/s, same session options as serving."""
    import onnxruntime as ort

    from maas_jupyter.serving.runtime import session_options

    session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])
    result = {}
    for rows in (1, 32):
        feed = {INPUT_NAME: sample_images(rows)}
        for _ in range(50):
            session.run(None, feed)
        runs, start = 0, time.perf_counter()
        while runs < max_runs and time.perf_counter() - start < seconds:
            session.run(None, feed)
            runs += 1
        elapsed = time.perf_counter() - start
        result[f"batch{rows}_runs_per_s"] = runs / elapsed
        result[f"batch{rows}_rows_per_s"] = runs * rows / elapsed
    return result


def prepare_home(home: Path, onnx_bytes: bytes, max_batch: int, max_delay_ms: float) -> None:
    """Register the model and store two endpoints: batching off (batch 1) and on."""
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    platform = Platform(Settings.from_env(home=home))
    try:
        platform.register("mnist", onnx_bytes, description="benchmark MLP, random weights")
        platform.deployments.deploy(ENDPOINTS["off"], "mnist", 1, max_batch_size=1, max_queue_delay_ms=0)
        platform.deployments.deploy(
            ENDPOINTS["on"], "mnist", 1, max_batch_size=max_batch, max_queue_delay_ms=max_delay_ms
        )
    finally:
        with contextlib.suppress(Exception):
            platform.deployments.close()
        platform.close()


def maas_serve_command(http_port: int, grpc_port: int, authenticated: bool = False) -> list[str]:
    """`maas serve` on loopback with both transports, by default without authentication like the servers it
    is compared with (a token costs one constant-time comparison a request); `authenticated`: the token
    comes from MAAS_TOKEN (running_server's `token`), as a real deployment passes it."""
    return [
        sys.executable,
        "-m",
        "maas_jupyter.cli",
        "serve",
        "--host",
        "127.0.0.1",
        *([] if authenticated else ["--no-token"]),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
    ]


def floor_command(http_port: int, grpc_port: int) -> list[str]:
    """The transport floor server (benchmarks/transport_floor.py)."""
    return [
        sys.executable,
        str(HERE / "transport_floor.py"),
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
    ]


@contextlib.contextmanager
def running_server(command: list[str], home: Path, http_port: int, log_path: Path, token: str | None = None):
    """Run a server process until the block ends, once /v2/health/ready answers; we stop only its PID.
    `token` reaches the server as MAAS_TOKEN and the readiness probe sends it."""
    # A MAAS_TOKEN from the caller's environment would silently switch authentication on.
    env = {key: value for key, value in os.environ.items() if key != "MAAS_TOKEN"}
    env.update(MAAS_HOME=str(home), PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    if token:
        env["MAAS_TOKEN"] = token
    ready = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v2/health/ready", headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[1:3]} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(ready, timeout=1) as answer:
                    if answer.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[1:3]} not ready after 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def save_expected(onnx_bytes: bytes, path: Path) -> None:
    """In-process ONNX Runtime's answers to the load driver's 16 images, which every served answer must equal."""
    import onnxruntime as ort

    from maas_jupyter.serving.runtime import session_options

    session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])
    np.save(path, session.run(None, {INPUT_NAME: sample_images(16, seed=7)})[0])


def drive(cells: list[dict], work: Path, name: str, server_pid: int, profile_dir: Path | None) -> list[dict]:
    """Run the load driver in its own process over `cells`; optionally py-spy the server meanwhile."""
    cells_path = work / f"cells-{name}.json"
    cells_path.write_text(json.dumps(cells))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    profiler = None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).with_name("py-spy")
        profiler = subprocess.Popen(
            [
                str(py_spy),
                "record",
                "--pid",
                str(server_pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(profile_dir / f"server-{name}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        output = subprocess.run(
            [sys.executable, str(HERE / "load_driver.py"), "--cells", str(cells_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            profiler.wait(timeout=30)
    if output.returncode != 0:
        raise RuntimeError(f"load driver failed:\n{output.stderr[-3000:]}")
    return [json.loads(line) for line in output.stdout.splitlines() if line.startswith("{")]


def median_of_rounds(rounds: list[list[dict]]) -> list[dict]:
    """One row per cell: the median of each figure over the rounds (failures summed, worst diff kept)."""
    merged = []
    for cells in zip(*rounds):
        row = dict(cells[0])
        for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_request"):
            values = [cell[key] for cell in cells if cell.get(key) is not None]
            row[key] = float(np.median(values)) if values else None
        row["failures"] = sum(cell["failures"] for cell in cells)
        row["requests"] = sum(cell["requests"] for cell in cells)
        row["max_abs_diff"] = max(cell["max_abs_diff"] for cell in cells)
        merged.append(row)
    return merged


def format_table(results: list[dict], baseline: dict, load: tuple[float, float], rounds: int = 1) -> str:
    """The printed table: one row per transport x batching x concurrency, with ratios to raw ONNX Runtime
    and, for `maas serve` rows, to the transport floor at the same concurrency."""
    b1, b32 = baseline["batch1_runs_per_s"], baseline["batch32_rows_per_s"]
    floors = {(r["transport"], r["concurrency"]): r["requests_per_s"] for r in results if r["batching"] == "floor"}
    lines = [
        f"raw ONNX Runtime in-process: batch 1 {b1:,.0f} inferences/s; batch 32 {b32:,.0f} rows/s",
        "batching floor = the same REST/gRPC transports and codecs over a data plane that only runs the session inline",
        # Other work on the machine moves every figure; the load average says how much there was.
        # cpu us/req (server CPU time per request) moves far less with it than requests/s does.
        f"{os.cpu_count()} cores; 1-minute load average {load[0]:.2f} before, {load[1]:.2f} after; "
        f"median of {rounds} round(s)",
        "",
        f"{'transport':<12} {'batching':<8} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'vs ORT b1':>9} {'vs ORT b32':>10} {'vs floor':>8} {'cpu us/req':>10} {'fails':>5} {'max|diff|':>9}",
    ]
    for r in results:
        floor = floors.get((r["transport"], r["concurrency"]))
        vs_floor = f"{r['requests_per_s'] / floor:>8.2f}" if floor and r["batching"] != "floor" else f"{'':>8}"
        cpu = "" if r.get("server_cpu_us_per_request") is None else f"{r['server_cpu_us_per_request']:.0f}"
        lines.append(
            f"{r['transport']:<12} {r['batching']:<8} {r['concurrency']:>4} {r['requests_per_s']:>8,.0f} "
            f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['requests_per_s'] / b1:>9.3f} "
            f"{r['requests_per_s'] / b32:>10.4f} {vs_floor} {cpu:>10} {r['failures']:>5} {r['max_abs_diff']:>9.1e}"
        )
    return "\n".join(lines)


def main() -> None:
    """Build the model, start `maas serve`, measure the baseline and the load, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each cell")
    parser.add_argument("--max-requests", type=int, default=50_000, help="cap on measured requests per cell")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--batching", default="off,on")
    parser.add_argument("--max-batch", type=int, default=32, help="max_batch_size of the batching endpoint")
    parser.add_argument(
        "--max-delay-ms",
        type=float,
        default=0.0,
        help="max_queue_delay_ms of the batching endpoint (0: batches form while runners are busy)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the transport floor rows")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat everything (baseline, maas serve, floor) and report medians: steadier on a busy machine",
    )
    parser.add_argument("--profile", type=Path, help="directory for py-spy collapsed stacks of the server")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    onnx_bytes = build_mnist_mlp()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="maas-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        prepare_home(home, onnx_bytes, args.max_batch, args.max_delay_ms)
        baseline = onnx_runtime_baseline(onnx_bytes, seconds=2.0, max_runs=200_000)
        save_expected(onnx_bytes, work / "expected.npy")

        def cells(transport, batchings, http_port, grpc_port, server_pid):
            return [
                {
                    "host": "127.0.0.1",
                    "http_port": http_port,
                    "grpc_port": grpc_port,
                    "transport": transport,
                    "endpoint": ENDPOINTS.get(batching, "mnist"),
                    "batching": batching,
                    "concurrency": int(concurrency),
                    "seconds": args.seconds,
                    "warmup_seconds": args.warmup,
                    "max_requests": args.max_requests,
                    "expected_path": str(work / "expected.npy"),
                    "server_pid": server_pid,
                }
                for batching in batchings
                for concurrency in args.concurrency.split(",")
            ]

        rounds = []
        for round_number in range(args.rounds):
            results = []
            if round_number:  # the first round's baseline was taken above, before anything else ran
                rounds_baseline = onnx_runtime_baseline(onnx_bytes, seconds=2.0, max_runs=200_000)
                baseline = {key: baseline[key] + [rounds_baseline[key]] for key in baseline}
            else:
                baseline = {key: [value] for key, value in baseline.items()}
            http_port, grpc_port = free_port(), free_port()
            with running_server(
                maas_serve_command(http_port, grpc_port), home, http_port, work / "serve.log"
            ) as server:
                for transport in args.transports.split(","):
                    results += drive(
                        cells(transport, args.batching.split(","), http_port, grpc_port, server.pid),
                        work,
                        transport,
                        server.pid,
                        args.profile,
                    )
            if not args.no_floor:
                http_port, grpc_port = free_port(), free_port()
                with running_server(floor_command(http_port, grpc_port), home, http_port, work / "floor.log") as server:
                    for transport in args.transports.split(","):
                        results += drive(
                            cells(transport, ["floor"], http_port, grpc_port, server.pid),
                            work,
                            f"floor-{transport}",
                            server.pid,
                            args.profile,
                        )
            rounds.append(results)
    load = (load_before, os.getloadavg()[0])
    baseline = {key: float(np.median(values)) for key, values in baseline.items()}
    results = median_of_rounds(rounds)
    print(format_table(results, baseline, load, args.rounds))
    if args.json:
        args.json.write_text(
            json.dumps({"baseline": baseline, "results": results, "rounds": rounds, "load_average": load}, indent=2)
        )


if __name__ == "__main__":
    main()
