"""%maas commands of monitoring: monitor, reference, drift, evaluate, compare, slo.

They work against the in-process Platform (its Monitor) or, when the service's deployments are a client
of a serving process (Jupyter's proxy or `maas serve`), against the monitoring REST routes.
"""

from __future__ import annotations

import io
from argparse import ArgumentParser, Namespace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InvalidInput, NotFound
from ..http_session import path_segment, raise_for
from ..monitoring import evaluation
from ..monitoring.monitor import overview_row, serving_versions
from ..service import MaasService
from ..serving.client import ServingClient
from .commands import arg, command
from .context import MagicContext
from .render import frame, split_ref

if TYPE_CHECKING:
    from ..widgets.monitor import MonitorDashboard, OverviewTable


class LocalMonitor:
    """Monitoring of an in-process Platform."""

    def __init__(self, platform):
        self.platform = platform

    def series(self, endpoint, window_s):
        return self.platform.monitor.series(endpoint, window_s)

    def overview(self, window_s):
        return self.platform.monitor.overview(window_s)

    def drift(self, endpoint, threshold, top):
        return self.platform.monitor.drift(endpoint, threshold, top)

    def reset_drift(self, endpoint):
        self.platform.deployments.get(endpoint)
        self.platform.monitor.reset_drift_sample(endpoint)

    def evaluate(self, name, ref, x, y, batch_size, progress):
        return self.platform.monitor.evaluate(name, ref, x, y, batch_size, progress)

    def slo(self, endpoint, bounds):
        monitor = self.platform.monitor
        if bounds:
            monitor.set_canary_bounds(endpoint, bounds)
        rollbacks = [r for r in (monitor.guard.rollbacks if monitor.guard else []) if r["endpoint"] == endpoint]
        return {"bounds": monitor.canary_bounds(endpoint).to_dict(), "rollbacks": rollbacks}


class RemoteMonitor:
    """Monitoring through the REST routes of a serving process (a ServingClient's session and token)."""

    def __init__(self, client):
        self.client = client

    def _get(self, path: str):
        return self.client.api_call("GET", path)

    def series(self, endpoint, window_s):
        return self._get(f"/deployments/{path_segment(endpoint)}/metrics?window={window_s}")

    def overview(self, window_s):
        rows = []
        for state in self.client.list():
            try:
                by_version = self.series(state["name"], window_s)["versions"]
            except NotFound:  # undeployed between the two calls
                continue
            for loaded in serving_versions(state):
                summary = by_version.get(str(loaded["version"]), {}).get("summary", {})
                rows.append(overview_row(state, loaded, summary))
        return rows

    def drift(self, endpoint, threshold, top):
        return self._get(f"/deployments/{path_segment(endpoint)}/drift?threshold={threshold}&top={top or 0}")

    def reset_drift(self, endpoint):
        self.client.api_call("DELETE", f"/deployments/{path_segment(endpoint)}/drift")

    def evaluate(self, name, ref, x, y, batch_size, progress):
        def npy(array) -> bytes:
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(array), allow_pickle=False)
            return buffer.getvalue()

        print(f"evaluating {len(x)} rows on the server…")  # progress, not a warning: not in red
        response = self.client.session.post(
            f"{self.client.api}/models/{path_segment(name)}/versions/{path_segment(ref or 'latest')}/evaluate",
            files={"x": ("x.npy", npy(x)), "y": ("y.npy", npy(y))},
            data={"batch_size": str(batch_size)},
            timeout=self.client.timeout,
        )
        raise_for(response)
        return response.json()

    def slo(self, endpoint, bounds):
        path = f"/deployments/{path_segment(endpoint)}/slo"
        if bounds:
            self.client.api_call("PUT", path, bounds)
        return self._get(path)


_LIVE_VIEWS: dict[
    str, OverviewTable | MonitorDashboard
] = {}  # endpoint (or "*" for the overview) -> its running live view


def monitor_of(service: MaasService) -> LocalMonitor | RemoteMonitor:
    """The monitoring face of a service: remote when its deployments are a client of a serving process."""
    deployments = service.deployments
    if isinstance(deployments, ServingClient):  # both bodies' (the kernel's own serving process, or the server's)
        return RemoteMonitor(deployments)
    return LocalMonitor(service)  # a Platform serving in this process


def _display(value) -> None:
    from IPython.display import display

    display(value)


def _in_widget_kernel() -> bool:
    from ..widgets.loss_curve import in_widget_kernel

    return in_widget_kernel()


@command(
    "monitor",
    "Live throughput, latency p50/p95/p99, error rate and batch size of an endpoint (or all).",
    arg("endpoint", nargs="?", help="the endpoint (default: a table of every endpoint)"),
    arg("--window", type=int, default=60, help="seconds of history shown (1 to 600)"),
    arg("--interval", type=float, default=1.0, help="seconds between refreshes"),
    arg("--seconds", type=float, default=None, help="stop refreshing after this long"),
    arg("--static", action="store_true", help="one snapshot as a DataFrame, no live widget"),
)
def maas_monitor(ctx: MagicContext, args: Namespace) -> pd.DataFrame | None:
    if args.interval < 0.2:
        raise InvalidInput("--interval must be at least 0.2 seconds")
    monitor = monitor_of(ctx.service)
    live = not args.static and _in_widget_kernel()
    view: OverviewTable | MonitorDashboard
    if args.endpoint is None:
        rows = monitor.overview(args.window)
        if not live:
            return frame(
                rows,
                [
                    "endpoint",
                    "version",
                    "role",
                    "state",
                    "throughput",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "error_rate",
                    "mean_batch_size",
                    "requests",
                    "in_flight",
                ],
            )
        from ..widgets.monitor import OverviewTable

        view = OverviewTable(
            lambda: monitor.overview(args.window),
            window_s=args.window,
            interval_s=args.interval,
            max_seconds=args.seconds,
        )
        view.render(rows)
    else:
        series = monitor.series(args.endpoint, args.window)  # a missing endpoint is a one-line error
        if not live:
            from ..widgets.monitor import summary_text

            print(summary_text(series))
            return _summary_frame(series)
        from ..widgets.monitor import MonitorDashboard

        view = MonitorDashboard(
            args.endpoint,
            lambda: monitor.series(args.endpoint, args.window),
            interval_s=args.interval,
            max_seconds=args.seconds,
        )
        view.render(series)
    # One live view per target: running the cell again replaces the old view instead of adding a thread.
    previous = _LIVE_VIEWS.pop(args.endpoint or "*", None)
    if previous is not None:
        previous.stop("replaced by a newer view")
    _LIVE_VIEWS[args.endpoint or "*"] = view
    view.show()
    view.start()
    return None


def _summary_frame(series: dict) -> pd.DataFrame:
    """Versions as columns (primary first): the current rate, then the window's aggregates, as rows."""
    from ..widgets.monitor import NOW_LABEL, ROWS, current_rate, ordered_versions

    columns = {
        f"v{v} {d.get('role', '')}".strip(): {
            NOW_LABEL: current_rate(d, series["window_s"]),
            **{label: d["summary"].get(key) for key, label, _p in ROWS},
        }
        for v, d in ordered_versions(series)
    }
    return pd.DataFrame(columns, index=[NOW_LABEL] + [label for _k, label, _p in ROWS])


@command(
    "reference",
    "Keep the training inputs of NAME@V (as quantile bins) to measure input drift against.",
    arg("ref", help="NAME@VERSION (or NAME@ALIAS, or NAME for the latest)"),
    arg(
        "--data",
        metavar="X",
        help="the training inputs, a name in the notebook (omit to show what the stored reference covers)",
    ),
)
def maas_reference(ctx: MagicContext, args: Namespace) -> None:
    from .registry_commands import reference_summary

    name, ref = split_ref(args.ref)
    version = ctx.service.registry.get_version(name, ref)["version"]
    if args.data is None:
        info = ctx.service.reference_info(name, version)
    else:
        info = ctx.service.set_reference_summary(name, version, reference_summary(ctx.variable(args.data)))
    print(
        f"{name}@{version}: drift reference of {info['rows']} rows x {info['features']} features, "
        f"{info['bins']} bins{' and a projection' if info['projection'] else ''}"
    )
    return None


@command(
    "drift",
    "Input drift of an endpoint against its version's training data: PSI per feature and overall.",
    arg("endpoint"),
    arg("--threshold", type=float, default=0.2, help="PSI above this is flagged (default 0.2)"),
    arg("--top", type=int, default=20, help="show the N features with the largest PSI"),
    arg("--reset", action="store_true", help="forget the sampled inputs instead"),
    arg("--no-plot", action="store_true"),
)
def maas_drift(ctx: MagicContext, args: Namespace) -> pd.DataFrame | None:
    monitor = monitor_of(ctx.service)
    if args.reset:
        monitor.reset_drift(args.endpoint)
        print(f"{args.endpoint}: sampled inputs forgotten")
        return None
    report = monitor.drift(args.endpoint, args.threshold, args.top)
    verdict = "DRIFT" if report["drifted"] else "no drift"
    print(
        f"{args.endpoint} (v{report['version']}, reference v{report['reference_version']}): overall PSI "
        f"{report['overall_psi']:.3f} over {report['basis']}, threshold {report['threshold']:g}: {verdict}; "
        f"{report['drifted_features']} feature(s) over the threshold; {report['rows']} sampled rows of "
        f"{report['seen']} served"
    )
    rows = report.get("projection", []) + report["features"]
    table = frame(rows, ["feature", "psi", "drifted"], index="feature")
    if not args.no_plot and len(table):
        _display(_bar_figure(table["psi"], f"PSI of {args.endpoint}", threshold=report["threshold"]))
    return table


def _bar_figure(values: pd.Series, title: str, threshold: float | None = None):
    from matplotlib.figure import Figure  # no pyplot: the figure is displayed once, never kept open

    figure = Figure(figsize=(7, max(2.0, 0.25 * len(values) + 1)))
    axes = figure.subplots()
    labels = [str(i) for i in values.index]
    axes.barh(
        labels[::-1],
        list(values.values)[::-1],
        color=["#d62728" if threshold is not None and v > threshold else "#1f77b4" for v in values.values][::-1],
    )
    if threshold is not None:
        axes.axvline(threshold, color="#555", linestyle="--", linewidth=1)
    axes.set_title(title)
    figure.tight_layout()
    return figure


def _progress_printer():
    if _in_widget_kernel():
        import ipywidgets

        bar = ipywidgets.IntProgress(min=0, max=1, description="evaluating")
        _display(bar)

        def widget_progress(done, total):
            bar.max, bar.value = total, done

        return widget_progress
    shown = {"step": -1}

    def text_progress(done, total):
        step = int(10 * done / total)
        if step != shown["step"]:
            shown["step"] = step
            print(f"evaluated {done}/{total} rows")

    return text_progress


@command(
    "evaluate",
    "Evaluate NAME@V on labelled data and store the metrics on the version: --data X,Y.",
    arg("ref", help="NAME@VERSION or NAME@ALIAS (NAME alone: the newest version)"),
    arg("--data", required=True, help="X,Y: the notebook's inputs and labels"),
    arg("--batch-size", type=int, default=1024),
)
def maas_evaluate(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    name, ref = split_ref(args.ref)
    parts = [p.strip() for p in args.data.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InvalidInput("--data takes X,Y: two names from the notebook")
    x, y = ctx.variable(parts[0]), ctx.variable(parts[1])
    result = monitor_of(ctx.service).evaluate(name, ref, x, y, args.batch_size, _progress_printer())
    scalars = {k: result[k] for k in evaluation.SCALAR_KEYS if k in result}
    print(
        f"{name}@{result['version']}: "
        + ", ".join(f"{k} {v:.4g}" for k, v in scalars.items() if v is not None)
        + f" over {result['rows']} rows (stored on the version)"
    )
    if result["task"] == "classification":
        per_class = pd.DataFrame({"precision": result["precision"], "recall": result["recall"]})
        per_class.index.name = "class"
        _display(
            pd.DataFrame(
                result["confusion_matrix"],
                index=pd.Index(result["classes"], name="true"),
                columns=pd.Index(result["classes"], name="predicted"),
            )
        )
        return per_class
    return pd.DataFrame({"value": scalars})


@command(
    "compare",
    "Every version of a model side by side: metrics, params, lineage (and a plot).",
    arg("name"),
    arg("--metric", help="the metric to plot (default: accuracy, r2, mse or log_loss, if present)"),
    arg("--no-plot", action="store_true"),
)
def maas_compare(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    rows = evaluation.compare(ctx.service.registry, args.name)
    table = pd.DataFrame(rows).set_index("version") if rows else pd.DataFrame()
    metric = args.metric or next((m for m in ("accuracy", "r2", "mse", "log_loss", "loss") if m in table), None)
    if args.metric and args.metric not in table:
        raise InvalidInput(f"no version of {args.name} has a metric {args.metric!r}")
    if metric and not args.no_plot and table[metric].notna().any():
        values = table[metric].dropna()
        values.index = [f"v{v}" for v in values.index]
        _display(_bar_figure(values, f"{args.name}: {metric} per version"))
    return table


def _enable_or_disable(parser: ArgumentParser) -> None:
    switch = parser.add_mutually_exclusive_group()
    switch.add_argument("--enable", action="store_true")
    switch.add_argument("--disable", action="store_true")


@command(
    "slo",
    "Show or change the bounds an endpoint's canary must keep (else it is rolled back).",
    arg("endpoint"),
    arg("--max-failure-rate", type=float, help="share of requests failing (e.g. 0.05)"),
    arg("--max-p99-ratio", type=float, help="canary p99 latency over the primary's (e.g. 3)"),
    arg("--window", type=float, help="seconds judged"),
    arg("--min-requests", type=int, help="canary requests needed before judging"),
    _enable_or_disable,
)
def maas_slo(ctx: MagicContext, args: Namespace) -> pd.DataFrame:
    bounds = {
        key: value
        for key, value in (
            ("max_failure_rate", args.max_failure_rate),
            ("max_p99_ratio", args.max_p99_ratio),
            ("window_s", args.window),
            ("min_requests", args.min_requests),
            ("enabled", True if args.enable else (False if args.disable else None)),
        )
        if value is not None
    }
    answer = monitor_of(ctx.service).slo(args.endpoint, bounds)
    for rollback in answer.get("rollbacks", []):
        print(f"automatic rollback: {rollback['reason']}")
    return pd.DataFrame({"value": answer["bounds"]})
