"""The curves of a run as one PNG, for places where widgets cannot render (nbconvert, nbclient, a viewer)."""

from __future__ import annotations

import io

import numpy as np

from .axes import compact_label
from .curve_state import CurveState


def render_png(state: CurveState, width_in: float = 11.0, height_in: float = 3.2, dpi: int = 80) -> bytes:
    """Batch loss, epoch loss and epoch metrics side by side, as PNG bytes."""
    # The object API with the Agg canvas: no pyplot, so no global figure state and no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = state.metric_names()
    panels = 3 if metrics else 2
    # Fixed margins: a constrained or tight layout doubles the render time, paid at the end of every run.
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)
    figure.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.8, wspace=0.28)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels)

    steps, losses = state.batch_series()
    # Few ticks and one legend per epoch panel: text is most of what Agg spends its time on, and this
    # image is drawn at the end of every run.
    axes[0].set_title("loss per batch (smoothed; raw faint)")
    if len(steps):
        axes[0].plot(steps, losses[0], color="#1f77b4", alpha=0.3, linewidth=0.8)
        axes[0].plot(steps, losses[1], color="#1f77b4", linewidth=1.6)
    axes[0].set_xlabel("step")
    for ax in axes:
        ax.locator_params(axis="y", nbins=4)
    axes[0].locator_params(axis="x", nbins=4, integer=True)
    axes[0].xaxis.set_major_formatter(lambda value, _position: compact_label(value))  # 2.5k, as the live chart

    _epoch_panel(axes[1], state, "loss")
    if metrics:
        _epoch_panel(axes[2], state, metrics[0])
    figure.suptitle(state.status_line(), fontsize="small")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _epoch_panel(ax, state: CurveState, key: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(f"{key} per epoch")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for name, label, color in ((key, "train", "#1f77b4"), (f"val_{key}", "validation", "#ff7f0e")):
        x, y = state.epoch_series(name)
        if len(x) and np.isfinite(y).any():
            ax.plot(x, y, marker="o", markersize=3, color=color, label=label)
    if ax.lines:
        ax.legend(loc="best", fontsize="small")
