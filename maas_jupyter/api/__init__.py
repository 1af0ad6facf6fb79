"""Management REST routes, mounted by `maas serve` (/api/) and the Jupyter extension (maas/api/)."""

from __future__ import annotations

from collections.abc import Collection

from tornado import web

from . import deployments, jobs, keys, monitoring, registry
from .base import ApiHandler, NotFoundHandler
from .openapi import OpenApiHandler

# Each area's module holds ROUTES = [(pattern relative to the API root, handler class)].
AREAS = {"registry": registry, "deployments": deployments, "jobs": jobs, "monitoring": monitoring, "keys": keys}


def routes(exclude: Collection[str] = frozenset()) -> list[tuple[str, type[ApiHandler]]]:
    """Every management route of the areas (less `exclude`), and the OpenAPI document of them all (a
    server that leaves an area to another process still answers for it, through a proxy)."""
    every = [route for module in AREAS.values() for route in module.ROUTES]
    document = type("OpenApiHandler", (OpenApiHandler,), {"routes": tuple(every)})
    return [route for area, module in AREAS.items() if area not in exclude for route in module.ROUTES] + [
        (r"openapi\.json", document)
    ]


def mount(
    prefix: str, face: type | None = None, exclude: Collection[str] = frozenset()
) -> list[tuple[str, type[web.RequestHandler]]]:
    """Routes under `prefix` (ending in '/'), each handler mixed with the face's base class next
    in the MRO (Jupyter's APIHandler, or the bearer-token check of `maas serve`)."""
    mounted = []
    for pattern, handler in routes(exclude) + [(r".*", NotFoundHandler)]:
        cls = handler if face is None else type(handler.__name__, (handler, face), {})
        mounted.append((prefix + pattern + "/?$", cls))
    return mounted
