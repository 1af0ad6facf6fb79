"""`%%maas job --cpus` on the ray backend end to end, run by test_job_resources_real.py inside a network
namespace that holds only loopback. Prints one JSON object as its last line.

  python job_resources_scenario.py TMPDIR

A two-node loopback Ray cluster (4 CPUs a node) and an IPython shell with the %maas magics, whose
in-process body runs the ray backend (MAAS_BACKEND, MAAS_RAY_ADDRESS, as a kernel started with them).
A job asking for 3 CPUs runs until the scenario has looked at it: what the job itself sees of its
reservation (Ray sets OMP_NUM_THREADS of the actor it runs under from the CPUs it reserved; the job
inherits it) and how many CPUs the cluster holds for it; then it is cancelled and the cluster's count
read again. A request for more CPUs than a node has is refused by the magic. The job never trains: what
a job does with its CPUs is the same code as in jobs_scenario.py, and TensorFlow would only add minutes.
"""

from __future__ import annotations

import contextlib
import io
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
# Ray derives OMP_NUM_THREADS from a worker's reserved CPUs only where it is unset: a value inherited from
# the environment that ran the tests would reach the job instead of Ray's.
os.environ.pop("OMP_NUM_THREADS", None)
os.environ["MAAS_JOB_CANCEL_GRACE_S"] = "5"

CPUS = 3
GATE = TMP / "gate"  # never created: the job waits until it is cancelled
LIMIT_S = 300  # a limit for a stuck cluster or job on a loaded machine, not an expected duration
JOB_SCRIPT = f"""
import os, time
print(f"OMP_NUM_THREADS={{os.environ.get('OMP_NUM_THREADS')}}", flush=True)
deadline = time.monotonic() + {LIMIT_S}
while not os.path.exists({str(GATE)!r}) and time.monotonic() < deadline:
    time.sleep(0.05)
"""

result: dict = {"steps": []}


def step(name: str, **data) -> None:
    result["steps"].append({"name": name, "t": round(time.monotonic() - T0, 2), **data})
    print(f"[job_resources_scenario] {result['steps'][-1]}", file=sys.stderr, flush=True)


def wait_until(predicate, what: str, timeout: float = LIMIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def magic(shell, line: str, cell: str | None = None):
    """Run %maas LINE (or %%maas LINE with CELL): (its value, what it printed)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        value = shell.run_cell_magic("maas", line, cell) if cell is not None else shell.run_line_magic("maas", line)
    return value, printed.getvalue()


def held_cpus() -> float:
    """CPUs of the cluster reserved now (nothing but the scenario's jobs runs on it)."""
    import ray

    return ray.cluster_resources().get("CPU", 0.0) - ray.available_resources().get("CPU", 0.0)


def sized_job(shell, jobs) -> dict:
    held_before = held_cpus()
    frame, printed = magic(shell, f"job sized --cpus {CPUS}", JOB_SCRIPT)
    job_id = int(frame.index[0])
    out = {"printed": printed, "resources_shown": frame.loc[job_id, "resources"], "held_before": held_before}
    wait_until(lambda: "OMP_NUM_THREADS=" in jobs.logs(job_id)["text"], "the job to run")
    # The job runs, so its actor holds its reservation; the cluster's count of it reaches this driver
    # within moments. Whatever the job's actor holds, it holds at once: the first count above 0 is it.
    out["held_while_running"] = wait_until(held_cpus, "the cluster to count the job's CPUs", timeout=60)
    out["state_while_running"] = jobs.get(job_id)["state"]
    _, out["log_shown"] = magic(shell, f"logs {job_id}")
    magic(shell, f"cancel {job_id}")
    out["job"] = jobs.wait(job_id, timeout=LIMIT_S)
    wait_until(lambda: held_cpus() == 0, "the job's CPUs to be released", timeout=60)
    out["held_after"] = held_cpus()
    out["stored"] = jobs.get(job_id)["resources"]
    return out


def too_big(shell, jobs) -> dict:
    from IPython.core.error import UsageError

    before = jobs.list()["total"]
    try:
        magic(shell, "job huge --cpus 64", JOB_SCRIPT)
        return {"refused": False}
    except UsageError as exc:
        return {"refused": True, "message": str(exc), "stored": jobs.list()["total"] - before}


def main() -> None:
    import ray
    from IPython.core.interactiveshell import InteractiveShell

    from maas_jupyter.magics import MaasMagics

    cluster = loopback_cluster.start_cluster(num_cpus=4)
    magics = None
    try:
        step("cluster up", address=cluster.address)
        os.environ.update(MAAS_HOME=str(TMP / "maas"), MAAS_BACKEND="ray", MAAS_RAY_ADDRESS=cluster.address)
        shell = InteractiveShell.instance()
        magics = MaasMagics(shell)
        shell.register_magics(magics)
        jobs = magics.context.service.jobs  # the in-process body's runner, which the magics submit to

        result["too_big"] = too_big(shell, jobs)
        step("too big", **result["too_big"])
        result["sized"] = sized_job(shell, jobs)
        step("sized", **{k: v for k, v in result["sized"].items() if k != "log_shown"})
        node = re.search(r"running on Ray node ([0-9a-f]+)", result["sized"]["log_shown"])
        result["sized"]["node_id"] = node.group(1) if node else None
        result["cluster_cpus"] = ray.cluster_resources().get("CPU")
    finally:
        if magics is not None and magics.context._service is not None:
            try:
                magics.context._service.close()
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
