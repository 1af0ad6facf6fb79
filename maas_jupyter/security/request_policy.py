"""Which requests a maas server takes, judged from their headers before any handler runs.

A server on loopback is still reachable from every web page the user opens: a page can send a "simple"
cross-site POST (text/plain, a form, a typeless blob) without asking first, and through DNS rebinding a
page of its own origin can reach 127.0.0.1 under a foreign name. So, as Jupyter does:
- the Host header must name this server (loopback names, the address it listens on, or a configured
  name), unless it listens on every interface, where names cannot be known and the token is mandatory;
- a browser's cross-origin request (an Origin that is not this server's own) is refused unless that
  origin is allowed, and an allowed one gets CORS headers;
- a body must say what it is, in a media type its route takes: JSON routes take application/json (or
  +json), never text/plain or a form, the types a page may send cross-site without asking first.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import Forbidden, UnsupportedMediaType

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})
CORS_HEADERS = "Authorization, Content-Type, Inference-Header-Content-Length"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def host_name(host_header: str) -> str:
    """'127.0.0.1:8080' -> '127.0.0.1'; '[::1]:8080' -> '::1'; names are compared lower-case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def media_type(content_type: str | None) -> str:
    """'application/json; charset=utf-8' -> 'application/json'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _is_loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RequestPolicy:
    """The Host and Origin rules of one server. `listen_host` is the address it is bound to."""

    listen_host: str = "127.0.0.1"
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    allowed_origins: frozenset[str] = field(default_factory=frozenset)  # "*" allows every origin

    @property
    def any_host(self) -> bool:
        return self.listen_host in EVERY_INTERFACE

    def host_allowed(self, host_header: str | None) -> bool:
        if self.any_host or not host_header:  # HTTP/1.0 has no Host: nothing to rebind
            return True
        name = host_name(host_header)
        return (
            name in LOOPBACK_NAMES
            or _is_loopback_address(name)
            or name == self.listen_host.lower()
            or name in {h.lower() for h in self.allowed_hosts}
        )

    def check_host(self, host_header: str | None) -> None:
        if not self.host_allowed(host_header):
            raise Forbidden(
                f"Host {host_header!r} is not this server's name; a server on "
                f"{self.listen_host} answers to its loopback names (allow others with --allow-host)"
            )

    def origin_allowed(self, origin: str, host_header: str | None) -> bool:
        if "*" in self.allowed_origins or origin in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        # Same origin: the page was loaded from this server under the name the request is addressed to.
        return (
            host_header is not None
            and bool(host_header)
            and parts.scheme in ("http", "https")
            and parts.netloc.lower() == host_header.strip().lower()
            and self.host_allowed(host_header)
        )

    def check_origin(self, origin: str | None, host_header: str | None) -> None:
        """Refuse a browser's cross-origin request (a request without Origin is not from a page)."""
        if origin is not None and not self.origin_allowed(origin, host_header):
            raise Forbidden(f"cross-origin request from {origin!r} refused; allow the origin with --allow-origin")

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """What to answer a configured cross origin (none for same-origin or non-browser requests)."""
        if origin is None or not ("*" in self.allowed_origins or origin in self.allowed_origins):
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Vary": "Origin",
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Max-Age": "600",
        }


JSON = "application/json"
BINARY = "application/octet-stream"
MULTIPART = "multipart/form-data"
NONE = ""  # no Content-Type at all (tritonclient sends V2 JSON bodies without one)


def check_body_type(content_type: str | None, accepted: tuple[str, ...]) -> None:
    """415 unless the body's media type is one the route takes (JSON covers application/*+json)."""
    kind = media_type(content_type)
    if kind in accepted or (JSON in accepted and is_json(content_type)):
        return
    said = " or ".join(a for a in accepted if a) or "no body"
    raise UnsupportedMediaType(f"Content-Type {kind or 'none'!r} is not accepted here: send {said}")
