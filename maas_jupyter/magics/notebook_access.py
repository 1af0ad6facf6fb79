"""maas_jupyter.connection() and maas_jupyter.endpoint(): the Access of the service this kernel's %maas
magics talk to (maas_jupyter.access says what an Access holds)."""

from __future__ import annotations

from IPython import get_ipython

from ..access import Access, EndpointAccess


def _service():
    """The service of the %maas magics in this IPython kernel when they are loaded, else a new one."""
    shell = get_ipython()
    magic = shell.find_magic("maas") if shell is not None else None
    if magic is not None:
        return magic.__self__.context.service
    from .context import connect

    return connect()


def connection(key: str | None = None) -> Access:
    """The server this notebook's %maas commands use: its V2 REST and gRPC addresses, and the header to
    send: this notebook's own credential, or the inference key `key` (what an application would hold)."""
    return _service().access(key)


def endpoint(name: str, key: str | None = None) -> EndpointAccess:
    """Where endpoint `name` answers, with the header to send (it need not exist yet)."""
    return connection(key).endpoint(name)
