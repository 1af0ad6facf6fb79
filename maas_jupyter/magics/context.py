"""Which body the magics talk to: the Jupyter server's REST API, or an in-process Platform."""

from __future__ import annotations

import os
import sys
import weakref
from typing import TYPE_CHECKING, Any

from ..config import ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL, setting
from ..errors import InvalidInput, MaasError
from ..http_session import authorization
from ..service import MaasService

if TYPE_CHECKING:
    from ..access import Access
    from ..registry.origins import ModelOrigins
    from ..registry.registry import Registry
    from ..service import JobsService, KeysService, RunsService
    from ..serving.client import ServingClient
    from ..serving.supervisor import ServingProcess
    from ..training.trainer import TrainingResult


class MagicContext:
    """What a command needs: the service (InProcessBody or MaasClient) and the user's namespace."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._service: MaasService | None = None
        # model object -> its last finished `%maas train` run and a digest of the weights it left, for lineage
        # at registration; weak, so a model the user drops is not kept alive by the magics.
        self.trained: weakref.WeakKeyDictionary[Any, tuple[TrainingResult, str | None]] = weakref.WeakKeyDictionary()

    @property
    def service(self) -> MaasService:
        if self._service is None:
            self._service = connect()
        return self._service

    def variable(self, name: str) -> Any:
        """A value from the user's namespace; a clear error when the name is not defined."""
        namespace = self.shell.user_ns
        if name in namespace:
            return namespace[name]
        try:
            # Allows expressions such as x_test[:5] or df.values.
            return eval(name, namespace)  # noqa: S307 - the user's own kernel and input
        except NameError as exc:  # name the variable that is missing, not the whole expression
            raise InvalidInput(f"name {(exc.name or name)!r} is not defined in this notebook") from None
        except Exception as exc:
            raise InvalidInput(f"cannot evaluate {name!r}: {type(exc).__name__}: {exc}") from None


def connect() -> MaasService:
    """The server's API when this kernel was started by a Jupyter server with maas, else in-process."""
    url = os.environ.get(ENV_JUPYTER_URL)
    # No Settings is at hand here: setting() reads (and checks) MAAS_MODE alone.
    if url and setting("MAAS_MODE") != "local":
        from ..client import MaasClient

        client = MaasClient(url, os.environ.get(ENV_JUPYTER_TOKEN, ""))
        try:
            client.info()
            return client
        except MaasError as exc:
            print(f"maas: the Jupyter server at {url} does not answer ({exc}); working in-process", file=sys.stderr)
    return InProcessBody()


class InProcessBody:
    """The in-process body: a Platform in this kernel, and a `maas serve` child of this kernel for
    endpoints (so REST and gRPC clients, even ones in this same kernel, can reach them)."""

    remote = False  # the kernel's own Platform and database

    def __init__(self) -> None:
        from ..platform import Platform

        self.platform = Platform()
        self._serving: ServingProcess | None = None
        self._client: ServingClient | None = None

    # The Platform's parts the magics use (service.MaasService), each named here.
    @property
    def registry(self) -> Registry:
        return self.platform.registry

    @property
    def origins(self) -> ModelOrigins:
        return self.platform.origins

    @property
    def keys(self) -> KeysService:
        return self.platform.keys

    @property
    def jobs(self) -> JobsService:
        return self.platform.jobs

    @property
    def runs(self) -> RunsService:
        return self.platform.runs

    def register(self, name: str, model: Any, **options: Any) -> dict:
        return self.platform.register(name, model, **options)

    def set_reference_summary(self, name: str, version: int | str, summary: dict) -> dict:
        return self.platform.set_reference_summary(name, version, summary)

    def reference_info(self, name: str, version: int | str) -> dict:
        return self.platform.reference_info(name, version)

    @property
    def deployments(self) -> ServingClient:
        """A client of this kernel's serving process, started on first use and stopped with the kernel."""
        return self._serving_process()[1]

    def _serving_process(self) -> tuple[ServingProcess, ServingClient]:
        if self._serving is None or self._client is None:
            import atexit
            import os
            import secrets

            from ..serving.client import ServingClient
            from ..serving.supervisor import ServingProcess

            env = {
                **os.environ,
                "MAAS_HOME": str(self.platform.settings.home),
                "MAAS_DATABASE_URL": self.platform.settings.database_url,
            }
            print("maas: starting this notebook's serving process…")  # progress, not a warning: not in red
            serving = ServingProcess(
                env=env, token=secrets.token_urlsafe(24), log_path=str(self.platform.settings.home / "serve-kernel.log")
            )
            atexit.register(serving.stop)
            self._serving, self._client = serving, ServingClient(serving.http_url, serving.token)
        return self._serving, self._client

    def access(self, key: str | None = None) -> Access:
        """V2 addresses and the header for code in the notebook (maas_jupyter.connection()); starts this
        kernel's serving process if it is not running yet. Its token, or `key`, opens REST and gRPC."""
        from ..access import Access

        serving = self._serving_process()[0]
        return Access(
            rest=serving.http_url + "/v2",
            api=serving.http_url + "/api",
            headers=authorization(key or serving.token or ""),
            grpc=serving.grpc_address,
        )

    def info(self) -> dict:
        info = {**self.platform.info(), "mode": "in-process"}
        if self._serving is not None and self._client is not None:
            from ..client import CREDENTIAL_NOTE

            info.update(
                {
                    "rest": self._serving.http_url + "/v2",
                    "grpc": self._serving.grpc_address,
                    "credential": CREDENTIAL_NOTE,
                }
            )
            if self.platform.settings.backend != "local":  # the cluster's nodes and replicas live there
                info.update(self._client.backend_info())
        else:
            info["rest"] = "not started (starts with the first deploy)"
        return info

    def close(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self.platform.close()
