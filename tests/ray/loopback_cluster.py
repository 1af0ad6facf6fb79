"""A two-node Ray cluster on loopback for the tests and benchmarks of the ray backend.

Use it inside a network namespace that holds only loopback (Serve replicas listen on every interface):
    unshare --net sh -c 'ip link set lo up && python ...'
then `prepare(tmp)` before importing ray, `start_cluster()`, and `stop_our_processes()` at the end.
Everything Ray writes stays in `tmp`; processes are found by that folder on their command line, never by name.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

_state: dict = {}


def prepare(tmp: Path) -> None:
    """Point Ray's folders into `tmp` and raise its start-up waits (limits, not expected durations:
    these machines are shared and slow at times). Call before importing ray."""
    tmp = Path(tmp).resolve()
    (tmp / "ray").mkdir(parents=True, exist_ok=True)  # Ray's default temp folder under RAY_TMPDIR=tmp
    _state["tmp"] = tmp
    os.environ.update(
        RAY_TMPDIR=str(tmp),
        HOME=str(tmp),
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_raylet_start_wait_time_s="90",
        RAY_worker_register_timeout_seconds="300",
        RAY_SERVE_LOG_TO_STDERR="0",
    )


def warm_ray_imports() -> None:
    """Import what Ray's per-node agents import: the raylet gives its dashboard agent a short, fixed
    window to report its port, which a cold agent on a loaded machine can miss."""
    import ray.dashboard.agent  # noqa: F401
    from ray.dashboard import utils as dashboard_utils
    from ray.dashboard.utils import DashboardAgentModule

    dashboard_utils.get_all_modules(DashboardAgentModule)


def stop_our_processes() -> None:
    """Kill, by PID, what a failed start left: the processes whose command line names this test's folder."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in (os.getpid(), os.getppid()):
            try:
                if str(_state["tmp"]).encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


AGENT_LISTEN_PORT_OFFSET = 2  # dashboard_agent_listen_port = metrics_agent_port + 2 on every node below


def report_agent_ports(stop: threading.Event) -> None:
    """Write each raylet's dashboard-agent port file as soon as the raylet exists.

    Ray 2.60's raylet waits a fixed ~15 s for its dashboard agent to write that file and aborts after;
    it is not handed the port even when we fix it (services.py passes the others, not this one). On a
    loaded 2-core machine the agent's imports alone can take longer. The port is ours (fixed below, in a
    namespace of our own), the agent binds that same port when it is up and rewrites the same file."""
    from ray._raylet import DASHBOARD_AGENT_LISTEN_PORT_NAME, persist_port

    done = set()
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or entry.name in done:
                continue
            try:
                args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if not args or not args[0].endswith("/raylet") or not any(str(_state["tmp"]) in a for a in args):
                continue
            flags = dict(a.lstrip("-").split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)
            metrics_port = int(flags.get("metrics-agent-port", flags.get("metrics_agent_port", "0")) or 0)
            if metrics_port > 0 and "session_dir" in flags and "node_id" in flags:
                persist_port(
                    flags["session_dir"],
                    flags["node_id"],
                    DASHBOARD_AGENT_LISTEN_PORT_NAME,
                    metrics_port + AGENT_LISTEN_PORT_OFFSET,
                )
                done.add(entry.name)
        stop.wait(0.2)


def start_cluster(attempts: int = 3, num_cpus: int = 4):
    """Two nodes on loopback, no dashboard UI; Ray's agent ports fixed (the namespace is ours alone, so
    they are free), which spares the raylet waiting for some of its agents' port files."""
    from ray.cluster_utils import Cluster

    warm_ray_imports()
    stop_reporting = threading.Event()
    threading.Thread(target=report_agent_ports, args=(stop_reporting,), daemon=True).start()
    for attempt in range(1, attempts + 1):
        base = 52000 + 100 * attempt
        node = {"num_cpus": num_cpus, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 1024 * 1024}
        cluster = None
        try:
            cluster = Cluster(
                initialize_head=True,
                head_node_args={
                    **node,
                    "include_dashboard": False,
                    "temp_dir": str(_state["tmp"] / "ray"),
                    "metrics_agent_port": base + 1,
                    "metrics_export_port": base + 2,
                    "dashboard_agent_listen_port": base + 3,
                    "runtime_env_agent_port": base + 4,
                },
            )
            cluster.add_node(
                **node,
                metrics_agent_port=base + 11,
                metrics_export_port=base + 12,
                dashboard_agent_listen_port=base + 13,
                runtime_env_agent_port=base + 14,
            )
            cluster.wait_for_nodes()
            stop_reporting.set()
            return cluster
        except Exception as exc:
            print(f"[loopback_cluster] start attempt {attempt} failed: {str(exc)[:300]}", file=sys.stderr, flush=True)
            if cluster is not None:
                try:
                    cluster.shutdown()
                except Exception:
                    pass
            stop_our_processes()
            if attempt == attempts:
                stop_reporting.set()
                raise
    raise AssertionError("unreachable")
