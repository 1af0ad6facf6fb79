"""What clients see when the serving process under Jupyter is killed (kill -9) while they send requests.

    python benchmarks/restart_gap.py [--threads 4] [--json]

Starts `jupyter server` with the extension on a free loopback port, registers and deploys a small model,
sends V2 infer requests through Jupyter (`maas/v2/…`) from a few threads, kills the serving child with
SIGKILL once requests flow, and keeps sending until the restarted child has answered 200 again for a
while. Bounded: at most 60 s of load and 50 000 requests. Prints the answers by status, the longest time
without a 200 (the gap), and whether every refusal carried Retry-After. tests/server/test_child_restart.py
runs it and asserts that nothing but 200 and 503 came back.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

MAX_SECONDS = 60.0
MAX_REQUESTS = 50_000
AFTER_RECOVERY_OK = 2000  # 200s after the kill before stopping: the restarted child serves for a while


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor("c", TensorProto.FLOAT, [4], [1.0] * 4)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _serving_children(pid: int) -> list[int]:
    import psutil

    return [
        child.pid
        for child in psutil.Process(pid).children(recursive=True)
        if "maas_jupyter.cli" in " ".join(child.cmdline()) and "serve" in child.cmdline()
    ]


def measure(workdir: Path, threads: int = 4) -> dict:
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        MAAS_HOME=str(workdir / "maas-home"),
        JUPYTER_CONFIG_DIR=str(workdir / "jupyter-config"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    log = open(workdir / "jupyter.log", "wb")
    jupyter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={workdir}",
            "--ServerApp.port_retries=0",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    base, auth = f"http://127.0.0.1:{port}/maas", {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 300
        while True:
            assert jupyter.poll() is None, (workdir / "jupyter.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "jupyter did not start"
            try:
                if requests.get(base + "/api/info", headers=auth, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        registered = requests.post(
            base + "/api/models/gap/versions",
            data=_model(),
            timeout=120,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        assert registered.status_code == 201, registered.text
        deployed = requests.post(
            base + "/api/deployments", json={"name": "gap", "model": "gap"}, headers=auth, timeout=300
        )
        assert deployed.status_code in (200, 201), deployed.text
        return _drive(base, auth, jupyter.pid, threads)
    finally:
        jupyter.terminate()
        try:
            jupyter.wait(30)
        except subprocess.TimeoutExpired:
            jupyter.kill()
            jupyter.wait()
        log.close()


def _drive(base: str, auth: dict, jupyter_pid: int, threads: int) -> dict:
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]})
    statuses: collections.Counter = collections.Counter()
    answers: list[tuple[float, int, bool]] = []  # (when, status, Retry-After present)
    lock, stop = threading.Lock(), threading.Event()
    started = time.monotonic()

    def worker():
        with requests.Session() as session:
            session.headers.update({**auth, "Content-Type": "application/json"})
            while not stop.is_set() and time.monotonic() - started < MAX_SECONDS:
                try:
                    reply = session.post(base + "/v2/models/gap/infer", data=body, timeout=30)
                    status, retry = reply.status_code, "Retry-After" in reply.headers
                except requests.RequestException:
                    status, retry = 0, False  # no HTTP answer at all
                with lock:
                    statuses[status] += 1
                    answers.append((time.monotonic(), status, retry))
                    if len(answers) >= MAX_REQUESTS:
                        stop.set()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    while statuses[200] < 200:  # requests flow before the kill
        assert time.monotonic() - started < MAX_SECONDS, dict(statuses)
        time.sleep(0.05)
    children = _serving_children(jupyter_pid)
    assert len(children) == 1, children
    killed_at = time.monotonic()
    os.kill(children[0], signal.SIGKILL)
    while not stop.is_set() and time.monotonic() - started < MAX_SECONDS:
        with lock:
            after = [a for a in answers if a[0] > killed_at]
        recovered = [a for a in after if a[1] == 200]
        if len(recovered) >= AFTER_RECOVERY_OK:
            break
        time.sleep(0.05)
    stop.set()
    for thread in pool:
        thread.join(60)
    after = [a for a in answers if a[0] > killed_at]
    refusals = [a for a in after if a[1] != 200]
    # The gap: the longest time without a 200 answer, from the last one before the kill on.
    oks = [a[0] for a in answers if a[1] == 200]
    last_before = max((t for t in oks if t <= killed_at), default=killed_at)
    later = [last_before] + [t for t in oks if t > killed_at]
    gap = max((b - a for a, b in zip(later, later[1:])), default=None)
    return {
        "requests": len(answers),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
        "failed": sum(v for k, v in statuses.items() if k != 200),
        "gap_s": None if gap is None or len(later) < 2 else round(gap, 3),
        "refusals_with_retry_after": sum(1 for a in refusals if a[2]),
        "refusals": len(refusals),
        "restarted": len(_serving_children(jupyter_pid)) == 1 and len(later) > 1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maas-restart-") as folder:
        result = measure(Path(folder), args.threads)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
