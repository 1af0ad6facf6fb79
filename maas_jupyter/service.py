"""What the %maas magics call on the service behind them, written down once.

A notebook's magics hold one of two bodies and call them alike: the in-process body (a Platform in the
kernel, with a serving process of the kernel's own: magics/context.py) or a MaasClient, the management
API of the Jupyter server that started the kernel (client.py). Both satisfy MaasService; mypy checks it
where the magics' context holds one. The members are the calls the magics make, and the calls the core
helpers they hand a service to make (training.register.register_trained, registry.origins.load_keras,
monitoring.evaluation.compare, backends.deploy_scaled, training.trainer.train).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Unpack

if TYPE_CHECKING:
    from .access import Access
    from .registry.origins import ModelOrigins

VersionRef = int | str  # a version number, an alias, or "latest"


class RegistryService(Protocol):
    """Models, versions and aliases: registry.Registry in-process, client.RegistryClient over HTTP."""

    def list_models(self, offset: int = 0, limit: int = 100) -> dict: ...

    def list_versions(self, name: str, offset: int = 0, limit: int = 100) -> dict: ...

    def get_version(self, name: str, ref: VersionRef | None = None) -> dict: ...

    def load_keras_bytes(self, name: str, ref: VersionRef | None = None) -> bytes: ...

    def set_alias(self, name: str, alias: str, ref: VersionRef, actor: str | None = None, reason: str = "") -> dict: ...

    def delete_alias(self, name: str, alias: str, actor: str | None = None, reason: str = "") -> None: ...

    def history(self, subject: str, limit: int = 1000) -> list[dict]: ...


class DeploymentsService(Protocol):
    """Endpoints and V2 predict: in both bodies a serving.client.ServingClient of a serving process (the
    kernel's own `maas serve`, or the Jupyter server's through its proxy)."""

    def list(self) -> list[dict]: ...

    def get(self, name: str) -> dict: ...

    def deploy(
        self,
        name: str,
        model: str,
        version: VersionRef | None = None,
        *,
        max_batch_size: int | None = None,
        max_queue_delay_ms: float | None = None,
        actor: str | None = None,
        reason: str = "",
        **scaling: Any,
    ) -> dict: ...

    def canary(
        self,
        name: str,
        version: VersionRef,
        weight: float,
        *,
        model: str | None = None,
        actor: str | None = None,
        reason: str = "",
    ) -> dict: ...

    def promote(self, name: str, *, actor: str | None = None, reason: str = "") -> dict: ...

    def rollback(self, name: str, *, actor: str | None = None, reason: str = "") -> dict: ...

    def undeploy(self, name: str, *, actor: str | None = None, reason: str = "") -> None: ...

    def predict(
        self, endpoint: str, inputs: Any, version: str | None = None, metadata: dict | None = None
    ) -> dict[str, Any]: ...


class KeysService(Protocol):
    """Inference keys: security.inference_keys.InferenceKeys in-process, client.KeysClient over HTTP."""

    def create(self, endpoints: Any, description: str = "", actor: str = "") -> dict: ...

    def list(self, include_revoked: bool = False) -> list[dict]: ...

    def revoke(self, key_id: Any, actor: str = "", reason: str = "") -> dict: ...


class JobsService(Protocol):
    """Background training jobs: training.jobs.JobRunner in-process, client.JobsClient over HTTP."""

    def submit(self, name: str, script: str, params: dict | None = None, resources: dict | None = None) -> dict: ...

    def get(self, job_id: Any) -> dict: ...

    def list(self, state: str | None = None, offset: int = 0, limit: int = 100) -> dict: ...

    def cancel(self, job_id: Any) -> dict: ...

    def logs(self, job_id: Any, offset: int = 0, limit: int = ...) -> dict: ...

    def follow(self, job_id: Any, poll_s: float = ..., stop: threading.Event | None = None) -> Iterator[dict]: ...


class VersionFields(TypedDict, total=False):
    """What a registration may say about the new version, besides the model itself (all optional):
    the keyword arguments of every register (Platform, MaasClient, the magics' service)."""

    alias: str | None  # point this alias at the new version
    description: str
    tags: dict | None
    metrics: dict | None
    params: dict | None  # added to the conversion's own (parity, source)
    run_id: str | None  # the training run it came from
    parent_version: int | None  # the version it was fine-tuned from; else found from the model's origins
    actor: str | None  # who registers it (in-process; a server records its authenticated user)


class RunsService(Protocol):
    """Recorded training runs: training.runs.RunStore in-process, client.RunsClient over HTTP. A run
    trained in the kernel is opened, extended and closed through these calls, then linked to the version
    registered from it."""

    def start(self, params: dict, model_name: str | None = None, job_id: int | None = None) -> str: ...

    def record_epochs(self, run_id: str, history: list[dict]) -> None: ...

    def finish(self, run_id: str, status: str, history: list[dict], duration_s: float, error: str = "") -> dict: ...

    def link_version(self, run_id: str, name: str, version: int) -> None: ...

    def get(self, run_id: str) -> dict: ...

    def list(
        self, model_name: str | None = None, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> dict: ...


class MaasService(Protocol):
    """The service a notebook's magics talk to."""

    @property
    def remote(self) -> bool:
        """True when the service is a server reached over HTTP (its state, database included, is the
        server's, and every change goes through its API); False for the kernel's own Platform."""
        ...

    @property
    def registry(self) -> RegistryService: ...

    @property
    def origins(self) -> ModelOrigins:
        """Which registered version each model object in this process came from (lineage)."""
        ...

    @property
    def deployments(self) -> DeploymentsService: ...

    @property
    def keys(self) -> KeysService: ...

    @property
    def jobs(self) -> JobsService: ...

    @property
    def runs(self) -> RunsService: ...

    def info(self) -> dict:
        """What the service is and where its state lives; "mode" says in-process or server."""
        ...

    def access(self, key: str | None = None) -> Access:
        """Addresses and the header for code in the notebook (maas_jupyter.connection())."""
        ...

    def register(
        self,
        name: str,
        model: Any,
        *,
        sample: Any = None,
        tolerance: float | None = None,
        **fields: Unpack[VersionFields],
    ) -> dict:
        """Register a Keras model, ONNX bytes or an .onnx path as the next version of `name`."""
        ...

    def set_reference_summary(self, name: str, version: VersionRef, summary: dict) -> dict:
        """Keep a drift reference made here (monitoring.drift.summarize) for name@version."""
        ...

    def reference_info(self, name: str, version: VersionRef) -> dict:
        """What name@version's stored drift reference covers."""
        ...
