"""Where an endpoint answers and with which credential, for code in the notebook (requests,
tritonclient, an application being tried out): the same service the %maas magics talk to.

    import maas_jupyter
    mnist = maas_jupyter.endpoint("mnist")                 # this notebook's own credential
    requests.post(mnist.infer_url, json=body, headers=mnist.headers)
    app = maas_jupyter.endpoint("mnist", key=KEY)           # an inference key (%maas keys create mnist)
    grpcclient.InferenceServerClient(app.grpc).infer(app.model, inputs, headers=app.grpc_headers)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass(frozen=True)
class Access:
    """The V2 base URLs of a maas server and the header that authorises a call."""

    rest: str  # V2 REST base, e.g. http://127.0.0.1:8888/maas/v2
    api: str  # the management REST API beside it
    headers: dict = field(default_factory=dict)  # {"Authorization": …} for REST calls
    grpc: str | None = None  # host:port of gRPC inference.GRPCInferenceService, None where none is reachable
    grpc_note: str = ""  # why grpc is None

    @property
    def grpc_headers(self) -> dict:
        """The REST header as gRPC metadata (lower-case keys, as gRPC requires)."""
        return {k.lower(): v for k, v in self.headers.items()}

    def endpoint(self, name: str) -> "EndpointAccess":
        return EndpointAccess(**{k: getattr(self, k) for k in self.__dataclass_fields__}, model=name)


@dataclass(frozen=True)
class EndpointAccess(Access):
    """One endpoint: its V2 model name and URLs."""

    model: str = ""

    @property
    def url(self) -> str:
        """GET: the V2 model metadata (inputs, outputs, versions)."""
        return f"{self.rest}/models/{quote(self.model, safe='')}"

    @property
    def infer_url(self) -> str:
        """POST a V2 inference request here."""
        return self.url + "/infer"


def _service():
    """The service of the %maas magics in this IPython kernel when they are loaded, else a new one."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    magic = shell.find_magic("maas") if shell is not None else None
    if magic is not None:
        return magic.__self__.context.service
    from .magics.context import connect

    return connect()


def connection(key: str | None = None) -> Access:
    """The server this notebook's %maas commands use: its V2 REST and gRPC addresses, and the header to
    send: this notebook's own credential, or the inference key `key` (what an application would hold)."""
    return _service().access(key)


def endpoint(name: str, key: str | None = None) -> EndpointAccess:
    """Where endpoint `name` answers, with the header to send (it need not exist yet)."""
    return connection(key).endpoint(name)
