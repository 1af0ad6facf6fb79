"""Routes of the supervised serving process, exposed under the Jupyter server behind its auth.

Inference (maas/v2/…), deployments (maas/api/deployments…) and Prometheus text (maas/metrics) live
in the `maas serve` child; these handlers forward requests to it on loopback with its token.
"""

from __future__ import annotations

import orjson
from tornado import httpclient

from ..serving.rest import ACTOR_HEADER
from .base import JupyterFace

# Headers that carry meaning for the V2 protocol or content negotiation; hop-by-hop ones stay behind.
_FORWARD_REQUEST = ("Content-Type", "Inference-Header-Content-Length", "Accept")
_FORWARD_REPLY = ("Content-Type", "Inference-Header-Content-Length", "Location")


class ServingProxyHandler(JupyterFace):
    """Forward one request to the serving process: `target` is the child path prefix."""

    def initialize(self, target: str):
        self.target = target

    @property
    def serving(self):
        return self.settings["maas_serving"]

    async def _forward(self, path: str = "") -> None:
        serving = self.serving
        failure = await serving.wait_started()
        if failure:
            self._refuse(503, failure)
            return
        url = serving.process.http_url + self.target + (path or "")
        if self.request.query:
            url += "?" + self.request.query
        headers = {k: self.request.headers[k] for k in _FORWARD_REQUEST if k in self.request.headers}
        if serving.process.token:
            headers["Authorization"] = f"Bearer {serving.process.token}"
            user = getattr(self.current_user, "username", None)
            if user:  # who did it, for the history the child records (see serving.rest.ACTOR_HEADER)
                headers[ACTOR_HEADER] = user
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        request = httpclient.HTTPRequest(url, method=self.request.method, headers=headers, body=body,
                                         allow_nonstandard_methods=True, request_timeout=600,
                                         decompress_response=False)
        try:
            reply = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        except OSError as exc:
            self._refuse(503, f"the serving process does not answer: {exc}")
            return
        if reply.code == 599:  # tornado's code for "no HTTP answer at all"
            self._refuse(503, f"the serving process does not answer: {reply.error}")
            return
        self.set_status(reply.code, reply.reason)
        for name in _FORWARD_REPLY:
            if name in reply.headers:
                self.set_header(name, reply.headers[name])
        if reply.code == 204:
            self.finish()
        else:
            self.finish(reply.body or b"")

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        # The V2 error body ({"error": "<reason>"}) for inference routes, the management one elsewhere.
        body = {"error": message} if self.target.startswith("/v2") else {
            "error": {"code": "unavailable", "message": message}}
        self.finish(orjson.dumps(body))

    get = post = put = patch = delete = _forward


def proxy_routes(base_url: str) -> list:
    """(pattern, handler, kwargs) for the serving routes under the server's base URL."""
    from jupyter_server.utils import url_path_join

    maas = url_path_join(base_url, "maas")
    return [
        (url_path_join(maas, "v2") + r"(/.*)?$", ServingProxyHandler, {"target": "/v2"}),
        (url_path_join(maas, "api", "deployments") + r"(/.*)?$", ServingProxyHandler,
         {"target": "/api/deployments"}),
        (url_path_join(maas, "metrics") + r"/?()$", ServingProxyHandler, {"target": "/metrics"}),
    ]


