"""Typed errors of the core; each face maps them once (HTTP status, gRPC status, notebook line)."""


class MaasError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(MaasError):
    """The caller sent something malformed or not allowed."""

    code = "invalid_input"
    http_status = 400


class NotFound(MaasError):
    """A model, version, alias, endpoint or job that does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(MaasError):
    """The request contradicts the current state (duplicate name, model in use)."""

    code = "conflict"
    http_status = 409


class PayloadTooLarge(MaasError):
    """A body or upload above the configured limit."""

    code = "payload_too_large"
    http_status = 413


class Unavailable(MaasError):
    """Something exists but cannot serve now (a model failed to load, a server is down)."""

    code = "unavailable"
    http_status = 503


class Unauthorized(MaasError):
    """No credential, or one this server does not know."""

    code = "unauthorized"
    http_status = 401


class Forbidden(MaasError):
    """A known credential that may not do this, or a request from where none may come (foreign Host or Origin)."""

    code = "forbidden"
    http_status = 403


class UnsupportedMediaType(MaasError):
    """A body whose Content-Type the route does not take (a JSON route given text/plain, a form)."""

    code = "unsupported_media_type"
    http_status = 415


class InsufficientStorage(MaasError):
    """The disk is full: nothing was stored."""

    code = "insufficient_storage"
    http_status = 507
