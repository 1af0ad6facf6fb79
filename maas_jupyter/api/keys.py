"""Management REST for inference keys: create (the key is in the answer, once), list, revoke.

A key = {"id", "prefix", "endpoints": [names] | ["*"], "description", "created_by", "created_at",
         "revoked_by", "revoked_at", "last_used_at", "active"}; the answer to a creation adds "key".
"""

from __future__ import annotations

from ..errors import InvalidInput
from .base import ApiHandler, only_fields


class KeysHandler(ApiHandler):
    def get(self):
        """Every active key, without the keys themselves (?revoked=1: revoked ones too)."""
        include = self.get_query_argument("revoked", "0")
        if include not in ("0", "1"):
            raise InvalidInput("revoked is 0 or 1")
        self.write_json({"items": self.platform.keys.list(include_revoked=include == "1")})

    def post(self):
        """Create a key: {"endpoints": ["mnist", ...] or "*", "description"?}; 201 with the key itself,
        which is shown this once (only its SHA-256 is kept)."""
        body = self.read_json()
        only_fields(body, {"endpoints", "description"})
        if "endpoints" not in body:
            raise InvalidInput('a key needs "endpoints": the endpoint names it may call, or "*"')
        self.write_json(
            self.platform.keys.create(body["endpoints"], body.get("description", ""), self.actor or ""), status=201
        )


class KeyHandler(ApiHandler):
    def delete(self, key_id):
        """Revoke a key (?reason=…): it stops working on every server of this database within seconds."""
        self.write_json(self.platform.keys.revoke(key_id, self.actor or "", self.get_query_argument("reason", "")))


ROUTES = [
    (r"keys", KeysHandler),
    (r"keys/(?P<key_id>[^/]+)", KeyHandler),
]
