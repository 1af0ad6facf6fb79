"""The trainer: Keras training with a chosen optimiser, recorded as a run, streamed to listeners."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..event_types import TrainBatch, TrainBegin, TrainEnd, TrainEpoch
from ..service import RunsService
from . import inputs
from .listeners import ListenerFanout, ListenerLike
from .runs import DIVERGED, FAILED, FINISHED, INTERRUPTED, clean_logs, json_number

# Epoch rows reach the database at most this often (and always at the end): full-batch descent
# can run thousands of tiny epochs, and one commit per epoch would then dominate its time.
EPOCH_WRITE_INTERVAL_S = 1.0


@dataclass
class TrainingResult:
    """What a training run produced; `model` is the trained model itself (its weights as reached)."""

    run_id: str
    status: str
    history: list[dict]
    epochs_completed: int
    steps_completed: int
    duration_s: float
    params: dict
    model: Any = field(repr=False)
    error: str = ""

    @property
    def metrics(self) -> dict:
        """The last epoch's metrics."""
        return {k: v for k, v in (self.history[-1] if self.history else {}).items() if k not in ("epoch", "time")}

    def summary(self) -> str:
        """One line for a notebook or a terminal."""
        shown = " ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if isinstance(v, float))
        text = (
            f"run {self.run_id[:8]} {self.status}: {self.epochs_completed}/{self.params.get('epochs')} epochs, "
            f"{self.steps_completed} steps in {self.duration_s:.1f}s {shown}"
        ).rstrip()
        return text + (f" ({self.error})" if self.error else "")


def _make_optimizer(name: str, lr: float):
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    return keras.optimizers.SGD(learning_rate=lr)  # "gd" differs from "sgd" only by its batch size


def _loss_function(loss):
    import keras

    if loss is None:
        return None
    if isinstance(loss, str) or callable(loss):
        try:
            return keras.losses.get(loss)
        except Exception:
            raise InvalidInput(f"unknown loss {loss!r}") from None
    return None  # per-output losses (lists, dicts): Keras checks them itself when training starts


def _probe_loss(loss, model, data: inputs.TrainingData) -> None:
    function = _loss_function(loss)
    if function is None:
        return
    try:
        value = function(data.y[:2], model(data.x[:2], training=False))
        float(np.mean(np.asarray(value)))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:200]
        raise InvalidInput(
            f"Y of shape {tuple(data.y.shape)} does not fit the model's output with loss "
            f"{getattr(loss, '__name__', loss)!r}: {first}"
        ) from None


def _plan_compile(model, optimizer, lr, loss, data):
    """Decide optimiser, learning rate and loss; returns (compile_fn or None, optimizer_name, lr, loss_name)."""
    compiled = bool(getattr(model, "compiled", False)) and getattr(model, "optimizer", None) is not None
    units = inputs.output_units(model)
    if loss is None and not compiled:
        loss = inputs.infer_loss(data.y, units)
    if isinstance(loss, str):
        inputs.check_labels_fit_model(loss, data.y, units)
        if data.y_val is not None:
            inputs.check_labels_fit_model(loss, data.y_val, units, "validation Y")
    _probe_loss(loss if loss is not None else model.loss, model, data)

    if compiled and optimizer is None:
        # No optimiser asked for: the compiled one stays (its learning rate and loss change when given).
        current = model.optimizer
        name = type(current).__name__.lower()
        if lr is None and loss is None:
            return None, name, json_number(current.learning_rate), _name_of(model.loss)

        def adjust():
            import keras

            if loss is not None:
                config = model.get_compile_config()
                config["optimizer"] = keras.optimizers.serialize(current)
                config["loss"] = loss if isinstance(loss, str) else keras.losses.serialize(keras.losses.get(loss))
                model.compile_from_config(config)
            if lr is not None:
                model.optimizer.learning_rate = lr

        rate = lr if lr is not None else json_number(current.learning_rate)
        return adjust, name, rate, _name_of(loss if loss is not None else model.loss)

    optimizer = optimizer or "adam"
    lr = lr if lr is not None else inputs.DEFAULT_LEARNING_RATE[optimizer]

    def compile_model():
        import keras

        new_optimizer = _make_optimizer(optimizer, lr)
        if compiled:
            # Keep the user's loss and metrics; only the optimiser (and the loss when given) change.
            config = model.get_compile_config()
            config["optimizer"] = keras.optimizers.serialize(new_optimizer)
            if loss is not None:
                config["loss"] = keras.losses.serialize(keras.losses.get(loss)) if not isinstance(loss, str) else loss
            model.compile_from_config(config)
        else:
            classifies = isinstance(loss, str) and "crossentropy" in loss
            model.compile(optimizer=new_optimizer, loss=loss, metrics=["accuracy"] if classifies else [])

    return compile_model, optimizer, lr, _name_of(loss if loss is not None else model.loss)


def _name_of(loss) -> str:
    if isinstance(loss, str):
        return loss
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


class _LastGoodWeights:
    """A copy of the weights at the end of the last epoch whose loss was finite, so a run that diverges
    hands back a usable model instead of NaN weights (Keras's TerminateOnNaN leaves those). Copied at most
    once per EPOCH_WRITE_INTERVAL_S: full-batch descent runs thousands of tiny epochs."""

    def __init__(self, model):
        self.weights, self.epoch, self._at = model.get_weights(), 0, time.perf_counter()

    def keep(self, model, epoch: int) -> None:
        if time.perf_counter() - self._at >= EPOCH_WRITE_INTERVAL_S:
            weights = model.get_weights()
            if _all_finite(weights):  # a finite loss does not prove finite weights (see train)
                self.weights, self.epoch, self._at = weights, epoch, time.perf_counter()

    def restore(self, model) -> str:
        if not self.weights:
            return ""
        model.set_weights(self.weights)
        return (
            f"; weights restored to the end of epoch {self.epoch}" if self.epoch else "; weights restored to the start"
        )


def _metric_names(model) -> list[str]:
    """The compiled metrics' names (['accuracy', 'auc']), so a live view lays out their charts at once."""
    try:
        metrics = model.get_compile_config().get("metrics") or []
    except Exception:  # not compiled through compile(), or a config Keras cannot describe
        return []
    names = [
        m if isinstance(m, str) else (m.get("config") or {}).get("name") for m in metrics if isinstance(m, (str, dict))
    ]
    return [name for name in names if name]


def _all_finite(weights) -> bool:
    return all(np.isfinite(w).all() for w in weights if np.issubdtype(np.asarray(w).dtype, np.floating))


def _keras_bridge(fanout, runs, run_id, steps_per_epoch, batch_size, samples, started, state):
    """A Keras callback that turns batches and epochs into events, stops on NaN and records epochs."""
    import keras

    clock = time.perf_counter

    class Bridge(keras.callbacks.Callback):
        # Async-safe: Keras then runs batch-end callbacks on its thread pool, where reading the step's
        # logs (a wait for the step to finish) happens, and the training loop keeps queueing steps.
        # Overriding on_train_batch_end without this flag made every step wait for the previous one
        # and cost over 20% of the wall time of a small model. Handlers may therefore run out of order
        # and at once: a lock orders them and a late batch is folded into the next (see _on_batch).
        async_safe = True

        def __init__(self):
            super().__init__()
            self._lock = threading.Lock()
            self._last_batch = -1  # the last batch of this epoch whose event went out
            self._seen_mean = 0.0  # Keras's epoch-to-date mean loss at that batch
            self._closed = False

        def on_epoch_begin(self, epoch, logs=None):
            # Keras waits for every batch handler of the previous epoch before calling this.
            state["epoch"] = epoch + 1
            with self._lock:
                self._last_batch, self._seen_mean = -1, 0.0

        def on_train_batch_end(self, batch, logs=None):
            with self._lock:
                if batch > self._last_batch and not self._closed:
                    self._on_batch(batch, logs or {})

        def close(self):
            """No batch event after this: a handler still queued when fit stopped (Ctrl-C) must not
            follow the run's end event."""
            with self._lock:
                self._closed = True

        def _on_batch(self, batch, logs):
            state["steps"] = max(state["steps"], (state["epoch"] - 1) * steps_per_epoch + batch + 1)
            mean = logs.get("loss")
            if mean is not None and not math.isfinite(mean):
                state["diverged"] = f"loss became {mean} at epoch {state['epoch']}, step {batch + 1}"
                self.model.stop_training = True
            loss = mean
            if mean is not None and math.isfinite(mean):
                # Keras reports the mean loss of the epoch so far, weighted by batch rows; the curve wants
                # the loss of the batches since the last event: undo the running mean.
                seen, now_seen = _rows_seen(self._last_batch), _rows_seen(batch)
                loss = (mean * now_seen - self._seen_mean * seen) / (now_seen - seen)
                self._seen_mean = mean
            self._last_batch = batch
            if fanout:
                event: TrainBatch = {
                    "type": "batch",
                    "run_id": run_id,
                    "epoch": state["epoch"],
                    "step": batch + 1,
                    "steps_per_epoch": steps_per_epoch,
                    "global_step": state["steps"],
                    "loss": json_number(loss),
                    "metrics": {k: json_number(v) for k, v in logs.items() if k != "loss"},
                    "time": clock() - started,
                }
                fanout(event)

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, **clean_logs(logs), "time": round(clock() - started, 4)}
            if state["diverged"] is None and row.get("loss") is None and "loss" in (logs or {}):
                state["diverged"] = f"loss became {logs['loss']} at epoch {epoch + 1}"
                self.model.stop_training = True
            if state["diverged"] is None:
                state["history"].append(row)
                state["good_weights"].keep(self.model, epoch + 1)
            if fanout:
                event: TrainEpoch = {
                    "type": "epoch",
                    "run_id": run_id,
                    "epoch": epoch + 1,
                    "logs": clean_logs(logs),
                    "time": clock() - started,
                }
                fanout(event)
            if runs is not None and clock() - state["written_at"] >= EPOCH_WRITE_INTERVAL_S:
                runs.record_epochs(run_id, state["history"])
                state["written_at"] = clock()

    def _rows_seen(batch: int) -> int:
        return min((batch + 1) * batch_size, samples)

    return Bridge()


def train(
    model,
    x,
    y,
    *,
    val=None,
    val_split: float | None = None,
    epochs: int = 1,
    batch_size: int | None = 32,
    optimizer: str | None = None,
    lr: float | None = None,
    loss=None,
    listener: Iterable[ListenerLike] | ListenerLike | None = None,
    callbacks: list | None = None,
    runs: RunsService | None = None,
    model_name: str | None = None,
    job_id: int | None = None,
    shuffle: bool = True,
) -> TrainingResult:
    """Train a Keras model in place, record the run, and stream events; Ctrl-C stops cleanly."""
    optimizer, lr = inputs.check_hyperparameters(optimizer, lr, epochs, batch_size)
    if not hasattr(model, "fit") or not callable(model):
        raise InvalidInput(f"cannot train a {type(model).__name__}: give a Keras model")
    data = inputs.prepare_data(x, y, val, val_split)
    inputs.check_model_takes(model, data)
    if data.x_val is not None and data.y_val is not None:
        inputs.check_model_takes(model, inputs.TrainingData(data.x_val, data.y_val, None, None))
    prepare, optimizer_name, lr, loss_name = _plan_compile(model, optimizer, lr, loss, data)
    fanout = ListenerFanout(listener)

    samples = len(data.x)
    full_batch = optimizer == "gd"
    batch = samples if full_batch or batch_size is None else min(batch_size, samples)
    steps_per_epoch = math.ceil(samples / batch)
    params = {
        "optimizer": optimizer_name,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch,
        "full_batch": full_batch,
        "loss": loss_name,
        "steps_per_epoch": steps_per_epoch,
        "validation": "data" if val is not None else ("split" if val_split is not None else None),
        "val_split": val_split,
        **data.shapes(),
    }

    # Everything above only read; from here the model and the database change.
    if prepare is not None:
        prepare()
    run_id = runs.start(params, model_name=model_name, job_id=job_id) if runs is not None else uuid.uuid4().hex
    started = time.perf_counter()
    state: dict[str, Any] = {
        "epoch": 0,
        "steps": 0,
        "diverged": None,
        "history": [],
        "written_at": started,
        "good_weights": _LastGoodWeights(model),
    }
    if fanout:
        event: TrainBegin = {
            "type": "train_begin",
            "run_id": run_id,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "samples": samples,
            "batch_size": batch,
            "optimizer": optimizer_name,
            "lr": lr,
            "has_validation": data.x_val is not None,
            "model_name": model_name,
            "job_id": job_id,
            "metrics": _metric_names(model),
        }
        fanout(event)
    status, error = FINISHED, ""
    bridge = _keras_bridge(fanout, runs, run_id, steps_per_epoch, batch, samples, started, state)
    try:
        model.fit(
            data.x,
            data.y,
            batch_size=batch,
            epochs=epochs,
            verbose=0,
            shuffle=shuffle and not full_batch,
            validation_data=(data.x_val, data.y_val) if data.x_val is not None else None,
            callbacks=[bridge, *(callbacks or [])],
        )
        if not state["diverged"] and not _all_finite(model.get_weights()):
            # The loss can stay finite while weights turn NaN: how NaN passes through an activation
            # depends on the CPU's kernels (a Relu computed as max(x, 0) may map NaN to 0), so NaN
            # inputs give a NaN loss on one machine and a finite loss over NaN weights on another.
            state["diverged"] = "weights became NaN or infinite while the loss stayed finite"
        if state["diverged"]:
            status, error = DIVERGED, state["diverged"] + state["good_weights"].restore(model)
    except KeyboardInterrupt:
        # The interrupt lands between steps (TensorFlow runs a step to its end before Python sees the
        # signal), so the weights are those of the last finished step: keep them, record the stop.
        status, error = INTERRUPTED, f"interrupted at epoch {state['epoch']} after {state['steps']} steps"
    except BaseException as exc:
        status, error = FAILED, f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        bridge.close()
        _close(runs, run_id, status, state, started, error, fanout)
        raise
    bridge.close()
    duration = _close(runs, run_id, status, state, started, error, fanout)
    return TrainingResult(
        run_id=run_id,
        status=status,
        history=list(state["history"]),
        epochs_completed=len(state["history"]),
        steps_completed=state["steps"],
        duration_s=duration,
        params=params,
        model=model,
        error=error,
    )


def _close(runs, run_id, status, state, started, error, fanout) -> float:
    duration = time.perf_counter() - started
    if runs is not None:
        runs.finish(run_id, status, state["history"], duration, error)
    if fanout:
        event: TrainEnd = {
            "type": "train_end",
            "run_id": run_id,
            "status": status,
            "epochs_completed": len(state["history"]),
            "steps": state["steps"],
            "duration_s": duration,
            "error": error,
        }
        fanout(event)
    return duration
