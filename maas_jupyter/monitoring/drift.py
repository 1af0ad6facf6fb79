"""Input drift: a summary of the training inputs, a bounded sample of served inputs, and PSI between them.

The reference summary keeps, per input feature, quantile cut points and the share of training rows in
each bin. Wide inputs (images: hundreds of pixels, many of them constant) also get a summary over a fixed
random projection to a few dimensions, which is where a shift of the whole picture shows; the overall PSI
of a wide input is the mean over those projected dimensions, of a narrow one the mean over its features.
Serving keeps a reservoir sample per endpoint (Algorithm R: every row seen has the same chance to be in
it), so memory stays bounded whatever the traffic.
"""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import numpy as np

from ..errors import InvalidInput

DEFAULT_BINS = 10
DEFAULT_THRESHOLD = 0.2  # PSI above 0.2 is commonly read as a significant shift
WIDE_FEATURES = 64  # inputs with more features than this also get a projected summary
PROJECTED_DIMENSIONS = 4
PROJECTION_SEED = 20261129
MAX_REFERENCE_ROWS = 20_000  # bins from a random 20 000 rows: shares within about 0.005 of the full data's
SAMPLE_SIZE = 2000
_EPSILON = 1e-4  # floor of a bin's share, so an empty bin gives a large but finite PSI term


def feature_matrix(x, input_names: list[str] | None = None) -> np.ndarray:
    """Rows x features as float64: an array (one input) or {input name: array} concatenated per row."""
    if isinstance(x, dict):
        names = input_names or sorted(x)
        missing = [n for n in names if n not in x]
        if missing:
            raise InvalidInput(f"reference data lacks input(s) {missing}")
        parts = [feature_matrix(x[n]) for n in names]
        if len({p.shape[0] for p in parts}) > 1:
            raise InvalidInput("every input of the reference data needs the same number of rows")
        return np.concatenate(parts, axis=1)
    array = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x)
    if array.dtype == object or array.dtype.kind in "USO":
        raise InvalidInput("drift is measured on numeric inputs only")
    if array.ndim == 0:
        raise InvalidInput("reference data needs at least one row")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return array.reshape(array.shape[0], -1).astype(np.float64)


def _projection(features: int, dims: int, seed: int) -> np.ndarray:
    # Recomputed from the seed rather than stored: 784 x 4 floats are cheap to make, costly to keep in JSON.
    rng = np.random.default_rng(seed)
    return rng.standard_normal((features, dims)) / np.sqrt(features)


def _bins(columns: np.ndarray, bins: int) -> tuple[list[list[float]], list[list[float]]]:
    """Interior cut points per column (unique quantiles) and the share of rows in each of their bins."""
    quantiles = np.quantile(columns, np.linspace(0, 1, bins + 1)[1:-1], axis=0)
    cuts, shares = [], []
    for j in range(columns.shape[1]):
        points = np.unique(quantiles[:, j])
        cuts.append(points.tolist())
        shares.append(_shares(columns[:, j], points).tolist())
    return cuts, shares


def _shares(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    # Bins are (-inf, c1], (c1, c2], ..., (ck, inf): a value equal to a cut point falls in the lower bin.
    counts = np.bincount(np.searchsorted(cuts, values, side="left"), minlength=len(cuts) + 1)
    return counts / max(1, len(values))


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (actual - expected) * ln(actual / expected)."""
    e = np.maximum(np.asarray(expected, dtype=float), _EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), _EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def summarize(x, input_names: list[str] | None = None, bins: int = DEFAULT_BINS, seed: int = PROJECTION_SEED) -> dict:
    """The reference summary of training inputs (JSON-ready)."""
    matrix = feature_matrix(x, input_names)
    if matrix.shape[0] < 2:
        raise InvalidInput("reference data needs at least two rows")
    if not np.isfinite(matrix).all():
        raise InvalidInput("reference data holds NaN or infinite values")
    rows = int(matrix.shape[0])
    if rows > MAX_REFERENCE_ROWS:  # quantiles of a large random subset are as good and far cheaper
        matrix = matrix[np.random.default_rng(seed).choice(rows, MAX_REFERENCE_ROWS, replace=False)]
    cuts, shares = _bins(matrix, bins)
    summary = {
        "kind": "quantile_bins",
        "rows": rows,
        "features": int(matrix.shape[1]),
        "inputs": input_names,
        "bins": bins,
        "cuts": cuts,
        "shares": shares,
        "projection": None,
    }
    if matrix.shape[1] > WIDE_FEATURES:
        dims = PROJECTED_DIMENSIONS
        projected = matrix @ _projection(matrix.shape[1], dims, seed)
        p_cuts, p_shares = _bins(projected, bins)
        summary["projection"] = {"seed": seed, "dims": dims, "cuts": p_cuts, "shares": p_shares}
    return summary


MAX_SUMMARY_FEATURES = 1 << 16  # a summary is JSON kept in one row: bound what a client may send


def check_summary(summary) -> dict:
    """A reference summary that came from outside (a kernel summarised its own data and sent the result):
    the shape `summarize` makes, finite increasing cut points, shares that are a distribution. Returns the
    summary with only its known keys."""
    if not isinstance(summary, dict) or summary.get("kind") != "quantile_bins":
        raise InvalidInput('a reference summary is an object with "kind": "quantile_bins" (see drift.summarize)')
    rows, features, bins = (summary.get(key) for key in ("rows", "features", "bins"))
    for key, value, low, high in (
        ("rows", rows, 2, None),
        ("features", features, 1, MAX_SUMMARY_FEATURES),
        ("bins", bins, 2, 100),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            raise InvalidInput(
                f"reference summary: {key} must be an integer from {low}" + (f" to {high}" if high else "")
            )
    inputs = summary.get("inputs")
    if inputs is not None and (not isinstance(inputs, list) or not all(isinstance(n, str) for n in inputs)):
        raise InvalidInput("reference summary: inputs must be a list of input names or null")
    assert isinstance(features, int) and isinstance(bins, int)  # checked just above
    _check_bins(summary.get("cuts"), summary.get("shares"), features, bins, "features")
    projection = summary.get("projection")
    if projection is not None:
        if not isinstance(projection, dict):
            raise InvalidInput("reference summary: projection must be an object or null")
        seed, dims = projection.get("seed"), projection.get("dims")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInput("reference summary: projection.seed must be a non-negative integer")
        if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= 64:
            raise InvalidInput("reference summary: projection.dims must be an integer from 1 to 64")
        _check_bins(projection.get("cuts"), projection.get("shares"), dims, bins, "projection")
        projection = {"seed": seed, "dims": dims, "cuts": projection["cuts"], "shares": projection["shares"]}
    return {
        "kind": "quantile_bins",
        "rows": rows,
        "features": features,
        "inputs": inputs,
        "bins": bins,
        "cuts": summary["cuts"],
        "shares": summary["shares"],
        "projection": projection,
    }


def _check_bins(cuts, shares, columns: int, bins: int, what: str) -> None:
    if not isinstance(cuts, list) or not isinstance(shares, list) or len(cuts) != columns or len(shares) != columns:
        raise InvalidInput(f"reference summary: cuts and shares need one list per {what[:-1]} ({columns})")
    for j, (points, parts) in enumerate(zip(cuts, shares)):
        try:
            points, parts = np.asarray(points, dtype=float), np.asarray(parts, dtype=float)
        except (TypeError, ValueError):
            raise InvalidInput(f"reference summary: {what} {j} holds something other than numbers") from None
        if points.ndim != 1 or parts.ndim != 1 or len(points) > bins - 1 or len(parts) != len(points) + 1:
            raise InvalidInput(
                f"reference summary: {what} {j} needs at most {bins - 1} cut points and one share more than cut points"
            )
        if not np.isfinite(points).all() or np.any(np.diff(points) <= 0):
            raise InvalidInput(f"reference summary: the cut points of {what} {j} must be finite and increasing")
        if not np.isfinite(parts).all() or parts.min() < 0 or abs(parts.sum() - 1.0) > 1e-6:
            raise InvalidInput(f"reference summary: the shares of {what} {j} must be non-negative and sum to 1")


def compare(summary: dict, x, threshold: float = DEFAULT_THRESHOLD, top: int | None = None) -> dict:
    """PSI per feature (and per projected dimension) of `x` against a reference summary, overall and flags."""
    matrix = feature_matrix(x, summary.get("inputs"))
    if matrix.shape[1] != summary["features"]:
        raise InvalidInput(f"the data has {matrix.shape[1]} features; the reference has {summary['features']}")
    features: list[dict[str, Any]] = []
    for j, (cuts, shares) in enumerate(zip(summary["cuts"], summary["shares"])):
        value = psi(shares, _shares(matrix[:, j], np.asarray(cuts)))
        features.append({"feature": f"f{j}", "psi": value, "drifted": value > threshold})
    projected: list[dict[str, Any]] = []
    projection = summary.get("projection")
    if projection:
        z = matrix @ _projection(matrix.shape[1], projection["dims"], projection["seed"])
        for j, (cuts, shares) in enumerate(zip(projection["cuts"], projection["shares"])):
            value = psi(shares, _shares(z[:, j], np.asarray(cuts)))
            projected.append({"feature": f"projection{j}", "psi": value, "drifted": value > threshold})
    basis = projected or features
    overall = float(np.mean([f["psi"] for f in basis])) if basis else 0.0
    drifted_features = sum(f["drifted"] for f in features)
    if top is not None:
        features = sorted(features, key=lambda f: -f["psi"])[:top]
    return {
        "overall_psi": overall,
        "threshold": threshold,
        "drifted": overall > threshold,
        "basis": "projection" if projected else "features",
        "rows": int(matrix.shape[0]),
        "drifted_features": int(drifted_features),
        "features": features,
        "projection": projected,
    }


class InputSample:
    """A bounded uniform sample (reservoir) of the rows an endpoint has served, for one feature layout.

    Algorithm L: once full, it draws how many rows to skip before the next replacement, so the usual
    request costs an integer comparison, not a random number and a copy per row.
    """

    seen: int  # rows offered so far (set by clear)
    _next: int

    def __init__(self, size: int = SAMPLE_SIZE, seed: int | None = None, width: int | None = None):
        self.size = size
        self.width = width  # features per row
        self._random = random.Random(seed)
        self._lock = threading.Lock()  # taken only by rows that enter the sample, which soon become rare
        self.clear()

    def skips(self, rows: int) -> bool:
        """Count `rows` rows as seen and return True if none of them would enter the sample (the cheap
        check the serving path makes before preparing any row); False: call `offer` with them."""
        if self.seen + rows < self._next:
            self.seen += rows
            return True
        return False

    def offer(self, matrix: np.ndarray) -> None:
        """Consider each row of a rows x features matrix for the sample."""
        rows = matrix.shape[0]
        first = self.seen
        self.seen = first + rows
        if self.seen < self._next:
            return  # the common case once full: every one of these rows is skipped
        with self._lock:
            for i in range(rows):
                position = first + i + 1  # 1-based count of this row
                if len(self.rows) < self.size:
                    self.rows.append(matrix[i].copy())  # as served; converted when compared
                    if len(self.rows) == self.size:
                        self._weight = math.exp(math.log(self._random.random()) / self.size)
                        self._next = position + self._skip()
                elif position == self._next:
                    self.rows[self._random.randrange(self.size)] = matrix[i].copy()
                    self._weight *= math.exp(math.log(self._random.random()) / self.size)
                    self._next = position + self._skip()

    def _skip(self) -> int:
        return int(math.floor(math.log(self._random.random()) / math.log(1.0 - self._weight))) + 1

    def matrix(self) -> np.ndarray:
        """The sampled rows (rows x features)."""
        with self._lock:
            rows = list(self.rows)
        return np.stack(rows).astype(np.float64) if rows else np.zeros((0, 0))

    def clear(self) -> None:
        """Forget every sampled row."""
        with self._lock:
            self.rows: list[np.ndarray] = []
            self.seen = 0
            self._weight = 1.0
            self._next = 0  # position of the next row to take in; below `size` every row is taken
