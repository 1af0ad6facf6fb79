"""Registering what a run trained, with lineage both ways (version -> run, run -> version)."""

from __future__ import annotations

from ..errors import InvalidInput
from .trainer import TrainingResult


def register_trained(platform, name: str, result: TrainingResult, runs=None, **options) -> dict:
    """Register `result.model` as the next version of `name`, pointing at its run (and at the version the
    model was loaded from or registered as, when the service knows one: registry/origins.py).

    `platform` is a Platform or anything with its register/registry (the HTTP client); `runs` is where
    the run was recorded (default: platform.runs).
    """
    if result.status != "finished":
        raise InvalidInput(
            f"run {result.run_id[:8]} {result.status}; only a finished run is registered "
            f"(register the model directly to keep its weights anyway)"
        )
    metrics = {k: v for k, v in result.metrics.items() if v is not None}
    version = platform.register(
        name,
        result.model,
        run_id=result.run_id,
        params=result.params,
        metrics={**metrics, **(options.pop("metrics", None) or {})},
        **options,
    )
    (runs if runs is not None else platform.runs).link_version(result.run_id, name, version["version"])
    return version
