"""Training jobs on the ray backend end to end, run by test_ray_jobs.py inside a network namespace that
holds only loopback. Prints one JSON object as its last line.

  python jobs_scenario.py TMPDIR

A two-node Ray cluster on loopback and a Platform with the ray backend: a request no node can meet is
refused at submit; a small job (--cpus 1) trains on the cluster and streams while it runs, and the
server records its run and registers its model; a long job is cancelled; a job on the worker node
loses that node and fails with the reason.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

TMP = Path(sys.argv[1]).resolve()
import loopback_cluster  # noqa: E402  (run as a script: its own folder is on sys.path)

loopback_cluster.prepare(TMP)
os.environ["MAAS_JOB_CANCEL_GRACE_S"] = "5"

TRAINING_SCRIPT = """
import os
import numpy as np, keras
print("MAAS_HOME on the worker:", os.environ.get("MAAS_HOME"), flush=True)
rng = np.random.default_rng(0)
x_train = rng.standard_normal((300, 4)).astype("float32")
y_train = (x_train[:, 0] + x_train[:, 1] > 0).astype("int64")
x_val, y_val = x_train[:60], y_train[:60]
keras.utils.set_random_seed(1)
inputs = keras.Input((4,), name="x")
hidden = keras.layers.Dense(8, activation="relu")(inputs)
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="y")(hidden))
"""
ENDLESS_SCRIPT = "import time\nprint('working', flush=True)\nwhile True:\n    time.sleep(0.05)\n"

result: dict = {"steps": []}


def step(name: str, **data) -> None:
    result["steps"].append({"name": name, "t": round(time.monotonic() - T0, 2), **data})
    print(f"[jobs_scenario] {result['steps'][-1]}", file=sys.stderr, flush=True)


def wait_until(predicate, what: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def worker_pid(jobs, job_id) -> int:
    """The worker's pid on its node, from the line job_worker prints first."""
    return int(re.search(r"started, pid (\d+)", jobs.logs(job_id)["text"]).group(1))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def refused(jobs) -> dict:
    from maas_jupyter.errors import InvalidInput

    try:
        jobs.submit("never", ENDLESS_SCRIPT, {}, {"gpus": 1})
        return {"refused": False}
    except InvalidInput as exc:
        return {"refused": True, "message": exc.message, "stored": jobs.list()["total"]}


def small_job(platform, jobs) -> dict:
    subscription = platform.events.subscribe(lambda e: e["type"] in ("job.training", "job.state"))
    job = jobs.submit("tiny", TRAINING_SCRIPT, {"epochs": 2, "batch_size": 32, "optimizer": "adam"}, {"cpus": 1})
    arrived = []  # (training event type, the job's state when it reached this subscriber)
    while True:
        state = jobs.get(job["id"])["state"]
        for event in subscription.drain():
            if event["type"] == "job.training" and event["job_id"] == job["id"]:
                arrived.append([event["event"]["type"], state])
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.1)
    done = jobs.wait(job["id"], timeout=60)
    arrived += [[e["event"]["type"], "after"] for e in subscription.drain() if e["type"] == "job.training"]
    out = {"job": done, "submitted": job, "arrived": arrived, "log": jobs.logs(job["id"])["text"]}
    if done["state"] == "SUCCEEDED":
        out["version"] = platform.registry.get_version("tiny", done["registered_version"])
        out["run"] = platform.runs.get(done["run_id"])
    return out


def cancelled_job(jobs) -> dict:
    job = jobs.submit("endless", ENDLESS_SCRIPT, {}, {"cpus": 1})
    wait_until(lambda: "working" in jobs.logs(job["id"])["text"], "the long job to run")
    pid = worker_pid(jobs, job["id"])
    jobs.cancel(job["id"])
    done = jobs.wait(job["id"], timeout=120)
    return {"job": done, "worker_alive_after": alive(pid), "log": jobs.logs(job["id"])["text"]}


def lost_node_job(cluster, jobs) -> dict:
    """Fill the head node, so the job's actor goes to the worker node, then remove that node under it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head_id = cluster.head_node.node_id
    head_cpus = next(n["Resources"]["CPU"] for n in ray.nodes() if n["NodeID"] == head_id)

    @ray.remote
    class Hold:
        def ready(self):
            return True

    hold = Hold.options(
        num_cpus=head_cpus, scheduling_strategy=NodeAffinitySchedulingStrategy(head_id, soft=False)
    ).remote()
    ray.get(hold.ready.remote(), timeout=120)
    try:
        job = jobs.submit("doomed", ENDLESS_SCRIPT, {}, {"cpus": 1})
        wait_until(lambda: "working" in jobs.logs(job["id"])["text"], "the job on the worker node to run")
        node_id = re.search(r"running on Ray node ([0-9a-f]+)", jobs.logs(job["id"])["text"]).group(1)
        pid = worker_pid(jobs, job["id"])
        (node,) = [n for n in cluster.worker_nodes if n.node_id == node_id]
        removed_at = time.monotonic()
        cluster.remove_node(node, allow_graceful=False)
        done = jobs.wait(job["id"], timeout=300)
        failed_after = round(time.monotonic() - removed_at, 1)
        # The actor died with its node; the worker it started (its own process group) follows it.
        gone = wait_until(lambda: not alive(pid), "the orphaned worker to stop", timeout=60)
        return {
            "job": done,
            "node_id": node_id,
            "head_id": head_id,
            "failed_after_s": failed_after,
            "worker_gone": gone,
            "log": jobs.logs(job["id"])["text"],
        }
    finally:
        ray.kill(hold)


def main() -> None:
    import ray

    from maas_jupyter.config import Settings
    from maas_jupyter.platform import Platform

    cluster = loopback_cluster.start_cluster()
    platform = None
    try:
        step("cluster up", address=cluster.address)
        settings = Settings.from_env(home=TMP / "maas")
        platform = Platform(type(settings)(**{**settings.__dict__, "backend": "ray", "ray_address": cluster.address}))
        jobs = platform.jobs

        result["refused"] = refused(jobs)
        step("refused", **result["refused"])
        result["small"] = small_job(platform, jobs)
        step("small", job=result["small"]["job"], arrived=result["small"]["arrived"][:6])
        result["cancel"] = cancelled_job(jobs)
        step("cancel", job=result["cancel"]["job"], worker_alive_after=result["cancel"]["worker_alive_after"])
        result["lost"] = lost_node_job(cluster, jobs)
        step("lost", **{k: v for k, v in result["lost"].items() if k != "log"})
    finally:
        if platform is not None:
            try:
                platform.close()
            except Exception:
                traceback.print_exc()
        ray.shutdown()
        cluster.shutdown()
        step("cluster down")


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
