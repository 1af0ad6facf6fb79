"""Runs `maas serve` as a supervised child on loopback: started, awaited until ready, restarted if it dies.

The Jupyter extension and the in-process magics use it, so a crashing or saturated model never stalls
the notebook server or the kernel.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from ..config import ENV_PARENT_PID, ENV_TOKEN
from ..errors import Unavailable

log = logging.getLogger("maas.supervisor")

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now (the child binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _grpc_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("maas_jupyter.serving.grpc_server") is not None


class ServingProcess:
    """A `maas serve` child process. `env` is the child's environment (MAAS_HOME, MAAS_DATABASE_URL...);
    the token reaches it through MAAS_TOKEN, never the command line (which `ps` shows)."""

    def __init__(
        self,
        env: dict | None = None,
        token: str | None = None,
        *,
        grpc: bool | None = None,
        start_timeout_s: float = 120.0,
        extra_args: list[str] | None = None,
        log_path: str | None = None,
        autostart: bool = True,
    ):
        self.env = dict(os.environ if env is None else env)
        self.token = token
        self.grpc = _grpc_available() if grpc is None else grpc
        self.start_timeout_s = start_timeout_s
        self.extra_args = list(extra_args or [])
        self.log_path = log_path
        self.http_port = free_port()
        self.grpc_port = free_port() if self.grpc else None
        self.restarts = 0
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        if autostart:
            self.start()

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def grpc_address(self) -> str | None:
        return f"{HOST}:{self.grpc_port}" if self.grpc_port is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> ServingProcess:
        """Start the child and wait until /v2/health/ready answers; then watch it (no-op if running)."""
        if self._watcher is not None:
            return self
        self._spawn()
        self._wait_ready()
        self._watcher = threading.Thread(target=self._watch, name="maas-serve-watcher", daemon=True)
        self._watcher.start()
        return self

    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "maas_jupyter.cli",
            "serve",
            "--host",
            HOST,
            "--http-port",
            str(self.http_port),
        ]
        if self.grpc_port is not None:
            command += ["--grpc-port", str(self.grpc_port)]
        return command + self.extra_args

    def _spawn(self) -> None:
        env = dict(self.env)
        # The child stops by itself when this process goes away, even by SIGKILL (see app.run_serving).
        env[ENV_PARENT_PID] = str(os.getpid())
        if self.token:
            env[ENV_TOKEN] = self.token
        else:
            env.pop(ENV_TOKEN, None)
        output = open(self.log_path, "ab") if self.log_path else None
        with self._lock:
            self._process = subprocess.Popen(
                self._command(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output or subprocess.DEVNULL,
                stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
            )
        if output is not None:
            output.close()

    def ready(self) -> bool:
        """Whether the child answers /v2/health/ready with 200."""
        request = urllib.request.Request(self.http_url + "/v2/health/ready")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise Unavailable(
                    f"the serving process exited with code {code} before it was ready"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if self.ready():
                return
            time.sleep(0.1)
        raise Unavailable(f"the serving process was not ready within {self.start_timeout_s:.0f} s")

    def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            process = self._process
            if process is None:  # stopped before it ever started
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            log.warning("maas serve (pid %s) exited with code %s; restarting", process.pid, code)
            time.sleep(backoff)
            if self._stopping.is_set():
                return
            try:
                self._spawn()
                self._wait_ready()
                self.restarts += 1
                backoff = 0.5
            except Exception as exc:  # the ports may be taken now: take new ones next time
                log.warning("restarting maas serve failed: %s", exc)
                self._terminate()
                self.http_port = free_port()
                if self.grpc_port is not None:
                    self.grpc_port = free_port()
                backoff = min(backoff * 2, 30.0)

    def _terminate(self, timeout: float = 10.0) -> None:
        with self._lock:
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: maas serve stops gracefully
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop watching and stop the child (gracefully, then by force)."""
        self._stopping.set()
        self._terminate()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=15)

    def __enter__(self) -> ServingProcess:
        return self.start()  # already started unless autostart=False

    def __exit__(self, *exc) -> None:
        self.stop()
