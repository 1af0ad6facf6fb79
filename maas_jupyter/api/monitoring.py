"""Management REST for monitoring: live metrics, drift and canary bounds of an endpoint; evaluation.

The live routes sit under deployments/{name}/ because the metrics live in the serving process: the
Jupyter extension proxies deployments/… to it. Shapes:
  GET  deployments/{name}/metrics?window=60  -> {"endpoint", "window_s", "now", "serving": {...},
        "versions": {"1": {"role", "points": {"t", "requests", "errors", "throughput", "p50_ms", "p95_ms",
        "p99_ms", "mean_batch_size", "queue_ms", "ort_ms"}, "summary": {...window aggregates...}}}}
  GET  deployments/{name}/drift?threshold=0.2&top=20 -> PSI report; DELETE forgets the sampled inputs
  GET  deployments/{name}/slo -> {"bounds", "rollbacks", "guard_running", "evaluation": {"passes", "judged",
        "last": {"verdict", ...}} or null}; PUT {bound: value, ...} (null body: defaults)
  POST models/{name}/versions/{v}/evaluate  multipart files x, y (.npy) [, field batch_size]
  GET  models/{name}/compare -> {"items": [row per version]}
  GET  models/{name}/versions/{v}/reference -> what the drift reference covers; PUT a drift.summarize summary
PrometheusHandler (the text format) is mounted at /metrics by `maas serve`, not under the API root.
"""

from __future__ import annotations

import asyncio
import io

import numpy as np

from ..errors import InvalidInput
from ..names import parse_number
from .base import ApiHandler
from .uploads import UploadHandler

NAME = r"(?P<name>[^/]+)"


def _float_argument(handler: ApiHandler, name: str, default: float) -> float:
    raw = handler.get_query_argument(name, None)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"query argument {name!r} must be a number, not {raw!r}") from None


class MetricsHandler(ApiHandler):
    def get(self, name):
        """Per-second metrics of the endpoint's versions over ?window= seconds (1 to 600, default 60)."""
        self.write_json(self.platform.monitor.series(name, _float_argument(self, "window", 60)))


class DriftHandler(ApiHandler):
    def get(self, name):
        """PSI of the inputs the endpoint served against its version's training inputs."""
        top = self.int_argument("top", 0)
        if top < 0:
            raise InvalidInput("top must be a non-negative integer")
        report = self.platform.monitor.drift(name, _float_argument(self, "threshold", 0.2), top or None)
        self.write_json(report)

    def delete(self, name):
        """Forget the sampled inputs (204)."""
        self.platform.deployments.get(name)
        self.platform.monitor.reset_drift_sample(name)
        self.set_status(204)
        self.finish()


class SloHandler(ApiHandler):
    def get(self, name):
        """The canary bounds of the endpoint, the automatic rollbacks made in this process, and how often
        the guard has judged the endpoint's canaries here (with its last verdict)."""
        monitor = self.platform.monitor
        guard = monitor.guard
        rollbacks = [r for r in (guard.rollbacks if guard is not None else []) if r["endpoint"] == name]
        self.write_json(
            {
                "bounds": monitor.canary_bounds(name).to_dict(),
                "rollbacks": rollbacks,
                "guard_running": guard is not None,
                "evaluation": guard.evaluation(name) if guard is not None else None,
            }
        )

    def put(self, name):
        """Change some bounds ({"max_failure_rate"?, "max_p99_ratio"?, "window_s"?, "min_requests"?,
        "enabled"?}); an empty body restores the defaults."""
        body = self.read_json()
        self.write_json({"bounds": self.platform.monitor.set_canary_bounds(name, body or None)})


def _npy(files: dict, field: str) -> np.ndarray:
    if not files.get(field):
        raise InvalidInput(f"the upload needs a file field {field!r} holding a .npy array")
    try:
        return np.load(io.BytesIO(files[field][0]["body"]), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"the {field!r} file is not a .npy array: {exc}") from None


class EvaluateHandler(UploadHandler):
    async def post(self, name, version):
        """Evaluate the version on labelled data (multipart .npy files x and y, field batch_size) and store
        the metrics."""
        fields, files = self.form(self.body())
        x, y = _npy(files, "x"), _npy(files, "y")
        batch_size = parse_number(fields.get("batch_size", [b"1024"])[0].decode("latin-1"))
        if not batch_size:
            raise InvalidInput("batch_size must be a whole number above 0")
        result = await asyncio.to_thread(self.platform.monitor.evaluate, name, version, x, y, batch_size)
        self.write_json(result)


class ReferenceHandler(ApiHandler):
    def get(self, name, version):
        """What the version's drift reference covers: {"name", "version", "rows", "features", "bins",
        "projection"}; 404 when it has none."""
        self.write_json(self.platform.monitor.reference_info(name, version))

    def put(self, name, version):
        """Store the version's drift reference: a summary of its training inputs as made by
        maas_jupyter.monitoring.drift.summarize (quantile cut points and shares per feature, and over a
        projection for wide inputs), so the data itself never travels. Replaces an earlier one."""
        self.write_json(self.platform.monitor.set_reference_summary(name, version, self.read_json()))


class CompareHandler(ApiHandler):
    def get(self, name):
        """Every version of the model with its metrics, params and lineage."""
        self.write_json({"items": self.platform.monitor.compare(name)})


class PrometheusHandler(ApiHandler):
    def get(self):
        """Every maas_ metric of this serving process in the Prometheus text format."""
        from ..monitoring.prometheus import CONTENT_TYPE

        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.platform.monitor.prometheus_text())


ROUTES = [
    (rf"deployments/{NAME}/metrics", MetricsHandler),
    (rf"deployments/{NAME}/drift", DriftHandler),
    (rf"deployments/{NAME}/slo", SloHandler),
    (rf"models/{NAME}/versions/(?P<version>[^/]+)/evaluate", EvaluateHandler),
    (rf"models/{NAME}/versions/(?P<version>[^/]+)/reference", ReferenceHandler),
    (rf"models/{NAME}/compare", CompareHandler),
]
