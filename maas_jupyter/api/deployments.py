"""Management REST for deployments: endpoints, swap, canary, promote, rollback, undeploy.

Shapes (every change answers with the endpoint as GET deployments/{name} shows it):
  endpoint = {"name", "model", "version", "previous_version", "canary": null | {"version", "weight"},
              "max_batch_size", "max_queue_delay_ms", "state": "ready"|"failed"|"unloaded"|"not_loaded",
              "error", "loaded": [{"version", "role": "primary"|"canary"|"previous", "ready", "error"}],
              "created_at", "updated_at"}
Loading a model blocks, so changes run in a worker thread; inference keeps flowing meanwhile.
"""

from __future__ import annotations

import asyncio

from ..backends import SCALING_FIELDS, deploy_scaled, scaling_options
from ..errors import InvalidInput
from .base import ApiHandler, only_fields

NAME = r"(?P<name>[^/]+)"
_CHANGE_FIELDS = {"version", "max_batch_size", "max_queue_delay_ms", "canary", "reason", *SCALING_FIELDS}


def _reason(body: dict) -> str:
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise InvalidInput("reason must be a string")
    return reason


def _canary(value) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput('canary must be an object {"version": V, "weight": PERCENT} or null')
    only_fields(value, {"version", "weight", "model"})
    if "weight" not in value:
        raise InvalidInput("canary needs a weight (percent of traffic, 0 to 100)")
    return value


class DeploymentsHandler(ApiHandler):
    def get(self):
        """Every endpoint: {"items": [endpoint, ...]}."""
        self.write_json({"items": self.platform.deployments.list()})

    async def post(self):
        """Deploy or swap: {"name": ENDPOINT, "model": MODEL, "version": "3"|"production"|null (newest),
        "max_batch_size"?, "max_queue_delay_ms"?, "canary"?: {"version", "weight"}, "reason"?}.
        A new endpoint answers 201, a swap of an existing one 200. With "canary", the canary version of the
        model gets `weight` percent of the traffic (the endpoint is created first from "version" if needed)."""
        body = self.read_json()
        only_fields(body, _CHANGE_FIELDS | {"name", "model"})
        name, model = body.get("name"), body.get("model")
        if not isinstance(name, str) or not isinstance(model, str):
            raise InvalidInput('deploying needs "name" (the endpoint) and "model"')
        deployments, actor, reason = self.platform.deployments, self.actor, _reason(body)
        existed = any(item["name"] == name for item in deployments.list())
        canary = _canary(body["canary"]) if body.get("canary") is not None else None

        def change():
            if canary is None or not existed:
                state = deploy_scaled(
                    deployments,
                    name,
                    model,
                    body.get("version"),
                    scaling_options(body),
                    max_batch_size=body.get("max_batch_size"),
                    max_queue_delay_ms=body.get("max_queue_delay_ms"),
                    actor=actor,
                    reason=reason,
                )
            if canary is not None:
                state = deployments.canary(
                    name, canary.get("version"), canary["weight"], model=model, actor=actor, reason=reason
                )
            return state

        state = await asyncio.to_thread(change)
        if not existed:
            self.set_header("Location", self.request.path.rstrip("/") + "/" + name)
        self.write_json(state, 200 if existed else 201)


class DeploymentHandler(ApiHandler):
    def get(self, name):
        """One endpoint."""
        self.write_json(self.platform.deployments.get(name))

    async def patch(self, name):
        """Change an endpoint: {"version"?: swap to it, "max_batch_size"?, "max_queue_delay_ms"?,
        "canary"?: {"version", "weight", "model"?} (start or change a canary) | {"weight"} (re-weigh) | null (remove it),
        "reason"?}."""
        body = self.read_json()
        only_fields(body, _CHANGE_FIELDS)
        deployments, actor, reason = self.platform.deployments, self.actor, _reason(body)

        def change():
            state = deployments.get(name)
            if "version" in body or scaling_options(body):  # scaling alone rescales in place (ray backend)
                state = deploy_scaled(
                    deployments,
                    name,
                    state["model"],
                    body.get("version", state["version"]),
                    scaling_options(body),
                    actor=actor,
                    reason=reason,
                )
            if "max_batch_size" in body or "max_queue_delay_ms" in body:
                state = deployments.update(
                    name,
                    max_batch_size=body.get("max_batch_size"),
                    max_queue_delay_ms=body.get("max_queue_delay_ms"),
                    actor=actor,
                )
            if "canary" in body:
                if body["canary"] is None:
                    state = deployments.cancel_canary(name, actor=actor, reason=reason)
                else:
                    canary = _canary(body["canary"])
                    if "version" in canary:
                        state = deployments.canary(
                            name,
                            canary["version"],
                            canary["weight"],
                            model=canary.get("model"),
                            actor=actor,
                            reason=reason,
                        )
                    else:
                        state = deployments.update(name, canary_weight=canary["weight"], actor=actor, reason=reason)
            return state

        self.write_json(await asyncio.to_thread(change))

    async def delete(self, name):
        """Undeploy: stop serving and forget the endpoint's desired state (204)."""
        body = self.read_json()
        only_fields(body, {"reason"})
        await asyncio.to_thread(self.platform.deployments.undeploy, name, actor=self.actor, reason=_reason(body))
        self.set_status(204)
        self.finish()


class RollbackHandler(ApiHandler):
    async def post(self, name):
        """{"reason"?}: drop the canary if there is one, else return to the previous version."""
        body = self.read_json()
        only_fields(body, {"reason"})
        self.write_json(
            await asyncio.to_thread(self.platform.deployments.rollback, name, actor=self.actor, reason=_reason(body))
        )


class PromoteHandler(ApiHandler):
    async def post(self, name):
        """{"reason"?}: the canary becomes the primary version (409 without a canary)."""
        body = self.read_json()
        only_fields(body, {"reason"})
        self.write_json(
            await asyncio.to_thread(self.platform.deployments.promote, name, actor=self.actor, reason=_reason(body))
        )


ROUTES = [
    (r"deployments", DeploymentsHandler),
    (rf"deployments/{NAME}", DeploymentHandler),
    (rf"deployments/{NAME}/rollback", RollbackHandler),
    (rf"deployments/{NAME}/promote", PromoteHandler),
]
