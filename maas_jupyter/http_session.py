"""How every client of a maas server speaks HTTP: one session that carries the credential, and the
server's error replies turned back into the core's typed errors.

The management client (client.py), the serving client (serving/client.py) and the monitoring commands
use it. Both servers take `Authorization: Bearer <token or key>` (Jupyter also reads the scheme "token"),
so there is one way to send a credential.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from .errors import (
    Conflict,
    InsufficientStorage,
    InvalidInput,
    MaasError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)

_BY_STATUS = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    503: Unavailable,
    507: InsufficientStorage,
}


class HttpError(MaasError, code="error", http_status=500):
    """A server answer that maps to no typed error (401, 403, 500…), with its own status."""

    def __init__(self, message: str, http_status: int):
        super().__init__(message)
        self.http_status = http_status


def authorization(credential: str) -> dict[str, str]:
    """The header that presents `credential` (a server token or an inference key); none for ""."""
    return {"Authorization": f"Bearer {credential}"} if credential else {}


def session(credential: str | None = None) -> requests.Session:
    """A connection pool whose every request presents `credential`."""
    pool = requests.Session()
    pool.headers.update(authorization(credential or ""))
    return pool


def path_segment(value: Any) -> str:
    """`value` as one URL path segment (a slash or a question mark in a name cannot change the route)."""
    return quote(str(value), safe="")


def error_from(reply: requests.Response) -> MaasError:
    """The typed error for an HTTP error reply (management `{"error": {…}}` or V2 `{"error": "…"}`)."""
    try:
        error = reply.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    message = message or f"HTTP {reply.status_code} {reply.reason} from {reply.url}"
    if reply.status_code in (401, 403):
        return HttpError(f"not authorised by the server ({reply.status_code}): {message}", reply.status_code)
    typed = _BY_STATUS.get(reply.status_code)
    return typed(message) if typed else HttpError(message, reply.status_code)


def raise_for(reply: requests.Response) -> None:
    """Raise the typed error of an HTTP error reply; nothing for a success."""
    if reply.status_code >= 400:
        raise error_from(reply)
