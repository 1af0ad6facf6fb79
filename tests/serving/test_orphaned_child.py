"""A supervised `maas serve` stops by itself when the process that started it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

PARENT = textwrap.dedent("""
    import sys
    from maas_jupyter.serving.supervisor import ServingProcess
    serving = ServingProcess(token="t", grpc=False)
    print(serving.pid, flush=True)
    sys.stdin.read()   # wait until the test kills us
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper has stopped too
        return stat.read().split(") ")[1][0] != "Z"


def test_child_stops_when_its_parent_is_killed(maas_home):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "MAAS_HOME": str(maas_home)},
    )
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped = not _alive(child)
    if not stopped:
        os.kill(child, signal.SIGKILL)
    assert stopped, "the orphaned maas serve kept running"
