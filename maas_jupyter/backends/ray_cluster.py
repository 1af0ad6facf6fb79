"""Joining a Ray cluster and starting Serve without its HTTP proxy: our own V2 front takes the traffic
and calls deployment handles, so nothing of Serve needs to listen for clients."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

log = logging.getLogger("maas.ray")

_lock = threading.Lock()


def join(address: str | None) -> None:
    """ray.init once per process (address None: start a private single-node cluster on loopback, no
    dashboard), without Serve: jobs need none. Idempotent."""
    import ray

    with _lock:
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {"namespace": "maas", "logging_level": logging.WARNING, "log_to_driver": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **options)


def connect(address: str | None) -> None:
    """join the cluster, then start Serve with proxies disabled (endpoints). Idempotent."""
    from ray import serve

    join(address)
    with _lock:
        serve.start(proxy_location="Disabled")


def nodes() -> list[dict]:
    """The cluster's nodes: id, address, alive, CPUs."""
    import ray

    return [
        {
            "node_id": n["NodeID"],
            "address": n["NodeManagerAddress"],
            "alive": bool(n["Alive"]),
            "cpus": n.get("Resources", {}).get("CPU", 0),
        }
        for n in ray.nodes()
    ]


def replica_states(app_name: str) -> dict[str, int]:
    """{"RUNNING": 2, "STARTING": 1, ...} of the one deployment of a Serve application ({} if gone)."""
    from ray import serve

    try:
        app = serve.status().applications.get(app_name)
    except Exception:  # the controller is restarting: nothing to say now
        return {}
    if app is None:
        return {}
    counts: dict[str, int] = {}
    for deployment in app.deployments.values():
        for state, count in (deployment.replica_states or {}).items():
            key = getattr(state, "value", str(state))
            counts[key] = counts.get(key, 0) + int(count)
    return counts


def applications() -> list[str]:
    from ray import serve

    try:
        return list(serve.status().applications)
    except Exception:
        return []


def delete_application(app_name: str) -> None:
    """Remove a Serve application and its replicas; errors are logged (a leftover is removed at the
    next reconcile of the server that owns it)."""
    import ray
    from ray import serve

    if not ray.is_initialized():  # never let a late retirement start or join a cluster (Ray auto-inits)
        return
    try:
        serve.delete(app_name)
    except Exception as exc:
        log.warning("could not delete Serve application %s: %s", app_name, exc)
