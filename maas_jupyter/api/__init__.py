"""Management REST routes, mounted by `maas serve` (/api/) and the Jupyter extension (maas/api/)."""

from __future__ import annotations

import importlib

from tornado import web

from .base import ApiHandler, NotFoundHandler

# Each area's module exposes ROUTES = [(pattern relative to the API root, handler class)].
AREAS = ["registry", "deployments", "jobs", "monitoring", "keys"]


def routes(exclude: set[str] = frozenset()) -> list[tuple[str, type[ApiHandler]]]:
    """Every management route of the areas that are installed (less `exclude`), OpenAPI document included."""
    from .openapi import OpenApiHandler

    found = []
    for area in (a for a in AREAS if a not in exclude):
        try:
            module = importlib.import_module(f"{__name__}.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{area}":
                raise
            continue  # that area has not landed in this build
        found.extend(module.ROUTES)
    found.append((r"openapi\.json", OpenApiHandler))
    return found


def mount(prefix: str, face: type | None = None, exclude: set[str] = frozenset()
          ) -> list[tuple[str, type[web.RequestHandler]]]:
    """Routes under `prefix` (ending in '/'), each handler mixed with the face's base class next
    in the MRO (Jupyter's APIHandler, or the bearer-token check of `maas serve`)."""
    mounted = []
    for pattern, handler in routes(exclude) + [(r".*", NotFoundHandler)]:
        cls = handler if face is None else type(handler.__name__, (handler, face), {})
        mounted.append((prefix + pattern + "/?$", cls))
    return mounted
