"""Typed errors of the core; each face maps them once (HTTP status, gRPC status, notebook line)."""


class MaasError(Exception):
    """Base of every error the core raises on purpose."""

    code = "error"
    http_status = 500

    def __init_subclass__(cls, *, code: str, http_status: int, **kwargs):
        # Each error names its wire code and HTTP status in its class line; the faces map from these.
        super().__init_subclass__(**kwargs)
        cls.code, cls.http_status = code, http_status

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(MaasError, code="invalid_input", http_status=400):
    """The caller sent something malformed or not allowed."""


class NotFound(MaasError, code="not_found", http_status=404):
    """A model, version, alias, endpoint or job that does not exist."""


class Conflict(MaasError, code="conflict", http_status=409):
    """The request contradicts the current state (duplicate name, model in use)."""


class PayloadTooLarge(MaasError, code="payload_too_large", http_status=413):
    """A body or upload above the configured limit."""


class Unavailable(MaasError, code="unavailable", http_status=503):
    """Something exists but cannot serve now (a model failed to load, a server is down)."""


class Unauthorized(MaasError, code="unauthorized", http_status=401):
    """No credential, or one this server does not know."""


class Forbidden(MaasError, code="forbidden", http_status=403):
    """A known credential that may not do this, or a request from where none may come (foreign Host or Origin)."""


class UnsupportedMediaType(MaasError, code="unsupported_media_type", http_status=415):
    """A body whose Content-Type the route does not take (a JSON route given text/plain, a form)."""


class InsufficientStorage(MaasError, code="insufficient_storage", http_status=507):
    """The disk is full: nothing was stored."""
