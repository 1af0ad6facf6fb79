"""Serving benchmark of the ray backend: `maas serve` with MAAS_BACKEND=ray (1 and 2 replicas) beside the
local backend, in the same run, on the same MNIST MLP, over V2 REST (binary tensors) and gRPC.

    python benchmarks/serving_ray.py                  # local, ray x1, ray x2 (a few minutes: Ray starts first)
    python benchmarks/serving_ray.py --seconds 1 --concurrency 1,8

Serve replicas listen on every interface, so the whole run (a two-node Ray cluster from
tests/ray/loopback_cluster.py, the servers and the load driver) re-executes itself inside a network
namespace that holds only loopback: `unshare --net` (root). Nothing is reachable from outside.

Every server runs the batching endpoint (max batch 32). The load comes from benchmarks/load_driver.py in
its own process; raw ONNX Runtime in-process is measured first as the baseline. On the ray backend a request
crosses our V2 front, a Serve handle call and a replica, so batch-1 latency is higher than local; replicas
pay off when one process's CPU is the limit, which on a 2-core machine shared with Ray's own processes it
seldom is: read `vs local` with the load average beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
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
sys.path.insert(0, str(ROOT / "tests" / "ray"))
from mnist_mlp import INPUT_NAME, build_mnist_mlp, sample_images  # noqa: E402
from serving import drive, free_port, maas_serve_command, onnx_runtime_baseline  # noqa: E402

ENDPOINT = "mnist_batched"
INSIDE = "MAAS_BENCH_IN_NETNS"


def reexec_in_namespace() -> None:
    """Run this script again inside a network namespace of its own, with only loopback up."""
    if not shutil.which("unshare"):
        sys.exit("needs unshare (util-linux) and root: Serve replicas listen on every interface")
    command = " ".join([f"exec {sys.executable}", str(Path(__file__).resolve())] + [f"'{a}'" for a in sys.argv[1:]])
    env = {**os.environ, INSIDE: "1"}
    sys.exit(subprocess.run(["unshare", "--net", "sh", "-c", f"ip link set lo up && {command}"], env=env).returncode)


def prepare_home(home: Path, onnx_bytes: bytes, max_batch: int, replicas: int | None, cpus: float) -> None:
    """Register the model and store the batching endpoint (and, for ray, its replicas) as desired state."""
    from maas_jupyter.backends.tables import save_scaling
    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    settings = Settings.from_env(home=home)
    platform = Platform(type(settings)(**{**settings.__dict__, "backend": "local"}))
    try:
        platform.register("mnist", onnx_bytes, description="benchmark MLP, random weights")
        platform.deployments.deploy(ENDPOINT, "mnist", 1, max_batch_size=max_batch, max_queue_delay_ms=0)
        if replicas is not None:
            save_scaling(platform.db, ENDPOINT, {"replicas": replicas, "cpus": cpus})
    finally:
        with contextlib.suppress(Exception):
            platform.deployments.close()
        platform.close()


@contextlib.contextmanager
def serving(home: Path, env_extra: dict, log_path: Path, ready_timeout_s: float):
    """`maas serve` until the block ends, once /v2/health/ready answers; stopped by its PID."""
    http_port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MAAS_TOKEN", "MAAS_BACKEND", "MAAS_RAY_ADDRESS")}
    env.update(MAAS_HOME=str(home), PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **env_extra)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            maas_serve_command(http_port, grpc_port), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"maas serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"maas serve not ready after {ready_timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield process, http_port, grpc_port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def format_table(rows: list[dict], baseline: dict, load: tuple[float, float]) -> str:
    local = {(r["transport"], r["concurrency"]): r["requests_per_s"] for r in rows if r["backend"] == "local"}
    lines = [
        f"raw ONNX Runtime in-process: batch 1 {baseline['batch1_runs_per_s']:,.0f} inferences/s; "
        f"batch 32 {baseline['batch32_rows_per_s']:,.0f} rows/s",
        f"{os.cpu_count()} cores; 1-minute load average {load[0]:.2f} before, {load[1]:.2f} after "
        f"(a two-node Ray cluster runs on the same cores throughout)",
        "endpoint: batching on (max batch 32); cpu us/req is the maas serve process only (not the replicas)",
        "",
        f"{'backend':<8} {'replicas':>8} {'transport':<12} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'vs local':>8} {'cpu us/req':>10} {'fails':>5} {'max|diff|':>9}",
    ]
    for r in rows:
        base = local.get((r["transport"], r["concurrency"]))
        vs = f"{r['requests_per_s'] / base:>8.2f}" if base else f"{'':>8}"
        cpu = "" if r.get("server_cpu_us_per_request") is None else f"{r['server_cpu_us_per_request']:.0f}"
        lines.append(
            f"{r['backend']:<8} {r['replicas']:>8} {r['transport']:<12} {r['concurrency']:>4} "
            f"{r['requests_per_s']:>8,.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {vs} {cpu:>10} "
            f"{r['failures']:>5} {r['max_abs_diff']:>9.1e}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds before each cell")
    parser.add_argument("--max-requests", type=int, default=50_000, help="cap on measured requests per cell")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--transports", default="rest_binary,grpc")
    parser.add_argument("--replicas", default="1,2", help="ray replica counts to measure")
    parser.add_argument("--cpus", type=float, default=0.5, help="CPUs reserved per replica")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        reexec_in_namespace()

    import loopback_cluster

    onnx_bytes = build_mnist_mlp()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="maas-bench-ray-") as tmp:
        work = Path(tmp)
        baseline = onnx_runtime_baseline(onnx_bytes, seconds=2.0, max_runs=200_000)
        import onnxruntime as ort

        from maas_jupyter.serving.runtime import session_options

        session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])
        np.save(work / "expected.npy", session.run(None, {INPUT_NAME: sample_images(16, seed=7)})[0])

        def cells(transport, http_port, grpc_port, pid):
            return [
                {
                    "host": "127.0.0.1",
                    "http_port": http_port,
                    "grpc_port": grpc_port,
                    "transport": transport,
                    "endpoint": ENDPOINT,
                    "batching": "on",
                    "concurrency": int(c),
                    "seconds": args.seconds,
                    "warmup_seconds": args.warmup,
                    "max_requests": args.max_requests,
                    "expected_path": str(work / "expected.npy"),
                    "server_pid": pid,
                }
                for c in args.concurrency.split(",")
            ]

        def measure(label: str, replicas, env_extra: dict, ready_timeout_s: float) -> list[dict]:
            home = work / f"home-{label}"
            prepare_home(home, onnx_bytes, args.max_batch, replicas, args.cpus)
            rows = []
            with serving(home, env_extra, work / f"serve-{label}.log", ready_timeout_s) as (process, http, grpc):
                for transport in args.transports.split(","):
                    for r in drive(
                        cells(transport, http, grpc, process.pid), work, f"{label}-{transport}", process.pid, None
                    ):
                        rows.append({**r, "backend": label.split("-")[0], "replicas": replicas or "-"})
            return rows

        rows = measure("local", None, {}, 120)
        loopback_cluster.prepare(work / "ray-tmp")
        cluster = loopback_cluster.start_cluster(num_cpus=4)
        try:
            for replicas in [int(n) for n in args.replicas.split(",")]:
                rows += measure(
                    f"ray-{replicas}", replicas, {"MAAS_BACKEND": "ray", "MAAS_RAY_ADDRESS": cluster.address}, 900
                )
        finally:
            with contextlib.suppress(Exception):
                cluster.shutdown()
            loopback_cluster.stop_our_processes()
    load = (load_before, os.getloadavg()[0])
    print(format_table(rows, baseline, load))
    if args.json:
        args.json.write_text(json.dumps({"baseline": baseline, "results": rows, "load_average": load}, indent=2))


if __name__ == "__main__":
    main()
