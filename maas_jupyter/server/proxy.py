"""Routes of the supervised serving process, exposed under the Jupyter server behind its auth.

Inference (maas/v2/…), deployments (maas/api/deployments…) and Prometheus text (maas/metrics) live
in the `maas serve` child; these handlers forward requests to it on loopback with its token.
"""

from __future__ import annotations

import asyncio

import orjson
from tornado import httpclient

from ..security.inference_keys import looks_like_key
from ..serving.serve_face import ACTOR_HEADER
from .base import JupyterFace

# Headers that carry meaning for the V2 protocol or content negotiation; hop-by-hop ones stay behind.
_FORWARD_REQUEST = ("Content-Type", "Inference-Header-Content-Length", "Accept")
_FORWARD_REPLY = ("Content-Type", "Inference-Header-Content-Length", "Location", "Retry-After")
RETRY_WAIT_S = 5.0  # how long a read waits for a restarted serving process before its one retry


class ServingProxyHandler(JupyterFace):
    """Forward one request to the serving process: `target` is the child path prefix."""

    def initialize(self, target: str):
        self.target = target

    @property
    def serving(self):
        return self.settings["maas_serving"]

    def _inference_key(self) -> str | None:
        """An inference key presented on a V2 route: the serving process checks it, not Jupyter."""
        if not self.target.startswith("/v2"):
            return None
        scheme, _, given = self.request.headers.get("Authorization", "").partition(" ")
        given = given.strip()
        return given if scheme.lower() in ("bearer", "token") and looks_like_key(given) else None

    async def prepare(self) -> None:  # type: ignore[override]  # as JupyterFace.prepare
        if self._inference_key() is not None:
            # Jupyter's own checks (Host, CORS) but not its user: the key is this request's credential.
            await super(JupyterFace, self).prepare()
            return
        await super().prepare()

    def check_xsrf_cookie(self):
        # A credential in a header is no cookie a page can ride on (Jupyter exempts its token likewise).
        if self._inference_key() is not None:
            return None
        return super().check_xsrf_cookie()

    async def _forward(self, path: str = "") -> None:
        serving = self.serving
        failure = await serving.wait_started()
        if failure:
            self._refuse(503, failure)
            return
        headers = {k: self.request.headers[k] for k in _FORWARD_REQUEST if k in self.request.headers}
        key = self._inference_key()
        if key is not None and self.current_user is None:
            headers["Authorization"] = f"Bearer {key}"
        elif serving.process.token:
            headers["Authorization"] = f"Bearer {serving.process.token}"
            user = getattr(self.current_user, "username", None)
            if user:  # who did it, for the history the child records (see serving.serve_face)
                headers[ACTOR_HEADER] = user
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        # A read goes once more to a child that was just replaced (killed and restarted by the
        # supervisor); a change is not repeated: the lost one may have taken effect.
        # Inference changes nothing, so an infer is a read here too.
        infer = self.target == "/v2" and (path or "").endswith("/infer")
        retryable = self.request.method in ("GET", "HEAD") or infer
        attempts = 2 if retryable else 1
        for attempt in range(attempts):
            url = serving.process.http_url + self.target + (path or "")
            if self.request.query:
                url += "?" + self.request.query
            request = httpclient.HTTPRequest(
                url,
                method=self.request.method,
                headers=headers,
                body=body,
                allow_nonstandard_methods=True,
                request_timeout=600,
                decompress_response=False,
            )
            try:
                reply = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
                failure = str(reply.error) if reply.code == 599 else None  # 599: no HTTP answer at all
            except (OSError, httpclient.HTTPClientError) as exc:  # a connection refused, reset or closed
                reply, failure = None, str(exc)
            if failure is None:
                break
            if attempt + 1 < attempts:
                await self._until_child_answers(RETRY_WAIT_S)
        if failure is not None or reply is None:
            self.set_header("Retry-After", "1")
            self._refuse(
                503, f"the serving process does not answer ({failure}); it restarts by itself: try again in a moment"
            )
            return
        self.set_status(reply.code, reply.reason)
        for name in _FORWARD_REPLY:
            if name in reply.headers:
                self.set_header(name, reply.headers[name])
        if reply.code == 204:
            self.finish()
        else:
            self.finish(reply.body or b"")

    async def _until_child_answers(self, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if await asyncio.to_thread(self.serving.process.ready):
                return
            await asyncio.sleep(0.05)

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        # The V2 error body ({"error": "<reason>"}) for inference routes, the management one elsewhere.
        body = (
            {"error": message}
            if self.target.startswith("/v2")
            else {"error": {"code": "unavailable", "message": message}}
        )
        self.finish(orjson.dumps(body))

    get = post = put = patch = delete = _forward


def proxy_routes(base_url: str) -> list:
    """(pattern, handler, kwargs) for the serving routes under the server's base URL."""
    from jupyter_server.utils import url_path_join

    maas = url_path_join(base_url, "maas")
    return [
        (url_path_join(maas, "v2") + r"(/.*)?$", ServingProxyHandler, {"target": "/v2"}),
        (url_path_join(maas, "api", "deployments") + r"(/.*)?$", ServingProxyHandler, {"target": "/api/deployments"}),
        (url_path_join(maas, "metrics") + r"/?()$", ServingProxyHandler, {"target": "/metrics"}),
    ]
