"""Which body the magics talk to: the Jupyter server's REST API, or an in-process Platform."""

from __future__ import annotations

import os
import sys
import weakref
from typing import Any

from ..config import ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL
from ..errors import InvalidInput, MaasError
from ..http_session import authorization


class MagicContext:
    """What a command needs: the service (Platform or MaasClient) and the user's namespace."""

    def __init__(self, shell):
        self.shell = shell
        self._service = None
        # model object -> its last finished `%maas train` run (TrainingResult), for lineage at registration;
        # weak, so a model the user drops is not kept alive by the magics.
        self.trained = weakref.WeakKeyDictionary()

    @property
    def service(self):
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


def connect():
    """The server's API when this kernel was started by a Jupyter server with maas, else in-process."""
    url = os.environ.get(ENV_JUPYTER_URL)
    if url and os.environ.get("MAAS_MODE", "").lower() != "local":
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

    def __init__(self):
        from ..platform import Platform

        self.platform = Platform()
        self._serving = None
        self._client = None

    def __getattr__(self, name):
        return getattr(self.platform, name)  # registry, register, runs, jobs, … as the Platform has them

    @property
    def deployments(self):
        """A client of this kernel's serving process, started on first use and stopped with the kernel."""
        if self._client is None:
            import atexit
            import os
            import secrets

            from ..serving.client import ServingClient
            from ..serving.supervisor import ServingProcess

            env = {**os.environ, "MAAS_HOME": str(self.platform.settings.home),
                   "MAAS_DATABASE_URL": self.platform.settings.database_url}
            print("maas: starting this notebook's serving process…")  # progress, not a warning: not in red
            self._serving = ServingProcess(env=env, token=secrets.token_urlsafe(24),
                                           log_path=str(self.platform.settings.home / "serve-kernel.log"))
            atexit.register(self._serving.stop)
            self._client = ServingClient(self._serving.http_url, self._serving.token)
        return self._client

    def access(self, key: str | None = None):
        """V2 addresses and the header for code in the notebook (maas_jupyter.connection()); starts this
        kernel's serving process if it is not running yet. Its token, or `key`, opens REST and gRPC."""
        from ..access import Access

        self.deployments  # noqa: B018 - starts the serving process if it is not running yet
        return Access(rest=self._serving.http_url + "/v2", api=self._serving.http_url + "/api",
                      headers=authorization(key or self._serving.token), grpc=self._serving.grpc_address)

    def info(self) -> dict:
        info = {**self.platform.info(), "mode": "in-process"}
        if self._serving is not None:
            from ..client import CREDENTIAL_NOTE

            info.update({"rest": self._serving.http_url + "/v2", "grpc": self._serving.grpc_address,
                         "credential": CREDENTIAL_NOTE})
            if self.platform.settings.backend != "local":  # the cluster's nodes and replicas live there
                info.update(self._client.backend_info())
        else:
            info["rest"] = "not started (starts with the first deploy)"
        return info

    def close(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self.platform.close()
