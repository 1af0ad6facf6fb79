"""What a live training curve knows, built from training events alone (no widget, no plotting).

The same state feeds the live widget, the static image left for headless renderers, and the
text summary, so all three always agree. Events are the dicts of maas_jupyter.training.listeners.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .axes import finite_points

DEFAULT_SMOOTHING = 0.9
DEFAULT_MAX_POINTS = 500
# The axes first span this many epochs of the plan (all of a shorter run), then grow with the run: the
# charts keep their scale while a short run fills them, and a long one is not squeezed into a corner.
AXIS_EPOCHS = 10


def format_seconds(seconds: float | None) -> str:
    """1:02:03 / 2:03 style; '?' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def decimate(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: consecutive points averaged in equal groups (keeps the curve's shape)."""
    n = len(x)
    if n <= max_points:
        return x, y
    starts = (np.arange(max_points) * n) // max_points
    counts = np.diff(np.append(starts, n))
    return np.add.reduceat(x, starts) / counts, np.add.reduceat(y, starts, axis=-1) / counts


class CurveState:
    """Batch losses (raw and smoothed), per-epoch logs, and progress of one run."""

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING, max_points: int = DEFAULT_MAX_POINTS):
        self.smoothing = smoothing
        self.max_points = max_points
        self.run_id = ""
        self.model_name = None
        self.job_id = None
        self.status = "waiting"
        self.error = ""
        self.epochs = 0
        self.steps_per_epoch = 0
        self.samples = 0
        self.batch_size = 0
        self.optimizer = ""
        self.lr = None
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.validation_planned: bool | None = None  # None: the run did not say (older event streams)
        self._metrics: list[str] = []  # metric names known before any epoch ended (train_begin, batches)
        # Rows: step, raw loss, smoothed loss. A growing array, not lists: each push reads it whole,
        # and converting Python lists of thousands of floats per push was most of a push's cost.
        self._batches = np.empty((3, 1024), dtype=np.float64)
        self._batch_count = 0
        self._ema = 0.0
        self._ema_count = 0
        self.epoch_logs: list[dict] = []

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one training event into the state."""
        kind = event.get("type")
        if "time" in event and isinstance(event["time"], (int, float)):
            self.elapsed = max(self.elapsed, float(event["time"]))
        if kind == "train_begin":
            self.run_id = event.get("run_id", "")
            self.model_name = event.get("model_name")
            self.job_id = event.get("job_id")
            self.epochs = int(event.get("epochs") or 0)
            self.steps_per_epoch = int(event.get("steps_per_epoch") or 0)
            self.samples = int(event.get("samples") or 0)
            self.batch_size = int(event.get("batch_size") or 0)
            self.optimizer = event.get("optimizer", "")
            self.lr = event.get("lr")
            if isinstance(event.get("has_validation"), bool):
                self.validation_planned = event["has_validation"]
            self._learn_metrics(event.get("metrics") or [])
            self.status = "running"
        elif kind == "batch":
            self.epoch = int(event.get("epoch", self.epoch))
            self.step = int(event.get("step", self.step))
            self.global_step = int(event.get("global_step", self.global_step + 1))
            if isinstance(event.get("metrics"), dict):
                self._learn_metrics(event["metrics"])
            loss = event.get("loss")
            if isinstance(loss, (int, float)) and math.isfinite(loss):
                # Exponential moving average with TensorBoard's bias correction, so the first
                # points are not dragged towards zero.
                self._ema = self.smoothing * self._ema + (1 - self.smoothing) * loss
                self._ema_count += 1
                if self._batch_count == self._batches.shape[1]:
                    self._batches = np.concatenate([self._batches, np.empty_like(self._batches)], axis=1)
                self._batches[:, self._batch_count] = (
                    self.global_step,
                    loss,
                    self._ema / (1 - self.smoothing**self._ema_count),
                )
                self._batch_count += 1
        elif kind == "epoch":
            self.epoch = int(event.get("epoch", self.epoch))
            self.epoch_logs.append({"epoch": self.epoch, **(event.get("logs") or {})})
        elif kind == "train_end":
            self.status = event.get("status", "finished")
            self.error = event.get("error") or ""
            if isinstance(event.get("duration_s"), (int, float)):
                self.elapsed = float(event["duration_s"])
            steps = event.get("steps")
            if isinstance(steps, int) and steps > self.global_step:  # batch events may have been thinned
                self.global_step = steps
                if self.steps_per_epoch:
                    self.step = (steps - 1) % self.steps_per_epoch + 1

    def _learn_metrics(self, names) -> None:
        for name in names:
            if isinstance(name, str):
                base = name[4:] if name.startswith("val_") else name
                if base not in ("loss", "epoch", "time") and base not in self._metrics:
                    self._metrics.append(base)

    # ---- derived views -------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.status not in ("waiting", "running")

    def throughput(self) -> float | None:
        """Training rows per second since the run began."""
        if self.elapsed <= 0 or not self.global_step or not self.batch_size:
            return None
        rows = min(self.global_step * self.batch_size, max(self.samples, 1) * max(self.epoch, 1))
        return rows / self.elapsed

    def seconds_left(self) -> float | None:
        """Time left at the pace so far (validation passes included in the pace)."""
        if self.done:
            return 0.0
        if not self.global_step or not self.total_steps or self.elapsed <= 0:
            return None
        return (self.total_steps - self.global_step) * self.elapsed / self.global_step

    def batch_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, [raw losses, smoothed losses]), thinned to at most max_points."""
        used = self._batches[:, : self._batch_count]
        x, y = decimate(used[0], used[1:], self.max_points)
        return x.copy(), y.copy()  # the widget keeps what it sent: never a view of the growing buffer

    def epoch_series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one logged quantity; missing values are NaN so lines break there."""
        x = np.asarray([row["epoch"] for row in self.epoch_logs], dtype=np.float64)
        y = np.asarray(
            [row.get(key) if isinstance(row.get(key), (int, float)) else np.nan for row in self.epoch_logs],
            dtype=np.float64,
        )
        return x, y

    def epoch_points(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(epochs, values) of one logged quantity, only where it is a finite number: what a chart draws."""
        return finite_points(*self.epoch_series(key))

    def epoch_extent(self) -> tuple[float, float]:
        """The epoch axis: half an epoch either side of epochs 1..N, N the epochs logged or (up to
        AXIS_EPOCHS) planned, so it reads whole epochs before the first one ended."""
        logged = int(self.epoch_logs[-1]["epoch"]) if self.epoch_logs else 0
        last = max(logged, self.epoch, min(self.epochs, AXIS_EPOCHS), 1)
        return 0.5, last + 0.5

    def step_extent(self) -> tuple[float, float]:
        """The step axis: from 0 to the steps run or (up to AXIS_EPOCHS epochs of them) planned."""
        planned = min(self.total_steps, AXIS_EPOCHS * self.steps_per_epoch)
        return 0.0, float(max(self.global_step, planned, 1))

    def metric_names(self) -> list[str]:
        """Metrics other than the loss, without their val_ twins (accuracy, mae, …): those the run
        announced or reported for a batch, then any other an epoch logged."""
        names = list(self._metrics)
        for row in self.epoch_logs:
            for key in row:
                base = key[4:] if key.startswith("val_") else key
                if base not in ("epoch", "loss") and base not in names:
                    names.append(base)
        return names

    def has_validation(self) -> bool:
        """The run validates: it said so when it began, or an epoch logged a validation loss."""
        return bool(self.validation_planned) or any("val_loss" in row for row in self.epoch_logs)

    def last_loss(self) -> float | None:
        return float(self._batches[2, self._batch_count - 1]) if self._batch_count else None

    def status_line(self) -> str:
        """epoch, step, throughput, elapsed and time left, in one line."""
        parts = []
        if self.model_name:
            parts.append(str(self.model_name))
        if self.job_id is not None:
            parts.append(f"job {self.job_id}")
        parts.append(self.status)
        parts.append(f"epoch {self.epoch}/{self.epochs}")
        if self.steps_per_epoch:
            parts.append(f"step {self.step}/{self.steps_per_epoch}")
        rate = self.throughput()
        if rate is not None:
            parts.append(f"{rate:,.0f} rows/s")
        loss = self.last_loss()
        if loss is not None:
            parts.append(f"batch loss {loss:.4g}")
        if self.epoch_logs:
            last = self.epoch_logs[-1]
            parts += [f"{k} {v:.4g}" for k, v in last.items() if k != "epoch" and isinstance(v, (int, float))]
        parts.append(f"elapsed {format_seconds(self.elapsed)}")
        if not self.done:
            parts.append(f"left ~{format_seconds(self.seconds_left())}")
        line = " · ".join(parts)
        return line + (f" · {self.error}" if self.error else "")
