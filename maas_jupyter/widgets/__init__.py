"""Notebook widgets (a face: these import ipywidgets and plotting libraries; the core never does)."""

from .curve_state import CurveState
from .loss_curve import LossCurveWidget, in_widget_kernel, live_curve

__all__ = ["CurveState", "LossCurveWidget", "live_curve", "in_widget_kernel"]
