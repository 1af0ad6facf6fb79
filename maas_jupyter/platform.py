"""The Platform: the one object every face calls (registry, deployments, jobs and runs, monitoring, keys)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Unpack

from ._version import __version__
from .config import Settings
from .names import check_name
from .registry.artifacts import ArtifactStore
from .registry.database import Database
from .registry.intake import prepare
from .registry.origins import ModelOrigins
from .registry.registry import Registry
from .service import VersionFields

if TYPE_CHECKING:
    from .registry.changes import RegistryWatcher


class Platform:
    """Registry, deployments, jobs and monitoring over one MAAS_HOME and one database."""

    remote = False  # this process holds the state (service.MaasService.remote)

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.settings.database_url)
        self.db.upgrade()
        self.store = ArtifactStore(self.settings.artifacts_dir)
        self.registry = Registry(self.db, self.store, self.settings.max_upload_bytes)
        self.origins = ModelOrigins()
        from .serving.tables import endpoints_serving  # the desired state answers in any process

        self.registry.endpoints_using = lambda model: endpoints_serving(self.db, model)
        self._registry_watcher: RegistryWatcher | None = None

    @functools.cached_property
    def deployments(self):
        """Endpoints served in this process (`maas serve`); a face may assign a client in its place.
        Where their models run is the configured backend (MAAS_BACKEND: local or ray)."""
        from .backends import create_deployments

        return create_deployments(self)

    @functools.cached_property
    def events(self):
        """In-process live events (jobs, deployments, registry changes); the server streams them at maas/api/events."""
        from .events import EventBus

        return EventBus()

    def watch_registry(self, interval_s: float | None = None):
        """Publish "registry.changed" on `events` for every change of the registry, whichever process wrote
        it, until close() (maas_jupyter.registry.changes). A server calls this once; a kernel has no use for it."""
        from .registry.changes import DEFAULT_INTERVAL_S, RegistryWatcher

        if self._registry_watcher is None:
            self._registry_watcher = RegistryWatcher(
                self.db, self.events.publish, interval_s or DEFAULT_INTERVAL_S
            ).start()
        return self._registry_watcher

    @functools.cached_property
    def keys(self):
        """Inference-only keys: created, listed, revoked here; verified by the serving faces."""
        from .security.inference_keys import InferenceKeys

        return InferenceKeys(self.db)

    @functools.cached_property
    def runs(self):
        """Recorded training runs."""
        from .training.runs import RunStore

        return RunStore(self.db)

    @functools.cached_property
    def jobs(self):
        """Background training jobs; the first use also settles jobs left RUNNING by a server that died."""
        from .backends import create_launcher
        from .training.jobs import JobRunner

        return JobRunner(self.settings, self.db, self.events, launcher=create_launcher(self.settings))

    @functools.cached_property
    def monitor(self):
        """Serving metrics of this process, input drift, evaluation and canary bounds (maas_jupyter.monitoring)."""
        from .monitoring import Monitor

        return Monitor(self)

    def set_reference_data(self, name: str, version, x) -> dict:
        """Keep a summary of a version's training inputs for drift detection."""
        return self.monitor.set_reference_data(name, version, x)

    def set_reference_summary(self, name: str, version, summary: dict) -> dict:
        """Keep a reference summary made elsewhere (monitoring.drift.summarize) for drift detection."""
        return self.monitor.set_reference_summary(name, version, summary)

    def reference_info(self, name: str, version) -> dict:
        """What a version's stored drift reference covers (rows, features, bins, projection)."""
        return self.monitor.reference_info(name, version)

    def evaluate(self, name: str, version, x, y, batch_size: int = 1024, progress=None) -> dict:
        """Evaluate name@version on labelled data and store the metrics on the version."""
        return self.monitor.evaluate(name, version, x, y, batch_size, progress)

    def compare(self, name: str) -> list[dict]:
        """Every version of a model with metrics, params and lineage."""
        return self.monitor.compare(name)

    def train(self, model, x, y, **options):
        """Train a Keras model in this process and record the run (options: maas_jupyter.training.train)."""
        from .training.trainer import train

        return train(model, x, y, runs=self.runs, **options)

    def close(self) -> None:
        if self._registry_watcher is not None:  # before the database it reads goes
            self._registry_watcher.stop()
        if "monitor" in self.__dict__:
            self.monitor.close()
        if "jobs" in self.__dict__:  # only a runner that was started has workers to stop
            self.jobs.close()
        self.db.close()

    def info(self) -> dict:
        """What this platform is and where its state lives (database URL without its password)."""
        from sqlalchemy.engine import make_url

        from .backends import backend_info

        return {
            "version": __version__,
            "home": str(self.settings.home),
            "database": make_url(self.settings.database_url).render_as_string(hide_password=True),
            "parity_tolerance": self.settings.parity_tolerance,
            "max_upload_bytes": self.settings.max_upload_bytes,
            **backend_info(self),  # "backend", and for ray the cluster's nodes and endpoints' replicas
        }

    def register(
        self,
        name: str,
        model: Any,
        *,
        sample: Any = None,
        tolerance: float | None = None,
        **fields: Unpack[VersionFields],
    ) -> dict:
        """Register a Keras model, ONNX bytes, or a path to an ONNX file as the next version of `name`."""
        check_name(name, "model name")
        intake = prepare(model, sample, self.settings.parity_tolerance if tolerance is None else tolerance)
        details: VersionFields = {
            **fields,
            "params": {**intake.params, **(fields.get("params") or {})},
            "parent_version": self.origins.parent(model, name, fields.get("parent_version")),
        }
        version = self.registry.register_onnx(
            name, intake.onnx_bytes, keras_bytes=intake.keras_bytes, source=intake.source, **details
        )
        self.origins.remember(model, name, version["version"])
        return version

    def load_keras(self, name: str, ref=None):
        """NAME@REF (registered from Keras) as a Keras model; a version made from it descends from REF."""
        return self.origins.load_keras(self.registry, name, ref)[0]
