"""Monitoring overhead: `maas serve` with serving metrics on and off (MAAS_METRICS=0), same load, same machine.

    python benchmarks/metrics_overhead.py                # 10 slices x (on, off) x 2 transports, ~2 minutes
    python benchmarks/metrics_overhead.py --rounds 20 --seconds 1
    python benchmarks/metrics_overhead.py --in-process-only   # the data-plane CPU comparison alone

The in-process section calls DataPlane.infer in a loop with the monitor on and off, in alternating
blocks, and compares the CPU time of the whole process per request (time.process_time: the recording on
the request path, input sampling and the aggregator thread included). It has no HTTP and no load
generator in the same measurement, so it is far steadier than requests/s on a busy machine, and it is a
worst case: the transports add their own cost per request, which makes the relative overhead smaller.

Two servers run at once, one per mode, and the load alternates between them in short slices (on/off,
then off/on...) so a change of the machine's load hits both sides alike. The load drives the batch-1
endpoint (batching off: one model run per
request, where per-request bookkeeping weighs most) over gRPC and binary REST from a separate process
(benchmarks/load_driver.py). Reported: median requests/s and median server CPU microseconds per request
per mode, and the cost of metrics on as a share of each. "on" includes recording, input sampling for
drift, the aggregator thread and the SLO guard; nobody scrapes /metrics during the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mnist_mlp import INPUT_NAME, build_mnist_mlp, sample_images  # noqa: E402
from serving import drive, free_port, maas_serve_command, prepare_home, running_server  # noqa: E402


def measure_interleaved(home: Path, work: Path, transports: list[str], args, start_order=("on", "off")) -> list[dict]:
    """Both servers at once (metrics on and off), driven in short alternating slices: a change of the
    machine's load lands on both sides instead of on whichever ran during it."""
    import contextlib

    servers = {}
    with contextlib.ExitStack() as stack:
        for mode in start_order:
            os.environ["MAAS_METRICS"] = "1" if mode == "on" else "0"
            http_port, grpc_port = free_port(), free_port()
            process = stack.enter_context(
                running_server(maas_serve_command(http_port, grpc_port), home, http_port, work / f"serve-{mode}.log")
            )
            servers[mode] = (http_port, grpc_port, process.pid)
        results = []
        for transport in transports:
            for slice_number in range(args.rounds):
                for mode in ("on", "off") if slice_number % 2 == 0 else ("off", "on"):
                    http_port, grpc_port, pid = servers[mode]
                    cell = {
                        "host": "127.0.0.1",
                        "http_port": http_port,
                        "grpc_port": grpc_port,
                        "transport": transport,
                        "endpoint": "mnist",
                        "batching": "off",
                        "concurrency": args.concurrency,
                        "seconds": args.seconds,
                        "warmup_seconds": args.warmup,
                        "max_requests": args.max_requests,
                        "expected_path": str(work / "expected.npy"),
                        "server_pid": pid,
                    }
                    # One driver process per slice: the driver opens its gRPC channel to its first cell's port.
                    for result in drive([cell], work, f"{mode}-{transport}-{slice_number}", pid, None):
                        results.append({**result, "mode": mode})
    return results


def main() -> None:
    """Alternate metrics on/off servers for a few rounds and print the medians and the overhead."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="alternating slices per mode and transport")
    parser.add_argument("--seconds", type=float, default=1.0, help="measured seconds per slice")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--transports", default="grpc,rest_binary")
    parser.add_argument("--in-process-only", action="store_true", help="skip the maas serve rounds")
    parser.add_argument("--blocks", type=int, default=10, help="in-process: blocks per mode")
    parser.add_argument("--block-requests", type=int, default=2000, help="in-process: requests per block")
    args = parser.parse_args()
    transports = args.transports.split(",")
    print(hot_path_cost())
    print(in_process_overhead(args.blocks, args.block_requests))
    if args.in_process_only:
        return

    import onnxruntime as ort

    from maas_jupyter.serving.runtime import session_options

    onnx_bytes = build_mnist_mlp()
    previous = os.environ.get("MAAS_METRICS")
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="maas-metrics-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        prepare_home(home, onnx_bytes, 32, 0.0)
        session = ort.InferenceSession(onnx_bytes, session_options(1), providers=["CPUExecutionProvider"])
        np.save(work / "expected.npy", session.run(None, {INPUT_NAME: sample_images(16, seed=7)})[0])
        try:
            # The server started first came out faster or slower by more than the effect measured (+6% to
            # +14% with "on" first, -3% with "off" first, 2026-11-29): half the slices run with each order.
            half = argparse.Namespace(**{**vars(args), "rounds": max(1, args.rounds // 2)})
            results = measure_interleaved(home, work, transports, half, ("on", "off")) + measure_interleaved(
                home, work, transports, half, ("off", "on")
            )
        finally:
            if previous is None:
                os.environ.pop("MAAS_METRICS", None)
            else:
                os.environ["MAAS_METRICS"] = previous
    print(format_table(results, transports, args))


def hot_path_cost(repeat: int = 7, number: int = 20_000) -> str:
    """Nanoseconds the monitoring adds to one batch-1 request, as the best of `repeat` timings (the best
    is what a busy machine disturbs least): the four recorder events (start, finish, model run, queue
    wait), the input sample's skip check, and the aggregator's share of folding those events."""
    import timeit

    from maas_jupyter.monitoring.drift import InputSample
    from maas_jupyter.monitoring.metrics import MetricsStore

    store = MetricsStore(aggregate_every_s=None)
    recorder = store.recorder("mnist", 1)
    sample = InputSample()
    row = sample_images(1)
    for _ in range(50_000):  # a sample that has seen a little traffic, past its first thousands of rows
        sample.offer(row)

    def record():
        recorder.started()
        recorder.finished(0.001, 200, False)
        recorder.ran(1, 0.0001)
        recorder.queued(0.00001)

    def sample_check():
        if not sample.skips(row.shape[0]):
            sample.offer(row)

    def best(fn) -> float:
        return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9

    recording, sampling = best(record), best(sample_check)
    folds = []
    for _ in range(repeat):
        for _ in range(number):
            record()
        started = time.perf_counter()
        store.aggregate()
        folds.append((time.perf_counter() - started) / number * 1e9)
    store.close()
    clock = best(time.perf_counter)
    return (
        f"hot path per batch-1 request (best of {repeat}): recording {recording:,.0f} ns, input sample "
        f"{sampling:,.0f} ns, aggregation {min(folds):,.0f} ns; total {recording + sampling + min(folds):,.0f} ns "
        f"(one time.perf_counter() call: {clock:,.0f} ns on this machine now)\n"
    )


def in_process_overhead(blocks: int, block_requests: int) -> str:
    """CPU microseconds per DataPlane.infer (batch-1 MNIST MLP) with the monitor on and off, alternating."""
    import asyncio
    import time

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform
    from maas_jupyter.serving.dataplane import DataPlane
    from maas_jupyter.serving.types import InferenceRequest, Tensor

    with tempfile.TemporaryDirectory(prefix="maas-metrics-inproc-") as tmp:
        platform = Platform(Settings.from_env(home=Path(tmp)))
        try:
            platform.register("mnist", build_mnist_mlp())
            platform.deployments.deploy("mnist", "mnist", 1, max_batch_size=1)
            runtime = platform.deployments.endpoint("mnist").routes.primary
            planes = {
                "on": DataPlane(platform.deployments, monitor=platform.monitor),
                "off": DataPlane(platform.deployments),
            }
            images = sample_images(64)
            requests = [
                InferenceRequest([Tensor(INPUT_NAME, "FP32", [1, 784], images[i].reshape(-1))]) for i in range(64)
            ]

            async def block(mode: str) -> float:
                plane = planes[mode]
                runtime.observer = None  # "off" must not record ORT time through a recorder left by "on"
                cpu = time.process_time()
                for i in range(block_requests):
                    await plane.infer("mnist", None, requests[i % 64])
                platform.monitor.metrics.aggregate()  # the reader's share of the work, counted with "on"
                return (time.process_time() - cpu) / block_requests * 1e6

            async def run() -> dict:
                await block("on")
                await block("off")  # warm both paths
                per_mode = {"on": [], "off": []}
                for b in range(blocks):
                    for mode in ("on", "off") if b % 2 == 0 else ("off", "on"):
                        per_mode[mode].append(await block(mode))
                return per_mode

            per_mode = asyncio.run(run())
        finally:
            platform.deployments.close()
            platform.close()
    on, off = statistics.median(per_mode["on"]), statistics.median(per_mode["off"])
    return (
        f"in-process DataPlane.infer, batch 1, {blocks} blocks x {block_requests} requests per mode:\n"
        f"  CPU per request: metrics off {off:.1f} us, on {on:.1f} us (medians; blocks off "
        f"{min(per_mode['off']):.1f}..{max(per_mode['off']):.1f}, on {min(per_mode['on']):.1f}.."
        f"{max(per_mode['on']):.1f}); cost of metrics {on - off:+.1f} us = {on / off - 1:+.1%}\n"
    )


def format_table(results: list[dict], transports: list[str], args) -> str:
    """Medians per transport and mode, and what metrics cost."""
    lines = [
        f"metrics on vs off: {args.rounds} alternating slices, {args.seconds:g} s each, concurrency {args.concurrency}, "
        f"batch-1 endpoint; {os.cpu_count()} cores",
        "",
        f"{'transport':<12} {'mode':<4} {'req/s (median)':>14} {'req/s min..max':>16} {'cpu us/req':>10} "
        f"{'p99 ms':>7} {'fails':>5}",
    ]
    for transport in transports:
        medians = {}
        for mode in ("off", "on"):
            rows = [r for r in results if r["transport"] == transport and r["mode"] == mode]
            rps = [r["requests_per_s"] for r in rows]
            cpu = [r["server_cpu_us_per_request"] for r in rows if r.get("server_cpu_us_per_request") is not None]
            medians[mode] = (statistics.median(rps), statistics.median(cpu) if cpu else None)
            lines.append(
                f"{transport:<12} {mode:<4} {medians[mode][0]:>14,.0f} "
                f"{f'{min(rps):,.0f}..{max(rps):,.0f}':>16} "
                f"{'' if medians[mode][1] is None else f'{medians[mode][1]:.0f}':>10} "
                f"{statistics.median(r['p99_ms'] for r in rows):>7.2f} {sum(r['failures'] for r in rows):>5}"
            )
        throughput_cost = 1 - medians["on"][0] / medians["off"][0]
        cpu_cost = (medians["on"][1] / medians["off"][1] - 1) if medians["on"][1] and medians["off"][1] else None
        lines.append(
            f"{transport:<12} cost of metrics: {throughput_cost:+.1%} throughput"
            + ("" if cpu_cost is None else f", {cpu_cost:+.1%} server CPU per request")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
