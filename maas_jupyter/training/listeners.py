"""Training listeners: anything that wants batch and epoch events (the live widget, job streaming).

An event is a plain JSON-ready dict, the same in the kernel and over the wire:
  {"type": "train_begin", "run_id", "epochs", "steps_per_epoch", "samples", "batch_size", "optimizer", "lr", ...}
  {"type": "batch", "run_id", "epoch", "step", "global_step", "loss", "metrics": {...}, "time"}
  {"type": "epoch", "run_id", "epoch", "logs": {"loss", "val_loss", ...}, "time"}
  {"type": "train_end", "run_id", "status", "epochs_completed", "duration_s", "error"}
Epochs and steps count from 1; "time" is seconds since the run began.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@runtime_checkable
class TrainingListener(Protocol):
    """Receives training events; must return quickly and never block the training loop."""

    def on_event(self, event: Mapping[str, Any]) -> None: ...


ListenerLike = TrainingListener | Callable[[Mapping[str, Any]], Any]


class ListenerFanout:
    """Calls every listener in turn; a listener that raises is logged once and then left out.

    Training must never die or wait because a display broke, so errors are contained here.
    KeyboardInterrupt is not an error: it passes through so Ctrl-C still stops training.
    """

    def __init__(self, listeners: Iterable[ListenerLike] | ListenerLike | None):
        if listeners is None:
            listeners = []
        elif callable(listeners) or isinstance(listeners, TrainingListener):
            listeners = [listeners]
        self._calls: list[Callable[[Mapping[str, Any]], Any]] = []
        for listener in listeners:
            if isinstance(listener, TrainingListener):
                self._calls.append(listener.on_event)
            elif callable(listener):
                self._calls.append(listener)
            else:
                raise TypeError(f"a listener is a callable or has on_event(event), not {type(listener).__name__}")

    def __bool__(self) -> bool:
        return bool(self._calls)

    def __call__(self, event: Mapping[str, Any]) -> None:
        for call in list(self._calls):
            try:
                call(event)
            except Exception:
                log.exception("a training listener failed; it gets no more events for this run")
                self._calls.remove(call)


class JsonLinesWriter:
    """Appends events to a file, one JSON object per line, thinning batch events to `max_per_second`.

    Used by job workers: the job runner tails the file and republishes events, so the file is
    flushed after each line. Epoch, begin and end events are always written.
    """

    def __init__(self, path: str | os.PathLike, max_per_second: float = 10.0, clock=time.monotonic):
        self._file = open(path, "a", encoding="utf-8")
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._clock = clock
        self._last_batch = float("-inf")
        self._lock = threading.Lock()

    def on_event(self, event: Mapping[str, Any]) -> None:
        if event.get("type") == "batch":
            now = self._clock()
            if now - self._last_batch < self._interval:
                return
            self._last_batch = now
        line = json.dumps(event, allow_nan=False, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class TextProgress:
    """Where no widget can render (a terminal): one line per epoch and a closing summary."""

    def __init__(self, write: Callable[[str], Any] = print):
        self._write = write
        self._epochs = 0

    def on_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "train_begin":
            self._epochs = event.get("epochs", 0)
            self._write(
                f"training run {event.get('run_id', '')[:8]}: {event.get('samples')} rows, "
                f"{self._epochs} epochs, {event.get('optimizer')} lr={event.get('lr')}"
            )
        elif kind == "epoch":
            logs = event.get("logs", {})
            parts = " ".join(f"{k}={v:.4g}" for k, v in logs.items() if isinstance(v, (int, float)))
            self._write(f"epoch {event.get('epoch')}/{self._epochs} {parts} ({event.get('time', 0):.1f}s)")
        elif kind == "train_end":
            self._write(
                f"run {event.get('run_id', '')[:8]} {event.get('status')} after "
                f"{event.get('epochs_completed')} epochs in {event.get('duration_s', 0):.1f}s"
                + (f": {event['error']}" if event.get("error") else "")
            )
