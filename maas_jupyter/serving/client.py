"""HTTP client of a serving process: V2 predict (binary tensors) and the deployments management API.

Its deployment methods mirror serving.deployments.Deployments, so a face that talks to a separate
serving process (the Jupyter extension, the CLI) can hold one where an in-process Deployments would be.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput
from ..http_session import raise_for, session
from .types import numpy_dtype, v2_datatype


class ServingClient:
    """Talks to `maas serve` (or the Jupyter extension's proxy) at `url` with an optional bearer token."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 300.0, api_prefix: str = "/api"):
        self.url = url.rstrip("/")
        self.api = self.url + api_prefix
        self.timeout = timeout
        self.session = session(token)

    def close(self) -> None:
        self.session.close()

    def api_call(self, method: str, path: str, body: Any = None) -> Any:
        """One management API call (JSON in and out) under this server's /api, errors typed."""
        data = None if body is None else orjson.dumps(body)
        response = self.session.request(
            method,
            self.api + path,
            data=data,
            timeout=self.timeout,
            headers={"Content-Type": "application/json"} if data else None,
        )
        raise_for(response)
        return None if response.status_code == 204 or not response.content else response.json()

    # ---- registry (read) ---------------------------------------------------------------------

    def models(self) -> list[dict]:
        return self.api_call("GET", "/models?limit=1000")["items"]

    def versions(self, name: str) -> list[dict]:
        return self.api_call("GET", f"/models/{name}/versions?limit=1000")["items"]

    # ---- deployments (same names as Deployments) ---------------------------------------------

    def list(self) -> list[dict]:
        return self.api_call("GET", "/deployments")["items"]

    def get(self, name: str) -> dict:
        return self.api_call("GET", f"/deployments/{name}")

    forwards_scaling = True  # replicas / autoscaling options go to the server, whose backend checks them

    def backend_info(self) -> dict:
        """The serving process's backend: for ray, the cluster's nodes and each endpoint's replicas."""
        info = self.api_call("GET", "/info")
        return {k: info[k] for k in ("backend", "ray_address", "nodes", "endpoints", "scaling") if k in info}

    def deploy(
        self,
        name: str,
        model: str,
        version=None,
        *,
        max_batch_size=None,
        max_queue_delay_ms=None,
        actor=None,
        reason: str = "",
        **scaling,
    ) -> dict:
        """Deploy model@version as endpoint `name` (a swap if it exists); scaling: replicas, min_replicas,
        max_replicas, target_ongoing_requests, cpus (ray backend)."""
        body = {
            "name": name,
            "model": model,
            "version": None if version is None else str(version),
            "reason": reason,
            **{k: v for k, v in scaling.items() if v is not None},
        }
        if max_batch_size is not None:
            body["max_batch_size"] = max_batch_size
        if max_queue_delay_ms is not None:
            body["max_queue_delay_ms"] = max_queue_delay_ms
        return self.api_call("POST", "/deployments", body)

    def canary(
        self, name: str, version, weight: float, *, model: str | None = None, actor=None, reason: str = ""
    ) -> dict:
        canary = {"version": str(version), "weight": weight}
        if model is not None:
            canary["model"] = model
        return self.api_call("PATCH", f"/deployments/{name}", {"canary": canary, "reason": reason})

    def update(
        self,
        name: str,
        *,
        max_batch_size=None,
        max_queue_delay_ms=None,
        canary_weight=None,
        actor=None,
        reason: str = "",
    ) -> dict:
        body: dict = {"reason": reason}
        if max_batch_size is not None:
            body["max_batch_size"] = max_batch_size
        if max_queue_delay_ms is not None:
            body["max_queue_delay_ms"] = max_queue_delay_ms
        if canary_weight is not None:
            body["canary"] = {"weight": canary_weight}
        return self.api_call("PATCH", f"/deployments/{name}", body)

    def cancel_canary(self, name: str, *, actor=None, reason: str = "") -> dict:
        return self.api_call("PATCH", f"/deployments/{name}", {"canary": None, "reason": reason})

    def promote(self, name: str, *, actor=None, reason: str = "") -> dict:
        return self.api_call("POST", f"/deployments/{name}/promote", {"reason": reason})

    def rollback(self, name: str, *, actor=None, reason: str = "") -> dict:
        return self.api_call("POST", f"/deployments/{name}/rollback", {"reason": reason})

    def undeploy(self, name: str, *, actor=None, reason: str = "") -> None:
        self.api_call("DELETE", f"/deployments/{name}", {"reason": reason} if reason else None)

    # ---- inference ---------------------------------------------------------------------------

    def ready(self) -> bool:
        try:
            return self.session.get(self.url + "/v2/health/ready", timeout=5).status_code == 200
        except Exception:
            return False

    def metadata(self, endpoint: str, version: str | None = None) -> dict:
        response = self.session.get(self.url + _model_path(endpoint, version), timeout=self.timeout)
        raise_for(response)
        return response.json()

    def predict(
        self, endpoint: str, inputs, version: str | None = None, metadata: dict | None = None
    ) -> dict[str, np.ndarray]:
        """Run `inputs` (an array or DataFrame for a one-input model, or {name: array}) through the endpoint
        with binary tensors; {output name: array}. Arrays are cast to the datatypes the model declares."""
        metadata = metadata or self.metadata(endpoint, version)
        specs = {spec["name"]: spec for spec in metadata["inputs"]}
        if not isinstance(inputs, dict):
            if len(specs) != 1:
                raise InvalidInput(f"{endpoint} takes {len(specs)} inputs ({', '.join(specs)}): pass a dict")
            inputs = {next(iter(specs)): inputs}
        header_inputs, chunks = [], []
        for name, value in inputs.items():
            array = np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value)
            spec = specs.get(name)
            datatype = spec["datatype"] if spec else v2_datatype(array.dtype)
            if datatype == "BYTES":
                raw = b"".join(
                    struct.pack("<I", len(b)) + b
                    for b in (v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1))
                )
            else:
                raw = np.ascontiguousarray(array, dtype=numpy_dtype(datatype)).tobytes()
            header_inputs.append(
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": list(array.shape),
                    "parameters": {"binary_data_size": len(raw)},
                }
            )
            chunks.append(raw)
        header = orjson.dumps({"inputs": header_inputs, "parameters": {"binary_data_output": True}})
        response = self.session.post(
            self.url + _model_path(endpoint, version) + "/infer",
            data=b"".join([header, *chunks]),
            timeout=self.timeout,
            headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
        )
        raise_for(response)
        return decode_binary_response(response.content, response.headers.get("Inference-Header-Content-Length"))


def _model_path(endpoint: str, version: str | None) -> str:
    return f"/v2/models/{endpoint}" + (f"/versions/{version}" if version else "")


def decode_binary_response(body: bytes, header_length: str | None) -> dict[str, np.ndarray]:
    """{name: array} from a V2 response body (JSON, or JSON header plus binary outputs)."""
    length = int(header_length) if header_length else len(body)
    doc = orjson.loads(body[:length])
    offset, result = length, {}
    for out in doc["outputs"]:
        dtype = numpy_dtype(out["datatype"])
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            data = out["data"]
            array = (
                np.array([s.encode() for s in data], dtype=object)
                if out["datatype"] == "BYTES"
                else np.array(data, dtype=dtype)
            )
        elif out["datatype"] == "BYTES":
            items, position, chunk = [], 0, body[offset : offset + size]
            while position < size:
                (n,) = struct.unpack_from("<I", chunk, position)
                items.append(chunk[position + 4 : position + 4 + n])
                position += 4 + n
            array = np.empty(len(items), dtype=object)
            array[:] = items
        else:
            array = np.frombuffer(body, dtype=dtype, count=size // dtype.itemsize, offset=offset).copy()
        offset += size or 0
        result[out["name"]] = array.reshape(out["shape"])
    return result
