"""Axis extents, tick positions and tick labels of the widgets' charts, chosen here rather than by bqplot.

Left to itself, bqplot (d3) puts ticks at fractions (0.5, 1.5, ...) that an integer format prints as
repeated labels ("0 0 0 1 1 1"), and puts as many as the width allows, which run together once the
labels are long ("2000220024002600"). Chosen here they are whole, few and short, the same in every
browser, and testable without one. Extents are chosen here too: a domain computed by the browser from
no data, or from one value, is empty or a single point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

MAX_TICKS = 6
# Steps 1, 2, 2.5 and 5 times a power of ten; 2.5 only from 25 on, so every step is a whole number.
_MANTISSAS = (1.0, 2.0, 2.5, 5.0)


def nice_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS, integer: bool = False) -> list[float]:
    """Ticks in [lo, hi]: the multiples of the smallest step of 1, 2, 2.5 or 5 times a power of ten that
    gives at most `max_ticks` of them (whole-number steps only when `integer`). Empty for an empty or
    unknown range."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or max_ticks < 1:
        return []
    if integer:
        lo, hi = math.ceil(lo), math.floor(hi)
        if hi < lo:
            return []
    span = hi - lo
    exponent = 0 if integer or span == 0 else math.floor(math.log10(span / max_ticks))
    while True:
        for mantissa in _MANTISSAS:
            step = mantissa * 10.0**exponent
            if integer and step != int(step):
                continue
            # A little slack, so that 0.1 * 3 counts as the multiple 0.3 it is meant to be.
            start, stop = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            if stop - start + 1 <= max_ticks:
                ticks = [k * step for k in range(start, stop + 1)] or [lo]
                return [float(round(t)) for t in ticks] if integer else [float(f"{t:.12g}") for t in ticks]
        exponent += 1


def integer_ticks(lo: float, hi: float, max_ticks: int = MAX_TICKS) -> list[int]:
    """Whole-number ticks in [lo, hi] (every whole number while they are few): an epoch or step axis."""
    return [int(t) for t in nice_ticks(lo, hi, max_ticks, integer=True)]


def compact_label(value: float) -> str:
    """A short tick label: 950, 1k, 2.5k, 12k, 1.2M (three significant digits at most)."""
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def finite_points(x: Iterable[float], y: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) pairs where both are finite numbers, as float arrays: what a bqplot mark may be given.

    d3 maps NaN to undefined, so a NaN (or None) anywhere a mark draws ends up in an SVG attribute as
    "translate(12,undefined)", and a curve with no point at all becomes the path "null"; both are errors
    in the browser's console."""
    x, y = _floats(x), _floats(y)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _floats(values) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64, copy=False)  # the live curve's arrays: no per-item work
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def value_extent(values: Iterable[np.ndarray], floor: float | None = None, pad: float = 0.05) -> tuple[float, float]:
    """A y extent holding every finite value, padded; never empty and never a single point.

    `floor` fixes the lower end (0 for rates and latencies). With no value it is (floor or 0, 1)."""
    arrays = [np.asarray(v, dtype=np.float64).ravel() for v in values]
    finite = np.concatenate(arrays) if arrays else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        lo = 0.0 if floor is None else float(floor)
        return lo, lo + 1.0
    lo = float(finite.min()) if floor is None else float(floor)
    hi = float(finite.max())
    if hi <= lo:
        spread = abs(hi) * 0.1 or 1.0
        return (lo - spread if floor is None else lo), hi + spread
    margin = (hi - lo) * pad
    return (lo - margin if floor is None else lo), hi + margin
