"""maas-jupyter: Model-as-a-Service inside Jupyter."""

from ._version import __version__


def load_ipython_extension(ipython):
    """`%load_ext maas_jupyter`: register the %maas / %%maas magics."""
    import os
    import sys

    if "tensorflow" not in sys.modules:
        # TensorFlow reads this once, when imported: loaded first, the extension spares the notebook its
        # native INFO and WARNING lines (an explicit setting of the user's stands); the lines it writes
        # through absl whatever the setting are dropped from its import.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from .registry.native_logs import quiet_first_tensorflow_import

        quiet_first_tensorflow_import()
    from .magics import register_magics

    register_magics(ipython)


def connection(key: str | None = None):
    """The server this notebook's %maas commands use: V2 REST/gRPC addresses and the credential header
    (this notebook's own, or the inference key `key`)."""
    from .magics.notebook_access import connection

    return connection(key)


def endpoint(name: str, key: str | None = None):
    """Where endpoint `name` answers (`.infer_url`, `.grpc`, `.model`) and the header to send (`.headers`)."""
    from .magics.notebook_access import endpoint

    return endpoint(name, key)


def _jupyter_server_extension_points():
    from .server import MaasExtension

    return [{"module": "maas_jupyter", "app": MaasExtension}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "maas-jupyter"}]


__all__ = ["__version__", "connection", "endpoint"]
