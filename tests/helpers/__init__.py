"""What tests in several folders share: a free loopback port, stopping a child process, and (in the
modules of this package) a real Jupyter server, small ONNX models, a served MAAS_HOME and the walk over
route tables.

pyproject.toml puts tests/ on sys.path (pytest's `pythonpath`), so any test imports these as `helpers`.
A helper of one folder only stays beside its tests (tests/monitoring/monitoring_models.py, ...): pytest
puts a test file's folder on sys.path before importing it, as the test folders are not packages.
"""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, grace_s: float) -> int:
    """Stop a child process the test started, by its PID: SIGTERM, up to `grace_s` seconds for it to exit
    on its own (a server cleans up on SIGTERM), then SIGKILL. Returns its exit code, once it is reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
