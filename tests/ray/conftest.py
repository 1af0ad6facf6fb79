"""What the Ray tests share: a network namespace that holds only loopback, and the way to run a script in it.

Ray Serve replicas listen on every interface, so each Ray scenario (cluster, Serve, our front, its clients)
runs inside `unshare --net sh -c 'ip link set lo up && python SCRIPT TMP'`. That takes `unshare`
(util-linux), `ip` and `ss` (iproute2; scripts/setup_ray.sh installs both when missing) and the right to
make a network namespace (root, or CAP_SYS_ADMIN). A machine without them fails these tests with what is
missing; MAAS_SKIP_RAY=1 is the only way to skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def missing_capability() -> str | None:
    """Why this machine cannot run a Ray scenario in a namespace of its own, or None when it can."""
    try:
        import ray.serve  # noqa: F401
    except ImportError as exc:
        return (
            f"Ray Serve does not import ({exc}): `bash scripts/setup.sh` installs ray[serve] from requirements-dev.txt"
        )
    tools = {"unshare": "util-linux", "ip": "iproute2", "ss": "iproute2"}
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        packages = " ".join(sorted({tools[tool] for tool in missing}))
        return f"{', '.join(missing)} not found: `apt-get install -y {packages}` (`bash scripts/setup_ray.sh` does it)"
    probe = subprocess.run(["unshare", "--net", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return (
            f"`unshare --net sh -c 'ip link set lo up'` failed (exit {probe.returncode}: "
            f"{probe.stderr.strip()}): making a network namespace takes root or CAP_SYS_ADMIN "
            "(a container needs --cap-add SYS_ADMIN and a seccomp profile that allows unshare)"
        )
    return None


@contextlib.contextmanager
def short_tmp(prefix: str):
    """A temporary folder with a short path, removed afterwards. Ray puts its AF_UNIX sockets a long way
    under it (…/ray/session_<date>_<pid>/sockets/plasma_store.1), and such a path may not exceed 107
    bytes: under pytest's /tmp/pytest-of-root/pytest-NNN/… it did once that counter reached three digits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _processes_under(folder: str) -> list[int]:
    """PIDs of processes whose command line names `folder` (the Ray processes of this test only)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in cmdline:
            pids.append(int(entry.name))
    return pids


def _stop(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(1.0)


@contextlib.contextmanager
def scenario_in_namespace(script: str, prefix: str, timeout_s: float):
    """Run tests/ray/SCRIPT TMP inside `unshare --net` (only loopback up), stop by PID whatever it left,
    and yield the last JSON object it printed, which must say "ok" (TMP still exists meanwhile)."""
    with short_tmp(prefix) as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAAS_", "RAY_"))}
        command = f"ip link set lo up && exec {sys.executable} {HERE / script} {tmp}"
        try:
            done = subprocess.run(
                ["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, env=env, timeout=timeout_s
            )
        finally:
            _stop(_processes_under(str(tmp)))
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no result from {script} (exit {done.returncode}):\n{done.stderr[-6000:]}"
        result = json.loads(lines[-1])
        assert result["ok"], result.get("error", "") + "\n" + done.stderr[-4000:]
        yield result


@pytest.fixture(scope="session")
def in_namespace():
    """scenario_in_namespace, once this machine is known to run it; a machine that cannot fails with the
    reason, unless MAAS_SKIP_RAY=1 switches the Ray tests off on purpose."""
    if os.environ.get("MAAS_SKIP_RAY") == "1":
        pytest.skip("MAAS_SKIP_RAY=1 is set: the tests against a real two-node Ray cluster are switched off")
    problem = missing_capability()
    if problem:
        pytest.fail(
            f"the Ray tests cannot run here: {problem}; set MAAS_SKIP_RAY=1 to skip them on purpose.", pytrace=False
        )
    return scenario_in_namespace
