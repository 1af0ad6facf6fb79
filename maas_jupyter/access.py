"""Where an endpoint answers and with which credential, for code in the notebook (requests,
tritonclient, an application being tried out): the same service the %maas magics talk to
(maas_jupyter.magics.notebook_access finds it).

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

    def endpoint(self, name: str) -> EndpointAccess:
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
