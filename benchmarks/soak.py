"""Soak benchmark: `maas serve`, with a token as deployed, under steady load for minutes; errors, latency, memory, fds.

    python benchmarks/soak.py --minutes 3 --concurrency 32
    python benchmarks/soak.py --minutes 10 --transport grpc --interval 10

Starts `maas serve` on free loopback ports with a generated token handed over through MAAS_TOKEN, deploys
the MNIST MLP as benchmarks/serving.py does, and drives V2 inference on the batch-1 endpoint from
benchmarks/load_driver.py (its own process; closed loop, one keep-alive connection per client, the token
on every request) without a pause for the whole run; the driver stops by itself. Every interval it prints
requests/s, errors by status, p50/p99 of that interval, the server's RSS and open file descriptors, and
the 1-minute load average.

Pass or fail: the exit status is 1 if any request failed, if an answer differed from in-process ONNX
Runtime, or if the server's RSS grew by more than --max-rss-growth-mib (default 32 MiB) from the end of
the first interval (warm: thread pools, connections and allocator arenas in place) to the end of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mnist_mlp import build_mnist_mlp  # noqa: E402
from serving import (  # noqa: E402
    ENDPOINTS,
    ROOT,
    TRANSPORTS,
    free_port,
    maas_serve_command,
    prepare_home,
    running_server,
    save_expected,
)

MIB = 1024 * 1024


def server_usage(process: subprocess.Popen, log_path: Path) -> dict:
    """The server's resident memory and open file descriptors now, with the machine's 1-minute load."""
    if process.poll() is None:  # an exited child would read as a zombie with no memory
        with contextlib.suppress(psutil.NoSuchProcess):
            server = psutil.Process(process.pid)
            return {"rss": server.memory_info().rss, "fds": server.num_fds(), "load1": os.getloadavg()[0]}
    raise RuntimeError(f"maas serve exited during the soak:\n{log_path.read_text(errors='replace')[-3000:]}")


def format_errors(errors: dict) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in sorted(errors.items())) or "0"


def format_row(row: dict) -> str:
    latency = f"{row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f}" if row["p50_ms"] is not None else f"{'-':>7} {'-':>7}"
    return (
        f"{row['interval_end_s']:>7.1f} {row['requests_per_s']:>7,.0f} {latency} {row['rss'] / MIB:>8.1f} "
        f"{row['fds']:>5} {row['load1']:>6.2f}  {format_errors(row['errors'])}"
    )


def soak(cell: dict, work: Path, server: subprocess.Popen) -> tuple[list[dict], dict]:
    """Run the load driver over one long cell; sample the server at each interval line it prints."""
    cells_path = work / "cells-soak.json"
    cells_path.write_text(json.dumps([cell]))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    driver = subprocess.Popen(
        [sys.executable, str(HERE / "load_driver.py"), "--cells", str(cells_path)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    # The driver stops by itself; should it hang, it is killed well after its run should have ended.
    watchdog = threading.Timer(cell["warmup_seconds"] + cell["seconds"] + 120, driver.kill)
    watchdog.start()
    rows, result = [], None
    try:
        print(
            f"{'t s':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} {'fds':>5} {'load1':>6}  errors",
            flush=True,
        )
        for line in driver.stdout:
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "interval_end_s" not in record:  # the cell's own line comes last
                result = record
                continue
            rows.append({**record, **server_usage(server, work / "serve.log")})
            print(format_row(rows[-1]), flush=True)
    finally:
        watchdog.cancel()
        if driver.poll() is None:
            driver.kill()  # only the driver this run started, by its PID
        driver.wait()
    if driver.returncode != 0 or result is None:
        raise RuntimeError(f"load driver exited with {driver.returncode} and no result")
    return rows, result


def summary(rows: list[dict], result: dict, idle: dict, load: tuple, max_growth_mib: float) -> tuple[str, list[str]]:
    """The closing lines and the reasons the run failed (none: it passed)."""
    start, end = rows[0], rows[-1]
    peak = max(row["rss"] for row in rows)
    growth = (end["rss"] - start["rss"]) / MIB
    failures = []
    if result["failures"]:
        failures.append(f"{result['failures']} request(s) failed")
    if result["max_abs_diff"] > 1e-5:
        failures.append(f"answers differ from ONNX Runtime by {result['max_abs_diff']:.1e}")
    if growth > max_growth_mib:
        failures.append(f"server RSS grew by {growth:.1f} MiB (limit {max_growth_mib:g} MiB)")
    lines = [
        "",
        f"requests: {result['requests']:,} in {result['seconds']:.0f} s ({result['requests_per_s']:,.0f}/s); "
        f"errors: {format_errors(result['errors'])}; max|diff| vs ONNX Runtime {result['max_abs_diff']:.1e}",
        f"latency over the run: p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms",
        f"server RSS: idle {idle['rss'] / MIB:.1f} MiB, start {start['rss'] / MIB:.1f} (end of the first interval), "
        f"peak {peak / MIB:.1f}, end {end['rss'] / MIB:.1f}; growth {growth:+.1f} MiB (limit {max_growth_mib:g})",
        f"server open fds: idle {idle['fds']}, start {start['fds']}, end {end['fds']}",
        f"load average (1, 5, 15 min) on {os.cpu_count()} cores: before {' '.join(f'{v:.2f}' for v in load[0])}; "
        f"after {' '.join(f'{v:.2f}' for v in load[1])}",
        "FAIL: " + "; ".join(failures) if failures else "PASS",
    ]
    return "\n".join(lines), failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="measured minutes of load (at most 60)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--transport", choices=TRANSPORTS, default="rest_json")
    parser.add_argument("--batching", choices=("off", "on"), default="off")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per table row")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the measured run")
    parser.add_argument(
        "--max-rss-growth-mib",
        type=float,
        default=32.0,
        help="fail if the server's RSS grows more than this from the first interval to the end",
    )
    args = parser.parse_args()
    if not 0 < args.minutes <= 60:
        parser.error("--minutes must be above 0 and at most 60")

    load_before = os.getloadavg()
    print(
        f"soak: maas serve (token on), {args.transport}, endpoint {ENDPOINTS[args.batching]}, "
        f"concurrency {args.concurrency}, {args.minutes:g} min; load average before "
        f"{' '.join(f'{v:.2f}' for v in load_before)} on {os.cpu_count()} cores",
        flush=True,
    )
    token = secrets.token_urlsafe(32)
    try:
        with tempfile.TemporaryDirectory(prefix="maas-soak-") as tmp:
            work, onnx_bytes = Path(tmp), build_mnist_mlp()
            prepare_home(work / "home", onnx_bytes, max_batch=32, max_delay_ms=0.0)
            save_expected(onnx_bytes, work / "expected.npy")
            http_port, grpc_port = free_port(), free_port()
            with running_server(
                maas_serve_command(http_port, grpc_port, authenticated=True),
                work / "home",
                http_port,
                work / "serve.log",
                token=token,
            ) as server:
                idle = server_usage(server, work / "serve.log")
                cell = {
                    "host": "127.0.0.1",
                    "http_port": http_port,
                    "grpc_port": grpc_port,
                    "transport": args.transport,
                    "endpoint": ENDPOINTS[args.batching],
                    "batching": args.batching,
                    "concurrency": args.concurrency,
                    "seconds": args.minutes * 60,
                    "warmup_seconds": args.warmup,
                    "max_requests": 10**9,
                    "expected_path": str(work / "expected.npy"),
                    "server_pid": server.pid,
                    "token": token,
                    "report_every": args.interval,
                }
                rows, result = soak(cell, work, server)
    except KeyboardInterrupt:
        print("\ninterrupted: the load driver and the server were stopped", file=sys.stderr)
        return 130
    except RuntimeError as error:  # the server or the driver gave out: the soak failed
        print(f"FAIL: {error}", file=sys.stderr)
        return 1
    text, failures = summary(rows, result, idle, (load_before, os.getloadavg()), args.max_rss_growth_mib)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
