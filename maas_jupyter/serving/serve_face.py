"""The face `maas serve` puts before every route (V2, management API, metrics, events): the request
policy (Host, Origin, CORS), then the caller's credential against what the route needs."""

from __future__ import annotations

from tornado import web

from ..errors import MaasError
from ..security.authentication import ADMIN, MODEL, Authenticator, Caller
from ..security.request_policy import RequestPolicy

ACTOR_HEADER = "X-Maas-Actor"
MAX_ACTOR_LENGTH = 200


def guard(handler: web.RequestHandler, access: str) -> Caller:
    """Check one request; raises tornado's HTTPError (every handler kind renders it) with the reason."""
    policy: RequestPolicy = handler.settings["maas_policy"]
    authenticator: Authenticator = handler.settings["maas_auth"]
    headers = handler.request.headers
    try:
        host = headers.get("Host")
        policy.check_host(host)
        origin = headers.get("Origin")
        policy.check_origin(origin, host)
        for name, value in policy.cors_headers(origin).items():
            handler.set_header(name, value)
        caller = authenticator.authenticate(headers.get("Authorization"))
        authenticator.authorize(caller, access, handler.path_kwargs.get("name") if access == MODEL else None)
    except MaasError as error:
        raise web.HTTPError(error.http_status, error.message) from None
    return caller


class ServeFace(web.RequestHandler):
    """Mixed into every handler of `maas serve`; `access` says what the route needs (ADMIN by default)."""

    access = ADMIN
    caller: Caller | None = None

    def prepare(self):
        if self.request.method != "OPTIONS":
            self.caller = guard(self, self.access)

    def options(self, *args, **kwargs):
        """A browser's preflight (it carries no credential): allowed origins learn what they may send."""
        policy: RequestPolicy = self.settings["maas_policy"]
        try:
            policy.check_host(self.request.headers.get("Host"))
        except MaasError as error:
            raise web.HTTPError(error.http_status, error.message) from None
        headers = policy.cors_headers(self.request.headers.get("Origin"))
        if not headers:
            raise web.HTTPError(403, "cross-origin requests from this origin are not allowed")
        for name, value in headers.items():
            self.set_header(name, value)
        self.set_status(204)
        self.finish()

    def get_current_user(self) -> str | None:
        # The Jupyter proxy names the Jupyter user it authenticated, so the history says who changed an
        # endpoint rather than the OS user of this process. Believed only from the token's holder:
        # anyone else could claim any name.
        if self.caller is None or not self.caller.admin or not self.settings["maas_auth"].required:
            return None
        name = self.request.headers.get(ACTOR_HEADER, "").strip()
        return name[:MAX_ACTOR_LENGTH] if name and name.isprintable() else None
