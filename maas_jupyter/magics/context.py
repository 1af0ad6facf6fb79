"""Which body the magics talk to: the Jupyter server's REST API, or an in-process Platform."""

from __future__ import annotations

import os
import sys
from typing import Any

from ..config import ENV_JUPYTER_TOKEN, ENV_JUPYTER_URL
from ..errors import InvalidInput, MaasError


class MagicContext:
    """What a command needs: the service (Platform or MaasClient) and the user's namespace."""

    def __init__(self, shell):
        self.shell = shell
        self._service = None

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
        except NameError:
            raise InvalidInput(f"name {name!r} is not defined in this notebook") from None
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
    from ..platform import Platform

    return Platform()
