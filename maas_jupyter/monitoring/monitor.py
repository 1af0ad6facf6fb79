"""The Monitor: what the Platform exposes of monitoring (metrics, drift, evaluation, canary bounds).

The serving path calls `metrics.recorder(...)` and `sample_inputs(...)`; faces call the rest.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from sqlalchemy import select

from ..errors import InvalidInput, NotFound
from ..names import check_name
from . import drift as drift_math
from . import evaluation
from .metrics import MetricsStore
from .slo import CanaryBounds, SloGuard
from .tables import CanaryBounds as CanaryBoundsRow
from .tables import ReferenceSummary, utcnow

DRIFT_CACHE_S = 10.0
REFERENCE_HINT = (
    "give the training inputs with `%maas reference NAME@VERSION --data X_TRAIN` (or "
    "`%maas register … --reference X_TRAIN`, platform.set_reference_data)"
)


def store_reference(db, registry, name: str, version, summary: dict) -> dict:
    """Check a reference summary against name@version and store it (replacing an earlier one)."""
    meta = registry.get_version(name, version)
    summary = drift_math.check_summary(summary)
    summary["sha256"] = meta["sha256"]  # ties it to these bytes: a model deleted and re-created by name
    specs = meta["signature"].get("inputs", [])
    dims = [d for s in specs for d in s["shape"][1:]]
    if specs and all(d > 0 for d in dims):  # fixed row width: the data must match it
        width = sum(int(np.prod(s["shape"][1:])) for s in specs)
        if width != summary["features"]:
            raise InvalidInput(
                f"the data has {summary['features']} features per row; {name}@{meta['version']} takes {width}"
            )
    with db.write() as session:
        row = session.scalar(
            select(ReferenceSummary).where(ReferenceSummary.model == name, ReferenceSummary.version == meta["version"])
        )
        if row is None:
            session.add(ReferenceSummary(model=name, version=meta["version"], summary=summary))
        else:
            row.summary, row.created_at = summary, utcnow()
    return _reference_info(name, meta["version"], summary)


def _reference_info(name: str, version: int, summary: dict) -> dict:
    return {
        "name": name,
        "version": version,
        "rows": summary["rows"],
        "features": summary["features"],
        "bins": summary["bins"],
        "projection": summary.get("projection") is not None,
    }


MAX_WINDOW_S = 600


def serving_versions(state: dict) -> list[dict]:
    """The versions of a deployment state that take traffic (a previous version kept warm does not)."""
    loaded = state.get("loaded") or [{"version": state["version"], "role": "primary"}]
    return [entry for entry in loaded if entry["role"] != "previous"]


def overview_row(state: dict, loaded: dict, stats: dict) -> dict:
    """One row of the monitoring overview: which endpoint and version, then its window's figures."""
    return {
        "endpoint": state["name"],
        "model": state["model"],
        "version": loaded["version"],
        "role": loaded["role"],
        "state": state["state"],
        **stats,
    }


def check_window(window_s) -> int:
    """A window in whole seconds from 1 to 600; InvalidInput otherwise."""
    if isinstance(window_s, bool) or not isinstance(window_s, (int, float)) or not 1 <= window_s <= MAX_WINDOW_S:
        raise InvalidInput(f"window must be a number of seconds from 1 to {MAX_WINDOW_S}")
    return int(window_s)


class Monitor:
    """Monitoring of one Platform: live serving metrics of this process and stored drift/evaluation data."""

    def __init__(self, platform, clock: Callable[[], float] = time.time):
        self.platform = platform
        self.metrics = MetricsStore(clock)
        self._samples: dict[str, drift_math.InputSample] = {}
        self._samples_lock = threading.Lock()
        self._drift_cache: dict[str, tuple[float, dict]] = {}
        self.guard: SloGuard | None = None

    # ---- hot path ---------------------------------------------------------------------------------

    def sample_inputs(self, endpoint: str, feed: dict[str, np.ndarray], input_names: list[str]) -> None:
        """Offer the rows of a validated request to the endpoint's input sample (numeric inputs only)."""
        sample = self._samples.get(endpoint)
        if sample is not None:
            first = feed.get(input_names[0]) if input_names else None
            if first is not None and first.ndim > 0 and sample.skips(first.shape[0]):
                return  # the usual case once the sample is full: no row of this request is taken
        parts = []
        for name in input_names:
            array = feed.get(name)
            if array is None or array.dtype.kind not in "iufb" or array.ndim == 0:
                return
            parts.append(array.reshape(array.shape[0], -1))
        if not parts:
            return
        matrix = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        if sample is None or sample.width != matrix.shape[1]:
            # First request, or a version with another input layout: rows of the old one are not comparable.
            with self._samples_lock:
                sample = self._samples[endpoint] = drift_math.InputSample(width=matrix.shape[1])
        sample.offer(matrix)

    # ---- metrics ----------------------------------------------------------------------------------

    def series(self, endpoint: str, window_s: int = 60) -> dict:
        """Per-second metrics of an existing endpoint's versions with their roles (primary, canary...)."""
        window_s = check_window(window_s)
        state = self.platform.deployments.get(endpoint)  # NotFound once the endpoint is gone
        result = self.metrics.series(endpoint, window_s)
        roles = {str(item["version"]): item["role"] for item in state.get("loaded", [])}
        for version, data in result["versions"].items():
            data["role"] = roles.get(version, "retired")
        result["serving"] = {"version": state["version"], "canary": state.get("canary"), "state": state["state"]}
        # Automatic canary rollbacks made by this process's guard, so a live view can say what happened.
        rollbacks = self.guard.rollbacks if self.guard is not None else []
        result["rollbacks"] = [r for r in rollbacks if r["endpoint"] == endpoint][-5:]
        return result

    def overview(self, window_s: int = 60) -> list[dict]:
        """One row per endpoint and version that is deployed: the window's summary (compact table)."""
        window_s = check_window(window_s)
        rows = []
        for state in self.platform.deployments.list():
            for loaded in serving_versions(state):
                stats = self.metrics.window_stats(state["name"], loaded["version"], window_s)
                rows.append(overview_row(state, loaded, stats))
        return rows

    def prometheus_text(self) -> bytes:
        """Every maas_ metric family in the Prometheus text format."""
        from .prometheus import prometheus_text

        return prometheus_text(self.metrics, self._drift_gauges)

    def _drift_gauges(self) -> list[tuple[str, str, float, bool]]:
        gauges = []
        for endpoint in sorted(self._samples):
            try:
                report = self.drift(endpoint)
            except Exception:  # no reference, or the endpoint is gone: nothing to export for it
                continue
            gauges.append((endpoint, str(report["version"]), report["overall_psi"], report["drifted"]))
        return gauges

    # ---- drift ------------------------------------------------------------------------------------

    def set_reference_data(self, name: str, version, x, bins: int = drift_math.DEFAULT_BINS) -> dict:
        """Keep a summary of a version's training inputs; served inputs are compared with it."""
        meta = self.platform.registry.get_version(name, version)
        specs = meta["signature"].get("inputs", [])
        names = [s["name"] for s in specs] if isinstance(x, dict) else None
        if not isinstance(bins, int) or not 2 <= bins <= 100:
            raise InvalidInput("bins must be an integer from 2 to 100")
        return self.set_reference_summary(name, meta["version"], drift_math.summarize(x, names, bins))

    def set_reference_summary(self, name: str, version, summary: dict) -> dict:
        """Keep a reference summary made elsewhere (drift.summarize in a kernel: the data never travels)."""
        info = store_reference(self.platform.db, self.platform.registry, name, version, summary)
        self._drift_cache.clear()
        return info

    def reference_info(self, name: str, version) -> dict:
        """What the stored reference of name@version covers (rows, features, bins), without its bins."""
        meta = self.platform.registry.get_version(name, version)
        summary = self.reference(name, meta["version"])
        if summary is None:
            raise NotFound(f"no reference data for {name}@{meta['version']}: {REFERENCE_HINT}")
        return _reference_info(name, meta["version"], summary)

    def reference(self, name: str, version: int) -> dict | None:
        """The stored reference summary of name@version, or None."""
        with self.platform.db.read() as session:
            row = session.scalar(
                select(ReferenceSummary).where(ReferenceSummary.model == name, ReferenceSummary.version == int(version))
            )
            return None if row is None else row.summary

    def _reference_for(self, model: str, version: int) -> tuple[int, dict]:
        """The version's own summary, else the newest earlier version's (retrained models share inputs)."""
        with self.platform.db.read() as session:
            rows = session.execute(
                select(ReferenceSummary.version, ReferenceSummary.summary)
                .where(ReferenceSummary.model == model, ReferenceSummary.version <= version)
                .order_by(ReferenceSummary.version.desc())
                .limit(20)
            ).all()
        for number, summary in rows:
            try:
                current = self.platform.registry.get_version(model, number)["sha256"]
            except NotFound:
                continue
            if summary.get("sha256") in (None, current):  # else: left by a deleted model of the same name
                return number, summary
        raise NotFound(f"no reference data for {model}@{version}: {REFERENCE_HINT}")

    def drift(self, endpoint: str, threshold: float = drift_math.DEFAULT_THRESHOLD, top: int | None = None) -> dict:
        """PSI of the endpoint's sampled inputs against the reference of the version it serves."""
        check_name(endpoint, "endpoint name")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold <= 0:
            raise InvalidInput("threshold must be a positive number")
        cached = self._drift_cache.get(endpoint)
        now = time.monotonic()
        if cached and now - cached[0] < DRIFT_CACHE_S and cached[1]["threshold"] == threshold and top is None:
            return cached[1]
        state = self.platform.deployments.get(endpoint)
        reference_version, summary = self._reference_for(state["model"], int(state["version"]))
        sample = self._samples.get(endpoint)
        matrix = sample.matrix() if sample is not None else np.zeros((0, summary["features"]))
        if matrix.shape[0] == 0:
            raise NotFound(f"endpoint {endpoint!r} has served no inputs to compare yet")
        if matrix.shape[1] != summary["features"]:
            raise NotFound(
                f"endpoint {endpoint!r} serves inputs of {matrix.shape[1]} features; the reference of "
                f"{state['model']}@{reference_version} has {summary['features']}"
            )
        report = drift_math.compare(summary, matrix, threshold, top)
        assert sample is not None  # a matrix with rows came from it
        report.update(
            endpoint=endpoint,
            model=state["model"],
            version=int(state["version"]),
            reference_version=reference_version,
            reference_rows=summary["rows"],
            seen=sample.seen,
        )
        if top is None:
            self._drift_cache[endpoint] = (now, report)
        return report

    def reset_drift_sample(self, endpoint: str) -> None:
        """Forget the endpoint's sampled inputs (after a fix upstream, say)."""
        sample = self._samples.get(endpoint)
        if sample is not None:
            sample.clear()
        self._drift_cache.pop(endpoint, None)

    # ---- evaluation ---------------------------------------------------------------------------------

    def evaluate(
        self, name: str, version, x, y, batch_size: int = evaluation.DEFAULT_BATCH_SIZE, progress=None
    ) -> dict:
        """Run name@version on labelled data in batches and store the metrics on the version."""
        return evaluation.evaluate(self.platform.registry, name, version, x, y, batch_size, progress)

    def compare(self, name: str) -> list[dict]:
        """Every version of a model with its metrics, params and lineage."""
        return evaluation.compare(self.platform.registry, name)

    # ---- canary bounds and the guard ---------------------------------------------------------------

    def canary_bounds(self, endpoint: str) -> CanaryBounds:
        """The endpoint's stored bounds, or the defaults."""
        with self.platform.db.read() as session:
            row = session.scalar(select(CanaryBoundsRow).where(CanaryBoundsRow.endpoint == endpoint))
            return CanaryBounds.from_dict(row.bounds if row is not None else None)

    def set_canary_bounds(self, endpoint: str, bounds: dict | None) -> dict:
        """Store an endpoint's canary bounds (None: back to the defaults); the merged bounds."""
        check_name(endpoint, "endpoint name")
        merged = CanaryBounds.from_dict({**self.canary_bounds(endpoint).to_dict(), **bounds} if bounds else None)
        with self.platform.db.write() as session:
            row = session.scalar(select(CanaryBoundsRow).where(CanaryBoundsRow.endpoint == endpoint))
            if row is None:
                session.add(CanaryBoundsRow(endpoint=endpoint, bounds=merged.to_dict()))
            else:
                row.bounds, row.updated_at = merged.to_dict(), utcnow()
        return merged.to_dict()

    def start_guard(self, interval_s: float = 1.0) -> SloGuard:
        """Start checking canaries of this process's endpoints every `interval_s` seconds."""
        if self.guard is None:
            self.guard = SloGuard(
                self.metrics,
                self.platform.deployments,
                self.canary_bounds,
                self.platform.events.publish,
                interval_s=interval_s,
            ).start()
        return self.guard

    def close(self) -> None:
        """Stop the guard and the metrics aggregator."""
        if self.guard is not None:
            self.guard.stop()
        self.metrics.close()
