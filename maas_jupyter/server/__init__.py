"""The Jupyter server extension (enabled on install by jupyter-config/)."""

from .extension import MaasExtension

__all__ = ["MaasExtension"]
