"""One chart of a widget: a caption (its title and legend, above the plot) over a bqplot figure.

Everything the figure shows is set from Python: one line mark per series, fed finite points only, and
the extents and ticks of both scales. Nothing is left for the browser to work out from empty or
missing data, which is where bqplot's console errors came from (a curve with no point is the SVG path
"null"; a NaN value is placed at "translate(x,undefined)"). The legend is HTML outside the plot area,
so it never covers a curve, and the figure's hover toolbar is off (it covered the title).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .axes import finite_points, nice_ticks

MARKER_SIZE = 24
Y_TICKS = 5


@dataclass(frozen=True)
class Series:
    """How one curve looks and what the legend calls it."""

    label: str
    color: str
    opacity: float = 1.0
    marker: str | None = None


def legend_html(title: str, series: list[Series]) -> str:
    """The caption: the chart's title, then a colour swatch and the name of each series."""
    items = "".join(
        f"<span style='white-space:nowrap;margin-left:14px'>"
        f"<span style='display:inline-block;width:16px;height:3px;vertical-align:middle;background:{s.color};"
        f"opacity:{s.opacity:g}'></span> {html.escape(s.label)}</span>"
        for s in series
    )
    return (
        f"<div class='maas-chart-caption' style='font-size:12px;line-height:18px'>"
        f"<b>{html.escape(title)}</b><span class='maas-legend'>{items}</span></div>"
    )


class Chart:
    """A titled line chart whose series, extents and ticks are all chosen by the caller."""

    def __init__(
        self,
        title: str,
        x_label: str,
        series: list[Series],
        *,
        width: str = "33%",
        height: str = "230px",
        y_format: str = ".3~g",
    ):
        import bqplot
        import ipywidgets

        self.title = title
        self.x_scale = bqplot.LinearScale(min=0.0, max=1.0)
        self.y_scale = bqplot.LinearScale(min=0.0, max=1.0)
        self.x_axis = bqplot.Axis(scale=self.x_scale, label=x_label, tick_format="d", tick_values=np.zeros(0))
        self.y_axis = bqplot.Axis(
            scale=self.y_scale, orientation="vertical", tick_format=y_format, tick_values=np.zeros(0)
        )
        self.marks: list = []
        self.series: list[Series] = []
        self.figure = bqplot.Figure(
            marks=[],
            axes=[self.x_axis, self.y_axis],
            title="",
            animation_duration=0,
            display_toolbar=False,
            fig_margin={"top": 8, "bottom": 40, "left": 55, "right": 16},
            layout=ipywidgets.Layout(width="100%", height=height),
        )
        self.caption = ipywidgets.HTML(legend_html(title, []))
        self.widget = ipywidgets.VBox(
            [self.caption, self.figure], layout=ipywidgets.Layout(width=width, min_width="260px")
        )
        self.set_series(series)

    def set_series(self, series: list[Series], legend: list[Series] | None = None) -> None:
        """One line mark per series (marks are reused; new ones start empty); the legend names
        `legend` (default: every series)."""
        import bqplot

        for i, s in enumerate(series):
            if i == len(self.marks):
                options = {"marker": s.marker, "marker_size": MARKER_SIZE} if s.marker else {}
                self.marks.append(
                    bqplot.Lines(
                        x=np.zeros(0),
                        y=np.zeros(0),
                        scales={"x": self.x_scale, "y": self.y_scale},
                        colors=[s.color],
                        opacities=[s.opacity],
                        labels=[s.label],
                        stroke_width=1.5,
                        display_legend=False,
                        **options,
                    )
                )
            elif s != self.series[i]:
                with self.marks[i].hold_sync():
                    self.marks[i].colors, self.marks[i].opacities, self.marks[i].labels = (
                        [s.color],
                        [s.opacity],
                        [s.label],
                    )
        for mark in self.marks[len(series) :]:
            self.set_points_of(mark, [], [])
        if len(self.figure.marks) != len(self.marks):
            self.figure.marks = list(self.marks)
        self.series = list(series)
        self.set_legend(self.series if legend is None else legend)

    def set_legend(self, series: list[Series]) -> None:
        value = legend_html(self.title, series)
        if self.caption.value != value:
            self.caption.value = value

    def set_points(self, index: int, x, y) -> None:
        """The points of series `index`; pairs that are not finite numbers are left out."""
        self.set_points_of(self.marks[index], x, y)

    @staticmethod
    def set_points_of(mark, x, y) -> None:
        x, y = finite_points(x, y)
        with mark.hold_sync():
            mark.x = x
            mark.y = y

    def set_x(self, lo: float, hi: float, ticks: Sequence[float], labels: dict[str, str] | None = None) -> None:
        """The x extent, its ticks, and (optionally) their labels by str(int(tick))."""
        with self.x_scale.hold_sync():
            self.x_scale.min, self.x_scale.max = float(lo), float(hi)
        values = np.asarray(ticks, dtype=np.float64)
        with self.x_axis.hold_sync():
            if not np.array_equal(values, self.x_axis.tick_values):
                self.x_axis.tick_values = values
            if labels is not None and labels != self.x_axis.tick_labels:
                self.x_axis.tick_labels = labels

    def set_y(self, lo: float, hi: float) -> None:
        """The y extent, with at most Y_TICKS round ticks in it."""
        with self.y_scale.hold_sync():
            self.y_scale.min, self.y_scale.max = float(lo), float(hi)
        ticks = np.asarray(nice_ticks(lo, hi, Y_TICKS), dtype=np.float64)
        if not np.array_equal(ticks, self.y_axis.tick_values):
            self.y_axis.tick_values = ticks
