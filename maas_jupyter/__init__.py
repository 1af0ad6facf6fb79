"""maas-jupyter: Model-as-a-Service inside Jupyter."""

from ._version import __version__


def load_ipython_extension(ipython):
    """`%load_ext maas_jupyter`: register the %maas / %%maas magics."""
    from .magics import register_magics

    register_magics(ipython)


def _jupyter_server_extension_points():
    from .server import MaasExtension

    return [{"module": "maas_jupyter", "app": MaasExtension}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "maas-jupyter"}]


__all__ = ["__version__"]
