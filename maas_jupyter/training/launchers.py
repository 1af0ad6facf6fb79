"""How a job's worker process is started and watched, apart from what a job is.

The JobRunner (jobs.py) owns the queue, the states, cancel, recovery and event forwarding. It prepares
JOB_DIR (script.py, spec.json) and asks a launcher to start `python -m maas_jupyter.training.job_worker`
for it; the handle it gets back is polled until the worker ends. Whatever the launcher, the handle
keeps JOB_DIR/log.txt, events.jsonl and the result files current on this machine, so tailing, forwarding
and settling are one code path.

  LocalLauncher  a process of this machine (the `local` backend)
  RayLauncher    an actor on a Ray node running the worker there (backends/ray_jobs.py, `ray` backend)
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config import ENV_DATABASE_URL, ENV_HOME, ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL
from ..errors import InvalidInput

RESOURCE_FIELDS = ("cpus", "gpus")
# What a worker without the database leaves in JOB_DIR for the server (job_worker.py writes them).
RESULT_FILES = ("result.json", "model.onnx", "model.keras")
# The server's database and home: a worker that records nothing itself must not find them.
SERVER_ONLY_ENV = (ENV_HOME, ENV_DATABASE_URL, ENV_JUPYTER_URL, ENV_JUPYTER_TOKEN)


@dataclass(frozen=True)
class WorkerExit:
    """How a worker ended: its exit code (negative: killed by that signal; None: unknown, the worker
    vanished), and the reason when the launcher knows better than a code (a Ray node that died)."""

    returncode: int | None
    reason: str = ""


class WorkerHandle(Protocol):
    """One started worker, as the runner watches it."""

    @property
    def pid(self) -> int | None:
        """A process of this machine (recorded for recovery), else None."""

    def poll(self) -> WorkerExit | None:
        """None while the worker runs; once it ended, how (JOB_DIR then holds everything it wrote)."""

    def signal(self, sig: int) -> None:
        """Send SIGTERM (cancel) or SIGKILL (grace period over, server stopping) to the worker's group."""

    def wait(self, timeout: float) -> bool:
        """True once the worker ended, waiting up to `timeout` seconds."""

    def release(self) -> None:
        """Free what the worker held (after the runner settled the job)."""


class Launcher(Protocol):
    """Starts job workers somewhere."""

    # True: the worker opens the server's database, records its run and registers the model itself.
    # False: it streams events and returns the model; the server records and registers (streamed_runs.py).
    worker_has_database: bool

    def resources(self, requested: dict) -> dict:
        """The resource request to store with the job (checked now: InvalidInput at submit, not later)."""

    def start(self, job_dir: Path, env: dict[str, str], resources: dict) -> WorkerHandle:
        """Start the worker of the job prepared in `job_dir`, with `env` added to its environment and
        `resources` (as resources() returned them) reserved for it."""

    def kill_orphan(self, pid: int | None, job_dir: Path) -> None:
        """Stop the worker of a job whose server died (recorded `pid`), if it still runs."""

    def close(self) -> None:
        """Nothing more will be started."""


def check_resources(requested: dict | None) -> dict:
    """{"cpus": float, "gpus": float} of the fields given: positive finite numbers, nothing else."""
    requested = {k: v for k, v in (requested or {}).items() if v is not None}
    unknown = sorted(set(requested) - set(RESOURCE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown resource(s) {', '.join(unknown)}: a job asks for cpus and gpus")
    checked = {}
    for key, value in requested.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidInput(f"{key} must be a number above 0, not {value!r}")
        checked[key] = float(value)
    return checked


def worker_env(base: Mapping[str, str], extra: Mapping[str, str], with_database: bool) -> dict[str, str]:
    """The worker's environment: `base` (this process's, or the Ray worker's on its node) plus `extra`."""
    env = dict(base)
    if not with_database:
        for key in SERVER_ONLY_ENV:
            env.pop(key, None)
    env.update(extra)
    return env


def worker_command(python: str, job_dir: Path) -> list[str]:
    return [python, "-m", "maas_jupyter.training.job_worker", str(job_dir)]


class LocalProcess:
    """A worker process of this machine, leading its own process group."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.pid = process.pid

    def poll(self) -> WorkerExit | None:
        returncode = self.process.poll()
        return None if returncode is None else WorkerExit(returncode)

    def signal(self, sig: int) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)  # the worker leads its own group (start_new_session)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> bool:
        try:
            self.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def release(self) -> None:
        self.process.wait()  # reap it


class LocalLauncher:
    """Workers as processes of this machine: they share its MAAS_HOME and database."""

    def __init__(self, python: str | None = None, worker_has_database: bool = True):
        self.python = python or sys.executable
        # False only in tests: the database-less worker the Ray launcher uses, run without Ray.
        self.worker_has_database = worker_has_database

    def resources(self, requested: dict) -> dict:
        wanted = check_resources(requested)
        if wanted:
            flags = ", ".join(f"--{key}" for key in wanted)
            raise InvalidInput(
                f"{flags}: resource requests need the ray backend (MAAS_BACKEND=ray); "
                f"this server runs jobs as processes of its own machine"
            )
        return {}

    def start(self, job_dir: Path, env: dict[str, str], resources: dict) -> LocalProcess:
        with open(job_dir / "log.txt", "ab") as log_file:
            # Its own session: a Ctrl-C in the terminal that started the server does not reach the job,
            # and cancel can signal the worker's whole process group.
            process = subprocess.Popen(
                worker_command(self.python, job_dir),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=job_dir,
                start_new_session=True,
                env=worker_env(os.environ, env, self.worker_has_database),
            )
        return LocalProcess(process)

    def kill_orphan(self, pid: int | None, job_dir: Path) -> None:
        if not pid:
            return
        try:  # only a process that is this job's worker: a recycled pid may be anything
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return
        if b"maas_jupyter.training.job_worker" in cmdline and str(job_dir).encode() in cmdline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        pass
