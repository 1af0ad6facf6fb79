"""The ray backend end to end, run by test_ray_backend.py inside a network namespace holding only
loopback (every Ray process, and this client, live in it). Prints one JSON object as its last line.

  python scenario.py TMPDIR

A two-node Ray cluster (ray.cluster_utils.Cluster, loopback, no dashboard), a Platform with
MAAS_BACKEND=ray semantics, a two-replica endpoint; predictions against raw ONNX Runtime; swap,
rollback, canary and promote under a bounded concurrent request loop; one replica process killed
under load; `info`; and the listening sockets of the namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

TMP = Path(sys.argv[1]).resolve()
import loopback_cluster  # noqa: E402  (run as a script: its own folder is on sys.path)

loopback_cluster.prepare(TMP)
import numpy as np  # noqa: E402

LOAD_WORKERS = 4
# Every load loop is bounded in count and in time; the bounds are far above what a change needs even on one
# slow core, so a loop ends when the change has been seen through, never in the middle of it.
LOAD_MAX_REQUESTS = 200_000
LOAD_MAX_SECONDS = 300.0
ANSWERS_AROUND_A_CHANGE = 20  # answered requests before a change starts, and after it returned

result: dict = {"steps": []}


def step(name: str, **data) -> None:
    result["steps"].append({"name": name, "t": round(time.monotonic() - T0, 2), **data})
    print(f"[scenario] {result['steps'][-1]}", file=sys.stderr, flush=True)


def tiny_model(scale: float) -> bytes:
    """y = x @ (scale * W) + b with a free batch dimension: 4 inputs, 3 outputs."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w = (rng.standard_normal((4, 3)) * scale).astype(np.float32)
    b = np.arange(3, dtype=np.float32) * scale
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def request(x):
    from maas_jupyter.serving.types import InferenceRequest, Tensor

    return InferenceRequest([Tensor("x", "FP32", list(x.shape), x.reshape(-1))])


async def load_loop(dataplane, stop: threading.Event, rows: np.ndarray, counts: dict) -> dict:
    """LOAD_WORKERS concurrent clients until `stop`, LOAD_MAX_REQUESTS or LOAD_MAX_SECONDS; `counts` fills
    as they go."""
    counts.update({"ok": 0, "unavailable": 0, "other": 0, "versions": {}, "errors": []})
    deadline = time.monotonic() + LOAD_MAX_SECONDS
    sent = 0

    async def worker(k):
        nonlocal sent
        i = k
        while not stop.is_set() and sent < LOAD_MAX_REQUESTS and time.monotonic() < deadline:
            sent += 1
            x = rows[i % len(rows)][None, :]
            i += LOAD_WORKERS
            try:
                answer = await dataplane.infer("ep", None, request(x))
                counts["ok"] += 1
                counts["versions"][answer.model_version] = counts["versions"].get(answer.model_version, 0) + 1
            except Exception as exc:
                status = getattr(exc, "http_status", None)
                counts["unavailable" if status == 503 else "other"] += 1
                if len(counts["errors"]) < 5:
                    counts["errors"].append(f"{status} {type(exc).__name__}: {getattr(exc, 'message', exc)}")
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(k) for k in range(LOAD_WORKERS)))
    counts["sent"] = sent
    return counts


def _answered(counts: dict, at_least: int) -> None:
    """Wait until `at_least` requests were answered (or failed), within the load loop's own time bound."""
    deadline = time.monotonic() + LOAD_MAX_SECONDS
    while counts.get("ok", 0) + counts.get("unavailable", 0) + counts.get("other", 0) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the load loop answered too few requests: {counts}")
        time.sleep(0.01)


async def under_load(dataplane, rows, action) -> tuple[dict, object]:
    """Run `action` in a thread while the load loop runs: requests flow before it starts and go on until
    ANSWERS_AROUND_A_CHANGE more were answered after it returned."""
    stop = threading.Event()
    outcome = {}
    counts: dict = {}

    def run():
        try:
            _answered(counts, ANSWERS_AROUND_A_CHANGE)
            outcome["value"] = action()
            done = counts["ok"] + counts["unavailable"] + counts["other"]
            _answered(counts, done + ANSWERS_AROUND_A_CHANGE)
        except Exception:
            outcome["error"] = traceback.format_exc()
        finally:
            stop.set()

    thread = threading.Thread(target=run)
    thread.start()
    counts = await load_loop(dataplane, stop, rows, counts)
    thread.join()
    if "error" in outcome:
        raise RuntimeError(outcome["error"])
    return counts, outcome.get("value")


def namespace_sockets() -> dict:
    interfaces = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout.split("\n")
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout.split("\n")
    return {
        "interfaces": sorted({line.split()[1] for line in interfaces if line.strip()}),
        "addresses": sorted({line.split()[3].split("/")[0] for line in interfaces if line.strip()}),
        "listening": sorted({line.split()[3] for line in listening if line.strip()}),
    }


def main() -> None:
    import onnxruntime as ort
    import ray
    from ray import serve

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform
    from maas_jupyter.serving.dataplane import DataPlane

    cluster = loopback_cluster.start_cluster()
    platform = None
    try:
        step("cluster up", address=cluster.address)

        home = TMP / "maas"
        settings = Settings.from_env(home=home)
        settings = type(settings)(**{**settings.__dict__, "backend": "ray", "ray_address": cluster.address})
        platform = Platform(settings)
        v1, v2 = tiny_model(1.0), tiny_model(-2.0)
        platform.register("m", v1)
        platform.register("m", v2)
        deployments = platform.deployments
        dataplane = DataPlane(deployments, monitor=None)

        state = deployments.deploy("ep", "m", 1, replicas=2, cpus=0.5)
        deployments.reconcile()  # as `maas serve` does at start (also removes leftovers of this server)
        step("deployed", state=state)
        result["deploy"] = {
            "replicas": state["loaded"][0].get("replicas"),
            "scaling": state["scaling"],
            "version": state["version"],
        }

        rows = np.random.default_rng(1).standard_normal((64, 4)).astype(np.float32)
        direct = {n: ort.InferenceSession(b, providers=["CPUExecutionProvider"]) for n, b in ((1, v1), (2, v2))}

        async def parity():
            diffs = []
            for size in (1, 5, 64):
                answer = await dataplane.infer("ep", None, request(rows[:size]))
                expected = direct[1].run(None, {"x": rows[:size]})[0]
                got = answer.outputs[0].data.reshape(expected.shape)
                diffs.append(float(np.max(np.abs(got - expected))))
            bad = None
            try:
                await dataplane.infer("ep", None, request(rows[:2, :3].copy()))
            except Exception as exc:
                bad = [getattr(exc, "http_status", None), getattr(exc, "message", str(exc))]
            return diffs, bad

        diffs, bad = asyncio.run(parity())
        result["parity"] = {"max_abs_diff": max(diffs), "bad_input": bad}
        step("parity", **result["parity"])

        # Which replicas serve: each answers with its process and node.
        runtime = deployments.endpoint("ep").routes.primary
        seen = [runtime.handle.where.remote().result() for _ in range(20)]
        result["replicas_seen"] = {
            "pids": sorted({s["pid"] for s in seen}),
            "nodes": sorted({s["node_id"] for s in seen}),
        }
        step("replicas", **result["replicas_seen"])

        changes = {}

        def swap():
            return deployments.deploy("ep", "m", 2)["version"]

        def rollback():
            return deployments.rollback("ep")["version"]

        def canary():
            deployments.canary("ep", 2, 50)
            time.sleep(1.0)
            return deployments.promote("ep")["version"]

        for name, action in (("swap", swap), ("rollback", rollback), ("canary_promote", canary)):
            counts, value = asyncio.run(under_load(dataplane, rows, action))
            changes[name] = {**counts, "version_after": value}
            step(name, **changes[name])
        result["changes"] = changes

        # Kill one replica process of the serving version under load.
        runtime = deployments.endpoint("ep").routes.primary
        pids = set()
        for _ in range(40):
            pids.add(runtime.handle.where.remote().result()["pid"])
            if len(pids) == 2:
                break
        victim = sorted(pids)[0]

        def kill():
            os.kill(victim, signal.SIGKILL)
            return victim

        counts, _ = asyncio.run(under_load(dataplane, rows, kill))
        recovered, states = wait_replaced(deployments, {victim})
        after = asyncio.run(load_loop_fixed(dataplane, rows, 40))
        result["kill"] = {
            **counts,
            "victim": victim,
            "victim_was_replica": True,
            "replica_states": states,
            "recovered": recovered,
            "after": after,
        }
        step("kill", **result["kill"])

        info = platform.info()
        result["info"] = {
            "backend": info.get("backend"),
            "nodes": info.get("nodes"),
            "endpoints": info.get("endpoints"),
            "scaling": info.get("scaling"),
        }
        step("info", **result["info"])

        # Remove the worker node (its raylet and every process on it) under load: Serve restarts its
        # replicas on the remaining node.
        worker = next(iter(cluster.worker_nodes))
        runtime = deployments.endpoint("ep").routes.primary
        lost_pids = {
            s["pid"]
            for s in (runtime.handle.where.remote().result() for _ in range(20))
            if s["node_id"] == worker.node_id
        }

        def remove_node():
            cluster.remove_node(worker, allow_graceful=False)
            return True

        counts, _ = asyncio.run(under_load(dataplane, rows, remove_node))
        recovered, states = wait_replaced(deployments, lost_pids)
        after = asyncio.run(load_loop_fixed(dataplane, rows, 40))
        # The GCS marks a node dead only after its health checks fail for a while: wait for that
        # (with a deadline) rather than reading the count at one arbitrary moment.
        deadline = time.monotonic() + 120
        while (alive := sum(1 for node in ray.nodes() if node["Alive"])) > 1 and time.monotonic() < deadline:
            time.sleep(1)
        result["node_loss"] = {
            **counts,
            "recovered": recovered,
            "replica_states": states,
            "after": after,
            "alive_nodes": alive,
        }
        step("node_loss", **result["node_loss"])

        scaled = deployments.scale("ep", replicas=1)
        result["scale"] = {"replicas": scaled["loaded"][0].get("replicas"), "scaling": scaled["scaling"]}
        step("scale", **result["scale"])

        result["sockets"] = namespace_sockets()
        deployments.undeploy("ep")
        result["apps_after_undeploy"] = wait_apps_gone(deployments.prefix)
        step("undeployed", apps=result["apps_after_undeploy"])
    finally:
        if platform is not None:
            try:
                platform.deployments.close()
                platform.close()
            except Exception:
                traceback.print_exc()
        try:
            serve.shutdown()
        except Exception:
            pass
        time.sleep(1.0)  # let retirements in flight finish (they never reconnect once Ray is shut down)
        ray.shutdown()
        cluster.shutdown()
        step("cluster down")


def wait_replaced(deployments, gone_pids: set) -> tuple[bool, dict]:
    """Bounded wait until the primary again has two RUNNING replicas and none of `gone_pids` answers
    (right after a kill Serve may still count the dead replica as running)."""
    from maas_jupyter.backends.ray_cluster import replica_states

    runtime = deployments.endpoint("ep").routes.primary
    states = {}
    for _ in range(180):
        states = replica_states(runtime.app_name)
        if states == {"RUNNING": 2}:
            try:
                pids = {runtime.handle.where.remote().result(timeout_s=30)["pid"] for _ in range(20)}
            except Exception:  # a call can still meet the dead replica: look again
                pids = set()
            if len(pids) == 2 and not pids & gone_pids:
                return True, states
        time.sleep(1)
    return False, states


async def load_loop_fixed(dataplane, rows, n) -> dict:
    ok, failed = 0, []
    for i in range(n):
        try:
            await dataplane.infer("ep", None, request(rows[i % len(rows)][None, :]))
            ok += 1
        except Exception as exc:
            failed.append(getattr(exc, "message", str(exc)))
    return {"ok": ok, "failed": failed[:3], "n": n}


def wait_apps_gone(prefix: str) -> list[str]:
    from maas_jupyter.backends.ray_cluster import applications

    apps = []
    for _ in range(60):
        apps = [a for a in applications() if a.startswith(prefix)]
        if not apps:
            break
        time.sleep(0.5)
    return apps


if __name__ == "__main__":
    T0 = time.monotonic()
    try:
        main()
        result["ok"] = True
    except Exception:
        result["ok"] = False
        result["error"] = traceback.format_exc()
    result["seconds"] = round(time.monotonic() - T0, 1)
    print(json.dumps(result, default=str))
