"""Start a real `jupyter server` (or lab) with the maas extension as a child process, for tests."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from helpers import free_port, stop_process


@dataclass
class JupyterProcess:
    url: str
    token: str
    home: Path
    process: subprocess.Popen
    log: Path

    @property
    def api(self) -> str:
        return self.url + "maas/api/"

    def stop(self) -> None:
        stop_process(self.process, grace_s=20)


def start_jupyter(
    workdir: Path, app: str = "server", extra_env: dict | None = None, timeout: float = 90
) -> JupyterProcess:
    """A Jupyter server on a free loopback port with MAAS_HOME in `workdir`; waits until maas answers."""
    port, token = free_port(), secrets.token_hex(16)
    home = workdir / "maas-home"
    log = workdir / f"jupyter-{app}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAAS_")}
    env.update(
        {
            "MAAS_HOME": str(home),
            "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **(extra_env or {}),
        }
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        app,
        "--allow-root",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workdir}",
        "--ServerApp.port_retries=0",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = JupyterProcess(f"http://127.0.0.1:{port}/", token, home, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter {app} exited: {log.read_text()[-3000:]}")
        try:
            reply = requests.get(server.api + "info", headers={"Authorization": f"token {token}"}, timeout=2)
            if reply.status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter {app} did not answer in {timeout} s: {log.read_text()[-3000:]}")
