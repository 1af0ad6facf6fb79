"""Who a caller is (the server's token, an inference key, or nobody) and what each may call."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ..errors import Forbidden, Unauthorized
from .inference_keys import InferenceKeys, KeyGrant

# What a route needs. ADMIN: the server's token (management, repository, metrics, events). SERVER: any
# valid credential (health, server metadata). MODEL: the token, or a key that names the route's endpoint.
ADMIN, SERVER, MODEL = "admin", "server", "model"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the token's holder (admin) or an inference key's."""

    admin: bool
    grant: KeyGrant | None = None


OPEN = Caller(admin=True)  # a server started with --no-token: every caller may do everything


class Authenticator:
    """Checks `Authorization: Bearer <token or key>` (scheme `token` too, as Jupyter's clients send)."""

    def __init__(self, token: str | None, keys: InferenceKeys | None):
        self.token = token
        self.keys = keys

    @property
    def required(self) -> bool:
        return bool(self.token)

    def authenticate(self, authorization: str | None) -> Caller:
        if not self.token:
            return OPEN
        scheme, _, given = (authorization or "").partition(" ")
        given = given.strip()
        if scheme.lower() not in ("bearer", "token") or not given:
            raise Unauthorized("a valid bearer token or inference key is required (Authorization: Bearer …)")
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return Caller(admin=True)
        grant = self.keys.verify(given) if self.keys is not None else None
        if grant is None:
            raise Unauthorized("the bearer token or inference key is not valid (or was revoked)")
        return Caller(admin=False, grant=grant)

    @staticmethod
    def authorize(caller: Caller, access: str, endpoint: str | None = None) -> None:
        """Forbidden unless `caller` may call a route that needs `access` (for MODEL, on `endpoint`)."""
        if caller.admin or access == SERVER:
            return
        if access == MODEL and endpoint is not None and caller.grant is not None:
            caller.grant.check_endpoint(endpoint)
            return
        raise Forbidden(
            "an inference key calls only the V2 inference routes of its endpoints; this route needs the server's token"
        )
