"""The Ray Serve deployment behind one loaded model version: every replica runs the same ONNX Runtime
session code as the local backend (serving/runtime.py), batching included, at the replica."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..errors import InvalidInput

# Requests a replica accepts at once: enough that concurrent requests meet in its batcher.
MAX_ONGOING_REQUESTS = 64


class ModelReplica:
    """One replica: the model bytes come from Ray's object store (no shared file system needed)."""

    def __init__(self, model: str, version: int, blob: list, signature: dict, options: dict):
        import ray

        from ..serving.runtime import load_runtime

        # An ObjectRef passed to .bind() arrives unresolved: it comes wrapped in a list and is fetched here.
        onnx_bytes = ray.get(blob[0])
        threads = int(options.get("inference_threads") or 2)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="maas-replica")
        self.runtime = load_runtime(
            model,
            version,
            onnx_bytes,
            signature,
            executor=self._executor,
            intra_op_threads=int(options.get("intra_op_threads", 1)),
            max_batch_size=int(options["max_batch_size"]),
            max_queue_delay_ms=float(options["max_queue_delay_ms"]),
            max_concurrent_runs=threads,
        )

    def reconfigure(self, config: dict) -> None:
        """Serve's user_config: batching settings change on live replicas without a restart."""
        self.runtime.configure_batching(int(config["max_batch_size"]), float(config["max_queue_delay_ms"]))

    async def infer(self, feed: dict) -> dict:
        """Run a feed the front has validated; a model failure comes back as {"error": reason}, so the
        front raises InvalidInput (400) rather than a replica fault (503)."""
        try:
            return {"outputs": await self.runtime.infer(feed)}
        except InvalidInput as exc:
            return {"error": exc.message}

    def where(self) -> dict:
        """This replica's process and node (tests and `info`)."""
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    def __del__(self):
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False)


def build_application(
    model: str, version: int, blob_ref, signature: dict, scaling: dict, batching: dict, intra_op_threads: int = 1
):
    """The bound Serve application of model@version with `scaling` (replicas or autoscaling bounds)."""
    from ray import serve

    cpus = float(scaling.get("cpus", 1))
    options = {
        "max_ongoing_requests": MAX_ONGOING_REQUESTS,
        "ray_actor_options": {"num_cpus": cpus},
        "user_config": dict(batching),
        "name": "model",
        # A replica that fails its health check is replaced; a killed one is restarted at once.
        "health_check_period_s": 2,
        "health_check_timeout_s": 30,
        "graceful_shutdown_timeout_s": 5,
    }
    if scaling.get("min_replicas") is not None or scaling.get("max_replicas") is not None:
        options["autoscaling_config"] = {
            "min_replicas": int(scaling.get("min_replicas") or 1),
            "initial_replicas": int(scaling.get("min_replicas") or 1),
            "max_replicas": int(scaling.get("max_replicas") or max(1, int(scaling.get("min_replicas") or 1))),
            "target_ongoing_requests": float(scaling.get("target_ongoing_requests") or 8),
        }
    else:
        options["num_replicas"] = int(scaling.get("replicas", 1))
    replica_options = {
        "inference_threads": max(1, int(round(cpus)) or 1) + 1,
        "intra_op_threads": intra_op_threads,
        **batching,
    }
    deployment = serve.deployment(ModelReplica).options(**options)  # type: ignore[attr-defined]  # typed as a decorator factory; called on a class it is a Deployment
    return deployment.bind(model, version, [blob_ref], signature, replica_options)
