"""HTTP client of the management API, with the same method names as the in-process Platform.

The magics hold either the in-process body or a MaasClient and call them alike (maas_jupyter.service
writes down what they call), so every scenario runs against both bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Unpack

import requests

from .errors import InvalidInput, Unavailable
from .http_session import authorization, raise_for, session
from .http_session import path_segment as _seg
from .registry.intake import prepare
from .registry.origins import ModelOrigins
from .service import VersionFields

if TYPE_CHECKING:
    from .serving.client import ServingClient


class HttpApi:
    """JSON over HTTP with a token; server errors become the core's typed errors again."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 300.0):
        self.base_url = base_url.rstrip("/") + "/"
        self.session = session(token)
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs) -> Any:
        """Send one request; the decoded JSON reply, raw bytes for binary replies, None for 204."""
        try:
            reply = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise Unavailable(f"cannot reach the maas server at {self.base_url}: {exc}") from None
        raise_for(reply)
        if reply.status_code == 204:
            return None
        if reply.headers.get("Content-Type", "").startswith("application/json"):
            return reply.json()
        return reply.content


class RegistryClient:
    """The Registry's read and write calls, over HTTP."""

    def __init__(self, http: HttpApi):
        self.http = http

    def list_models(self, offset: int = 0, limit: int = 100) -> dict:
        return self.http.request("GET", "models", params={"offset": offset, "limit": limit})

    def create_model(self, name: str, description: str = "", tags: dict | None = None) -> dict:
        return self.http.request("POST", "models", json={"name": name, "description": description, "tags": tags or {}})

    def get_model(self, name: str) -> dict:
        return self.http.request("GET", f"models/{_seg(name)}")

    def update_model(self, name: str, description: str | None = None, tags: dict | None = None) -> dict:
        body = {k: v for k, v in (("description", description), ("tags", tags)) if v is not None}
        return self.http.request("PATCH", f"models/{_seg(name)}", json=body)

    def delete_model(self, name: str) -> None:
        self.http.request("DELETE", f"models/{_seg(name)}")

    def list_versions(self, name: str, offset: int = 0, limit: int = 100) -> dict:
        return self.http.request("GET", f"models/{_seg(name)}/versions", params={"offset": offset, "limit": limit})

    def get_version(self, name: str, ref=None) -> dict:
        return self.http.request("GET", f"models/{_seg(name)}/versions/{_seg(ref or 'latest')}")

    def update_version(self, name: str, ref, description: str | None = None, tags: dict | None = None) -> dict:
        body = {k: v for k, v in (("description", description), ("tags", tags)) if v is not None}
        return self.http.request("PATCH", f"models/{_seg(name)}/versions/{_seg(ref)}", json=body)

    def load_onnx(self, name: str, ref=None) -> tuple[dict, bytes]:
        meta = self.get_version(name, ref)
        return meta, self.http.request("GET", f"models/{_seg(name)}/versions/{meta['version']}/artifact")

    def load_keras_bytes(self, name: str, ref=None) -> bytes:
        meta = self.get_version(name, ref)
        return self.http.request(
            "GET", f"models/{_seg(name)}/versions/{meta['version']}/artifact", params={"format": "keras"}
        )

    def set_alias(self, name: str, alias: str, ref, actor: str | None = None, reason: str = "") -> dict:
        return self.http.request(
            "PUT", f"models/{_seg(name)}/aliases/{_seg(alias)}", json={"version": ref, "reason": reason}
        )

    def get_alias(self, name: str, alias: str) -> dict:
        return self.http.request("GET", f"models/{_seg(name)}/aliases/{_seg(alias)}")

    def delete_alias(self, name: str, alias: str, actor: str | None = None, reason: str = "") -> None:
        self.http.request("DELETE", f"models/{_seg(name)}/aliases/{_seg(alias)}")

    def history(self, subject: str, limit: int = 1000) -> list[dict]:
        return self.http.request("GET", f"history/{_seg(subject)}", params={"limit": limit})["items"]


# What %maas info says of credentials; the token itself stays out of notebook outputs.
CREDENTIAL_NOTE = "maas_jupyter.connection().headers (the Authorization header this notebook uses)"
GRPC_NEEDS_A_KEY = (
    "gRPC at {address} takes an inference key, not Jupyter's token: create one with "
    "%maas keys create ENDPOINT and call maas_jupyter.endpoint(ENDPOINT, key=KEY)"
)


class KeysClient:
    """Inference keys over HTTP, with the same calls as security.inference_keys.InferenceKeys."""

    def __init__(self, http: HttpApi):
        self.http = http

    def create(self, endpoints, description: str = "", actor: str = "") -> dict:
        return self.http.request("POST", "keys", json={"endpoints": endpoints, "description": description})

    def list(self, include_revoked: bool = False) -> list[dict]:
        return self.http.request("GET", "keys", params={"revoked": int(include_revoked)})["items"]

    def revoke(self, key_id, actor: str = "", reason: str = "") -> dict:
        return self.http.request("DELETE", f"keys/{_seg(key_id)}", params={"reason": reason})


JOB_FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


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
            if batch["state"] in JOB_FINAL_STATES:
                yield from self.events(job_id, seen)["events"]
                return
            time.sleep(poll_s)


class RunsClient:
    """The server's RunStore over HTTP: reads, and the writes of a run trained in this process (a
    notebook's `%maas train`), so the server records them itself, in whichever database it uses."""

    def __init__(self, http):
        self.http = http

    def start(self, params: dict, model_name: str | None = None, job_id: int | None = None) -> str:
        """Open a running run; its id. (A job's run is the server's to record: it runs the job.)"""
        if job_id is not None:
            raise InvalidInput("a job's run is recorded by the server that runs the job")
        body: dict[str, Any] = {"params": params}
        if model_name is not None:
            body["model_name"] = model_name
        return self.http.request("POST", "runs", json=body)["run_id"]

    def record_epochs(self, run_id: str, history: list[dict]) -> None:
        self.http.request("PATCH", f"runs/{_seg(run_id)}", json={"history": history})

    def finish(self, run_id: str, status: str, history: list[dict], duration_s: float, error: str = "") -> dict:
        return self.http.request(
            "POST",
            f"runs/{_seg(run_id)}/finish",
            json={"status": status, "history": history, "duration_s": duration_s, "error": error},
        )

    def link_version(self, run_id: str, name: str, version: int) -> None:
        self.http.request("PUT", f"runs/{_seg(run_id)}/version", json={"name": name, "version": version})

    def get(self, run_id: str) -> dict:
        return self.http.request("GET", f"runs/{_seg(run_id)}")

    def list(self, model_name: str | None = None, status: str | None = None, offset: int = 0, limit: int = 100) -> dict:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if model_name:
            params["model"] = model_name
        if status:
            params["status"] = status
        return self.http.request("GET", "runs", params=params)


class MaasClient:
    """A remote Platform: the management API of a Jupyter server (maas/api) or `maas serve` (/api)."""

    remote = True  # its state is the server's; every change goes through the server's API

    def __init__(self, base_url: str, token: str = ""):
        self.http = HttpApi(base_url, token)
        self.registry = RegistryClient(self.http)
        self.keys = KeysClient(self.http)
        self.jobs = JobsClient(self.http)
        self.runs = RunsClient(self.http)
        self.origins = ModelOrigins()
        self.token = token
        # The API lives at …/maas/api/ (Jupyter) or …/api/ (maas serve); V2 inference beside it at …/v2/.
        self.root = self.http.base_url.rstrip("/").removesuffix("/api")
        self._info: dict | None = None
        self._deployments: ServingClient | None = None

    @property
    def deployments(self) -> ServingClient:
        """Deployments (and V2 predict) through the same server; same method names as the core's."""
        if self._deployments is None:
            from .serving.client import ServingClient

            self._deployments = ServingClient(self.root, self.token or None)
        return self._deployments

    def info(self) -> dict:
        self._info = self.http.request("GET", "info")
        grpc = self._info.get("grpc_address")
        return {
            **self._info,
            "mode": "server",
            "api": self.http.base_url,
            "rest": self.root + "/v2",
            "credential": CREDENTIAL_NOTE,
            "grpc_credential": GRPC_NEEDS_A_KEY.format(address=grpc) if grpc else "no serving process yet",
        }

    def access(self, key: str | None = None):
        """V2 addresses and the header for code in the notebook (maas_jupyter.connection()). The gRPC port
        (the serving process's own) takes an inference key, never the server's token."""
        from .access import Access

        grpc = self.info().get("grpc_address")  # fresh: the serving process may have started (or moved) since
        if key:
            return Access(
                rest=self.root + "/v2", api=self.http.base_url.rstrip("/"), headers=authorization(key), grpc=grpc
            )
        return Access(
            rest=self.root + "/v2",
            api=self.http.base_url.rstrip("/"),
            headers=authorization(self.token),
            grpc=None,
            grpc_note=GRPC_NEEDS_A_KEY.format(address=grpc or "the serving process's port"),
        )

    def register(
        self,
        name: str,
        model: Any,
        *,
        sample: Any = None,
        tolerance: float | None = None,
        **fields: Unpack[VersionFields],
    ) -> dict:
        """Convert and check here (the model lives in this kernel), then upload the ONNX file."""
        if tolerance is None:
            tolerance = (self._info or self.info()).get("parity_tolerance", 1e-4)
        intake = prepare(model, sample, tolerance)
        # No actor: the server records the user it authenticated.
        metadata = {
            "description": fields.get("description", ""),
            "tags": fields.get("tags") or {},
            "metrics": fields.get("metrics") or {},
            "params": {**intake.params, **(fields.get("params") or {})},
            "run_id": fields.get("run_id"),
            "parent_version": self.origins.parent(model, name, fields.get("parent_version")),
            "source": intake.source,
        }
        if fields.get("alias") is not None:
            metadata["alias"] = fields["alias"]
        files = {"file": ("model.onnx", intake.onnx_bytes, "application/octet-stream")}
        if intake.keras_bytes:
            files["keras"] = ("model.keras", intake.keras_bytes, "application/octet-stream")
        version = self.http.request(
            "POST", f"models/{_seg(name)}/versions", files=files, data={"metadata": json.dumps(metadata)}
        )
        self.origins.remember(model, name, version["version"])
        return version

    def load_keras(self, name: str, ref=None):
        """NAME@REF (registered from Keras) as a Keras model; a version made from it descends from REF."""
        return self.origins.load_keras(self.registry, name, ref)[0]

    def set_reference_data(self, name: str, version, x) -> dict:
        """Summarise the training inputs here (quantile bins: kilobytes however large x is) and store the
        summary as name@version's drift reference."""
        from .monitoring.drift import summarize

        names = None
        if isinstance(x, dict):  # several inputs: concatenated in the order of the model's signature
            names = [spec["name"] for spec in self.registry.get_version(name, version)["signature"]["inputs"]]
        return self.set_reference_summary(name, version, summarize(x, names))

    def set_reference_summary(self, name: str, version, summary: dict) -> dict:
        return self.http.request("PUT", f"models/{_seg(name)}/versions/{_seg(version)}/reference", json=summary)

    def reference_info(self, name: str, version) -> dict:
        """What name@version's stored drift reference covers (rows, features, bins, projection)."""
        return self.http.request("GET", f"models/{_seg(name)}/versions/{_seg(version)}/reference")
