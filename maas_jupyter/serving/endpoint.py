"""A named endpoint in memory: which loaded runtimes take its traffic, read lock-free on the hot path."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import NotFound, Unavailable
from ..names import parse_number
from .runtime import Runtime


@dataclass(frozen=True)
class Routes:
    """An immutable snapshot: a change builds a new one and swaps the reference in one assignment,
    so a request never sees half of a change."""

    primary: Runtime
    canary: Runtime | None = None
    canary_weight: int = 0
    previous: Runtime | None = None  # kept loaded for a fast rollback; takes no traffic


class Endpoint:
    """An endpoint's current routes plus the batching settings its runtimes use."""

    def __init__(self, name: str, model: str, routes: Routes, max_batch_size: int, max_queue_delay_ms: float):
        self.name = name
        self.model = model
        self.routes = routes
        self.max_batch_size = max_batch_size
        self.max_queue_delay_ms = max_queue_delay_ms

    def runtimes(self) -> list:
        r = self.routes
        return [rt for rt in (r.primary, r.canary, r.previous) if rt is not None]

    def served_versions(self) -> list[str]:
        """Versions reachable by version-specific routes: the primary and the canary."""
        r = self.routes
        return [str(rt.version) for rt in (r.primary, r.canary) if rt is not None]

    def runtime_for(self, version: str | None, require_loaded: bool = True):
        """The runtime a request for `version` (None: by traffic weight) goes to."""
        r = self.routes
        if version is None or version == "":
            if r.canary is not None and r.canary_weight > 0 and random.random() * 100.0 < r.canary_weight:
                runtime = r.canary
            else:
                runtime = r.primary
        else:
            number = _version_number(version)
            if r.primary.version == number:
                runtime = r.primary
            elif r.canary is not None and r.canary.version == number:
                runtime = r.canary
            else:
                raise NotFound(
                    f"endpoint {self.name!r} does not serve version {number}; it serves "
                    f"{', '.join(self.served_versions())}"
                )
        if require_loaded and not runtime.ready:
            raise Unavailable(runtime.error or f"{self.name} version {runtime.version} is not loaded")
        return runtime

    def acquire(self, version: str | None):
        """Pick a runtime and count this request in; a runtime retired meanwhile is skipped (the routes
        already point elsewhere), which is what makes swaps lose no request."""
        for _attempt in range(100):
            runtime = self.runtime_for(version)
            if runtime.acquire():
                return runtime
        raise Unavailable(f"endpoint {self.name!r} is changing too fast to serve this request")


def _version_number(version: str) -> int:
    number = parse_number(version)
    if number is None or number < 1:
        raise NotFound(f"version {str(version)!r} is not a version number")
    return number
