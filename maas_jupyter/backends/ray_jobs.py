"""Training jobs on a Ray cluster: the launcher of the `ray` backend (see training/launchers.py).

Each job's worker is the same `python -m maas_jupyter.training.job_worker` as on the local backend,
started by a Ray actor (num_cpus / num_gpus from the job's request, never restarted) in a temporary
folder on the actor's node. The server-side handle pulls what the worker writes (log bytes, event
lines, at the end result.json and the model) back into the job's folder on this machine, so the
runner's tail, forwarding and settling are unchanged and workers need no shared file system; the
worker has no database either (spec "record": "server"). Cancel is SIGTERM to the worker's process
group on its node, SIGKILL after the grace period, then ray.kill. An actor that dies, with its node
or alone, ends the job FAILED with that reason.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..training.launchers import RESULT_FILES, WorkerExit, check_resources, worker_command, worker_env
from .ray_cluster import join

log = logging.getLogger("maas.ray")

MAX_PULL_BYTES = 1024 * 1024  # per file and pull: a chatty job's log arrives over several pulls
PULL_INTERVAL_S = 0.5
SIGNAL_TIMEOUT_S = 10.0  # an actor that cannot take a signal in this time is killed by Ray instead
DEFAULT_CPUS = 1.0  # a job trains: without a request it still reserves one CPU of its node


def _describe(resources: dict) -> str:
    return f"{resources.get('cpus', 0):g} CPU(s) and {resources.get('gpus', 0):g} GPU(s)"


def check_feasible(wanted: dict, nodes: list[dict]) -> None:
    """InvalidInput unless some live node of `nodes` (ray.nodes()) has at least `wanted` in total: a
    request no node can ever meet would otherwise wait forever in Ray's queue."""
    alive = [node for node in nodes if node.get("Alive")]
    sizes = [
        {"cpus": node.get("Resources", {}).get("CPU", 0), "gpus": node.get("Resources", {}).get("GPU", 0)}
        for node in alive
    ]
    if any(all(size[key] >= wanted.get(key, 0) for key in size) for size in sizes):
        return
    have = "; ".join(sorted({_describe(size) for size in sizes})) or "no live node"
    raise InvalidInput(
        f"no node of the Ray cluster can run this job: it asks for {_describe(wanted)}, the nodes have {have}"
    )


class JobActor:
    """Runs one job's worker on the actor's node and hands back what it writes. Every method returns at
    once, so a signal never waits behind a long call."""

    def __init__(self, files: dict[str, bytes], env: dict[str, str]):
        import ray

        # Under Ray's temp folder when it has one: the node's own scratch space, cleaned with the session.
        self.dir = Path(tempfile.mkdtemp(prefix="maas-job-", dir=os.environ.get("RAY_TMPDIR") or None))
        for name, data in files.items():
            (self.dir / name).write_bytes(data)
        context = ray.get_runtime_context()
        self.node = {"node_id": context.get_node_id(), "address": ray.util.get_node_ip_address()}
        with open(self.dir / "log.txt", "ab") as log_file:
            log_file.write(f"running on Ray node {self.node['node_id']} ({self.node['address']})\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(
                worker_command(sys.executable, self.dir),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,
                env=worker_env(os.environ, env, with_database=False),
            )
        self.node["pid"] = self.process.pid

    def pull(self, log_offset: int, events_offset: int) -> dict:
        """New log and event bytes from the given offsets; once the worker ended and all is read, its
        exit code and result files."""
        returncode = self.process.poll()  # first: whatever it wrote before exiting is read below
        log_bytes = self._read("log.txt", log_offset)
        event_bytes = self._read("events.jsonl", events_offset)
        done = returncode is not None and len(log_bytes) < MAX_PULL_BYTES and len(event_bytes) < MAX_PULL_BYTES
        reply = {"node": self.node, "log": log_bytes, "events": event_bytes, "returncode": returncode if done else None}
        if done:
            reply["files"] = {
                name: (self.dir / name).read_bytes() for name in RESULT_FILES if (self.dir / name).exists()
            }
        return reply

    def _read(self, name: str, offset: int) -> bytes:
        try:
            with open(self.dir / name, "rb") as handle:
                handle.seek(offset)
                return handle.read(MAX_PULL_BYTES)
        except FileNotFoundError:
            return b""

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RayWorker:
    """The server's handle of one job actor: polled by the runner's monitor thread."""

    pid = None  # no process of this machine

    def __init__(self, actor, job_dir: Path):
        self.actor, self.job_dir = actor, job_dir
        self.node: dict = {}
        self._offsets = {"log.txt": 0, "events.jsonl": 0}
        self._pending = actor.pull.remote(0, 0)
        self._next_pull = 0.0
        self._ended: WorkerExit | None = None
        self._done = threading.Event()

    def poll(self) -> WorkerExit | None:
        import ray
        from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError

        if self._ended is not None:
            return self._ended
        if self._pending is None:
            if time.monotonic() < self._next_pull:
                return None
            self._pending = self.actor.pull.remote(self._offsets["log.txt"], self._offsets["events.jsonl"])
        ready, _ = ray.wait([self._pending], timeout=0)
        if not ready:  # the actor may still wait for a node with room: the job stays RUNNING meanwhile
            return None
        try:
            reply = ray.get(self._pending)
        except (ActorUnavailableError, GetTimeoutError):  # a passing outage: ask again
            self._pending, self._next_pull = None, time.monotonic() + PULL_INTERVAL_S
            return None
        except RayActorError as exc:
            return self._end(WorkerExit(None, self._lost_reason(exc)))
        except RayError as exc:
            return self._end(WorkerExit(None, f"the Ray worker running the job failed: {_first_line(exc)}"))
        self.node = reply["node"]
        self._append("log.txt", reply["log"])
        self._append("events.jsonl", reply["events"])
        if reply["returncode"] is not None:
            for name, data in reply["files"].items():
                (self.job_dir / name).write_bytes(data)
            return self._end(WorkerExit(reply["returncode"]))
        self._pending, self._next_pull = None, time.monotonic() + PULL_INTERVAL_S
        return None

    def _append(self, name: str, data: bytes) -> None:
        if data:
            with open(self.job_dir / name, "ab") as handle:
                handle.write(data)
            self._offsets[name] += len(data)

    def _end(self, ended: WorkerExit) -> WorkerExit:
        self._ended = ended
        self._done.set()
        return ended

    def _lost_reason(self, exc) -> str:
        import ray

        text = str(exc)
        where = f" (node {self.node['node_id'][:12]} at {self.node['address']})" if self.node else ""
        node_gone = "node has died" in text or (
            bool(self.node) and not any(n["NodeID"] == self.node["node_id"] and n["Alive"] for n in ray.nodes())
        )
        if node_gone:
            return f"the Ray node running the job died{where}; its worker is gone"
        if getattr(exc, "actor_init_failed", False):
            return f"the job's Ray worker could not start: {_first_line(exc)}"
        return f"the Ray worker running the job died{where}: {_first_line(exc)}"

    def signal(self, sig: int) -> None:
        """The signal to the worker's process group on its node; SIGKILL that cannot be delivered kills the
        actor (and with it, through job_worker's parent watch, the worker)."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        if self._ended is not None:
            return
        try:
            ray.get(self.actor.signal.remote(sig), timeout=SIGNAL_TIMEOUT_S)
        except RayActorError:
            pass  # already gone: the next poll says how
        except GetTimeoutError:  # still waiting for a node, or stuck
            if sig == signal.SIGKILL:
                ray.kill(self.actor, no_restart=True)

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)  # set by poll(), which the runner's monitor thread keeps calling

    def release(self) -> None:
        """Remove the worker's folder on its node, then the actor."""
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        try:
            ray.get(self.actor.close.remote(), timeout=SIGNAL_TIMEOUT_S)
        except (RayError, GetTimeoutError):
            pass  # dead already, or stuck: ray.kill below either way
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception as exc:
            log.warning("could not kill a job actor: %s", exc)


def _first_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


class RayLauncher:
    """Job workers as actors on the Ray cluster at `address` (MAAS_RAY_ADDRESS; None: a private one)."""

    worker_has_database = False

    def __init__(self, address: str | None):
        self.address = address
        self._actor_class: Any = None  # ray.remote(JobActor), made on first use (after ray.init)

    def resources(self, requested: dict) -> dict:
        import ray

        wanted = {"cpus": DEFAULT_CPUS, **check_resources(requested)}
        join(self.address)
        check_feasible(wanted, ray.nodes())
        return wanted

    def start(self, job_dir: Path, env: dict[str, str], resources: dict) -> RayWorker:
        import ray

        join(self.address)
        if self._actor_class is None:
            self._actor_class = ray.remote(JobActor)
        files = {name: (job_dir / name).read_bytes() for name in ("script.py", "spec.json")}
        actor = self._actor_class.options(
            num_cpus=resources.get("cpus", DEFAULT_CPUS),
            num_gpus=resources.get("gpus", 0),
            max_restarts=0,
            max_task_retries=0,
        ).remote(files, env)
        with open(job_dir / "log.txt", "ab") as log_file:
            log_file.write(f"submitted to the Ray cluster, asking for {_describe(resources)}\n".encode())
        return RayWorker(actor, job_dir)

    def kill_orphan(self, pid: int | None, job_dir: Path) -> None:
        pass  # an actor is not detached: Ray ends it with the server (its owner) that died

    def close(self) -> None:
        pass  # the connection stays: the endpoints' backend may share it in this process
