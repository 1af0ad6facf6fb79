"""RayRuntime: a loaded model version whose sessions run in Ray Serve replicas. It is a
serving.runtime.ServingRuntime, so Endpoint, Deployments and DataPlane use it unchanged: validation runs
here (same code, against the same signature), inference goes through the deployment handle."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from ..errors import InvalidInput, Unavailable
from ..serving.runtime import SignedRuntime

log = logging.getLogger("maas.ray")

# A request that met a replica dying is sent again this many times (to another replica) before it is
# answered 503; Serve replaces the dead replica meanwhile.
REPLICA_FAULT_RETRIES = 3
RETRY_PAUSE_S = 0.2


def _replica_fault_types() -> tuple:
    import ray.exceptions as rex

    names = (
        "RayActorError",
        "ActorDiedError",
        "ActorUnavailableError",
        "ActorUnschedulableError",
        "WorkerCrashedError",
        "NodeDiedError",
        "ObjectLostError",
        "OwnerDiedError",
    )
    found = tuple(getattr(rex, n) for n in names if hasattr(rex, n))
    try:
        from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

        found += (BackPressureError, DeploymentUnavailableError)
    except ImportError:
        pass
    return found


class RayRuntime(SignedRuntime):
    """model@version served by the Serve application `app_name`; retiring it deletes the application
    once the requests in flight are done (a swap drains the old replicas, then frees them). Requests are
    validated here, by the local backend's code, before they travel to a replica."""

    def __init__(
        self,
        model: str,
        version: int,
        signature: dict,
        app_name: str,
        handle,
        blob_ref,
        output_names: list[str],
        on_close,
    ):
        self._init_signed(model, version, signature)
        self.app_name = app_name
        self.handle = handle
        self.blob_ref = blob_ref  # held so the object store keeps the bytes for replicas that restart
        self.output_names = output_names
        self._on_close = on_close
        self._faults = _replica_fault_types()

    def _close(self) -> None:
        # Deleting a Serve application blocks; release() runs on the serving event loop.
        threading.Thread(target=self._on_close, args=(self,), name=f"maas-retire-{self.app_name}", daemon=True).start()

    def configure_batching(self, max_batch_size: int, max_queue_delay_ms: float) -> None:
        """Applied by RayDeployments as the application's user_config (replicas reconfigure live)."""
        self.batching = {"max_batch_size": max(1, int(max_batch_size)), "max_queue_delay_ms": float(max_queue_delay_ms)}

    # ---- inference ----------------------------------------------------------------------------

    async def infer(self, feed: dict) -> dict:
        """Send a validated feed to a replica; a replica that dies under it is retried on another, and
        after REPLICA_FAULT_RETRIES the request is Unavailable (503) with the reason."""
        started = time.perf_counter()
        for attempt in range(REPLICA_FAULT_RETRIES + 1):
            try:
                answer = await self.handle.infer.remote(feed)
                break
            except self._faults as exc:
                reason = f"{type(exc).__name__}"
                if attempt == REPLICA_FAULT_RETRIES:
                    raise Unavailable(
                        f"{self.model}@{self.version}: no replica could answer ({reason}); "
                        f"Ray is replacing it, try again"
                    ) from None
                log.info("%s@%s: replica fault (%s), retrying", self.model, self.version, reason)
                await asyncio.sleep(RETRY_PAUSE_S * (attempt + 1))
            except Exception as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, InvalidInput):
                    raise InvalidInput(cause.message) from None
                raise Unavailable(
                    f"{self.model}@{self.version}: the replica failed: "
                    f"{str(cause or exc).strip().splitlines()[-1] if str(cause or exc).strip() else type(exc).__name__}"
                ) from None
        if "error" in answer:
            raise InvalidInput(answer["error"])
        outputs = answer["outputs"]
        observer = self.observer
        if observer is not None:
            first = next(iter(feed.values()), None)
            observer.ran(first.shape[0] if first is not None and first.ndim > 0 else 1, time.perf_counter() - started)
        return outputs

    def run_now(self, feed: dict) -> dict:
        """Run a feed from a thread that is not an event loop (warm-up, tests)."""
        answer = self.handle.infer.remote(feed).result()
        if "error" in answer:
            raise InvalidInput(answer["error"])
        return answer["outputs"]
