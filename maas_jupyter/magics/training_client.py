"""Jobs and runs over the management API, with the method names of JobRunner and RunStore.

The magics hold a MaasClient when the kernel belongs to a Jupyter server with maas; these wrap its
HttpApi so `%maas jobs`, `%maas logs`, `%maas watch` … read the same things as in-process.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

from ..http_session import path_segment as _seg

FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


class JobsClient:
    """The server's JobRunner, over HTTP."""

    def __init__(self, http):
        self.http = http

    def submit(self, name: str, script: str, params: dict | None = None, resources: dict | None = None) -> dict:
        body = {"name": name, "script": script, "params": params or {}, **(resources or {})}
        return self.http.request("POST", "jobs", json=body)

    def get(self, job_id) -> dict:
        return self.http.request("GET", f"jobs/{_seg(job_id)}")

    def list(self, state: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        params = {"offset": offset, "limit": limit, **({"state": state} if state else {})}
        return self.http.request("GET", "jobs", params=params)

    def cancel(self, job_id) -> dict:
        return self.http.request("POST", f"jobs/{_seg(job_id)}/cancel")

    def logs(self, job_id, offset: int = 0, limit: int = 1024 * 1024) -> dict:
        return self.http.request("GET", f"jobs/{_seg(job_id)}/logs", params={"offset": offset, "limit": limit})

    def events(self, job_id, after: int = 0) -> dict:
        return self.http.request("GET", f"jobs/{_seg(job_id)}/events", params={"after": after})

    def follow(self, job_id, poll_s: float = 0.5, stop: threading.Event | None = None) -> Iterator[dict]:
        """Yield the job's training events from its first until it is over, polling the server."""
        seen = 0
        while stop is None or not stop.is_set():
            batch = self.events(job_id, seen)
            yield from batch["events"]
            seen = batch["next"]
            if batch["state"] in FINAL_STATES:
                yield from self.events(job_id, seen)["events"]
                return
            time.sleep(poll_s)


class RunsClient:
    """Reading recorded runs over HTTP."""

    def __init__(self, http):
        self.http = http

    def list(self, model_name: str | None = None, status: str | None = None, offset: int = 0,
             limit: int = 100) -> dict:
        params = {"offset": offset, "limit": limit}
        if model_name:
            params["model"] = model_name
        if status:
            params["status"] = status
        return self.http.request("GET", "runs", params=params)

    def get(self, run_id: str) -> dict:
        return self.http.request("GET", f"runs/{_seg(run_id)}")
