"""The trainer: optimisers, full-batch steps, loss inference, interrupt, divergence, bad input."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from maas_jupyter.errors import InvalidInput

pytestmark = pytest.mark.slow


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


@pytest.mark.parametrize("optimizer, lr", [("gd", 0.5), ("sgd", 0.1), ("adam", 0.01)])
def test_each_optimizer_reduces_the_loss(platform, tiny_data, make_classifier, optimizer, lr):
    x, y = tiny_data
    result = platform.train(make_classifier(), x, y, epochs=6, optimizer=optimizer, lr=lr, batch_size=32)
    losses = [row["loss"] for row in result.history]
    assert result.status == "finished"
    assert len(losses) == 6
    assert losses[-1] < losses[0]
    assert result.params["optimizer"] == optimizer and result.params["lr"] == lr


def test_gd_takes_one_full_batch_step_per_epoch(platform, tiny_data, make_classifier):
    x, y = tiny_data
    batches = []
    result = platform.train(
        make_classifier(),
        x,
        y,
        epochs=4,
        optimizer="gd",
        lr=0.5,
        batch_size=16,
        listener=lambda e: batches.append(e) if e["type"] == "batch" else None,
    )
    assert result.steps_completed == 4
    assert [b["epoch"] for b in batches] == [1, 2, 3, 4]
    assert result.params["batch_size"] == len(x) and result.params["full_batch"] is True
    assert result.params["steps_per_epoch"] == 1


def test_sgd_takes_minibatch_steps(platform, tiny_data, make_classifier):
    x, y = tiny_data
    result = platform.train(make_classifier(), x, y, epochs=2, optimizer="sgd", lr=0.1, batch_size=64)
    assert result.steps_completed == 2 * 4
    assert result.params["full_batch"] is False


def test_given_optimizer_replaces_the_compiled_one_and_keeps_the_loss(platform, tiny_data, make_classifier, keras):
    x, y = tiny_data
    model = make_classifier()
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = platform.train(model, x, y, epochs=1, optimizer="sgd", lr=0.05)
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert "accuracy" in result.history[0]  # the user's metrics survived the recompile
    assert result.params["loss"] == "sparse_categorical_crossentropy"


def test_compiled_model_without_optimizer_keeps_its_own(platform, tiny_data, make_classifier, keras):
    x, y = tiny_data
    model = make_classifier()
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy")
    result = platform.train(model, x, y, epochs=1)
    assert type(model.optimizer).__name__ == "RMSprop"
    assert result.params["optimizer"] == "rmsprop"


def test_compiled_model_given_only_a_loss_keeps_its_optimizer(platform, tiny_data, keras):
    x, _ = tiny_data
    regressor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    regressor.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    result = platform.train(regressor, x, x[:, :1], epochs=1, loss="mae")
    assert type(regressor.optimizer).__name__ == "SGD"
    assert float(regressor.optimizer.learning_rate) == pytest.approx(0.05)
    assert result.params["loss"] == "mae" and result.params["optimizer"] == "sgd"


def test_loss_is_inferred_from_the_labels(platform, tiny_data, make_classifier, keras):
    x, y = tiny_data
    assert platform.train(make_classifier(), x, y, epochs=1).params["loss"] == "sparse_categorical_crossentropy"
    one_hot = np.eye(2, dtype="float32")[y]
    assert platform.train(make_classifier(), x, one_hot, epochs=1).params["loss"] == "categorical_crossentropy"
    regressor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    result = platform.train(regressor, x, x[:, :1] * 2.0, epochs=1)
    assert result.params["loss"] == "mse"


def test_given_loss_is_used(platform, tiny_data, keras):
    x, _ = tiny_data
    regressor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    result = platform.train(regressor, x, x[:, :1], epochs=1, loss="mae")
    assert result.params["loss"] == "mae"


def test_validation_data_and_split_give_val_metrics(platform, tiny_data, make_classifier):
    x, y = tiny_data
    with_data = platform.train(make_classifier(), x, y, val=(x[:32], y[:32]), epochs=1)
    assert "val_loss" in with_data.history[0]
    with_split = platform.train(make_classifier(), x, y, val_split=0.25, epochs=1)
    assert "val_loss" in with_split.history[0]
    assert with_split.params["x_shape"] == [192, 4] and with_split.params["x_val_shape"] == [64, 4]


def test_kernel_interrupt_stops_cleanly_keeps_weights_and_records_interrupted(platform, tiny_data, make_classifier):
    x, y = tiny_data
    model = make_classifier()
    before = _weights(model)

    def press_ctrl_c(event):
        if event["type"] == "batch" and event["global_step"] == 5:
            os.kill(os.getpid(), signal.SIGINT)  # what a Jupyter kernel interrupt delivers

    result = platform.train(model, x, y, epochs=100, batch_size=8, optimizer="sgd", lr=0.1, listener=press_ctrl_c)
    assert result.status == "interrupted"
    assert 5 <= result.steps_completed < 100 * 32
    after = _weights(model)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "the steps taken were kept"
    assert all(np.isfinite(w).all() for w in after)
    run = platform.runs.get(result.run_id)
    assert run["status"] == "interrupted" and run["duration_s"] is not None
    # the model is still usable and trainable after the interrupt
    assert platform.train(model, x, y, epochs=1).status == "finished"


def test_nan_loss_stops_the_run_and_marks_it_diverged(platform, tiny_data, make_classifier):
    x, y = tiny_data
    result = platform.train(make_classifier(), x, y, epochs=50, optimizer="sgd", lr=1e12, batch_size=8)
    assert result.status == "diverged"
    assert result.steps_completed < 50 * 32, "training stopped at the NaN instead of running every epoch"
    assert "nan" in result.error.lower()
    assert platform.runs.get(result.run_id)["status"] == "diverged"


def test_a_diverged_run_hands_back_the_last_finite_weights(platform, tiny_data, make_classifier):
    x, y = tiny_data
    model = make_classifier()
    result = platform.train(model, x, y, epochs=50, optimizer="sgd", lr=1e12, batch_size=8)
    assert result.status == "diverged" and "weights restored" in result.error
    assert all(np.isfinite(w).all() for w in _weights(model)), "Keras left NaN weights; the trainer must not"
    assert np.isfinite(model.predict(x[:4], verbose=0)).all()


def test_a_finite_loss_over_nan_weights_is_diverged_on_every_machine(platform, tiny_data):
    """Whether NaN survives an activation depends on the CPU's kernels: where a Relu maps NaN to 0,
    NaN inputs give a finite loss while the first layer's weights turn NaN. A layer that maps NaN to 0
    makes that happen here too, whatever the CPU: the run must not count as finished."""
    import keras

    x, y = tiny_data
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((x.shape[1],)),
            keras.layers.Dense(8),
            keras.layers.Lambda(lambda h: keras.ops.nan_to_num(h, nan=0.0)),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    before = _weights(model)
    result = platform.train(model, np.full_like(x, np.nan), y, epochs=1, optimizer="sgd", lr=0.1)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"]), "the loss stayed finite"
    assert result.status == "diverged" and "weights became NaN" in result.error
    assert "weights restored to the start" in result.error
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model)))
    assert platform.runs.get(result.run_id)["status"] == "diverged"


def _bad_inputs(x, y):
    return {
        "X and Y lengths differ": (dict(x=x, y=y[:10]), "rows"),
        "rows of the wrong shape": (dict(x=x[:, :3], y=y), "shape"),
        "unknown optimizer": (dict(optimizer="rmsprop"), "optimizer"),
        "zero learning rate": (dict(lr=0), "learning rate"),
        "negative learning rate": (dict(lr=-0.1), "learning rate"),
        "NaN learning rate": (dict(lr=float("nan")), "learning rate"),
        "labels beyond the outputs": (dict(y=y + 5), "classes"),
        "zero epochs": (dict(epochs=0), "epochs"),
        "zero batch size": (dict(batch_size=0), "batch size"),
        "validation length mismatch": (dict(val=(x, y[:3])), "rows"),
        "validation and split together": (dict(val=(x, y), val_split=0.2), "not both"),
        "split of 1": (dict(val_split=1.0), "split"),
        "empty data": (dict(x=x[:0], y=y[:0]), "no rows"),
        "not a model": (dict(model="model"), "Keras model"),
        "unknown loss": (dict(loss="no_such_loss"), "loss"),
        "labels that do not fit the output": (dict(y=np.zeros((256, 3), "float32"), loss="mse"), "does not fit"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(np.zeros((2, 4)), np.zeros(2))))
def test_bad_input_is_a_one_line_error_and_changes_nothing(platform, tiny_data, make_classifier, case):
    x, y = tiny_data
    kwargs, words = _bad_inputs(x, y)[case]
    model = kwargs.pop("model", None) or make_classifier()
    before = _weights(model) if hasattr(model, "get_weights") else None
    args = {"x": x, "y": y, "epochs": 1, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        platform.train(model, args.pop("x"), args.pop("y"), **args)
    message = caught.value.message
    assert "\n" not in message and words.lower() in message.lower()
    assert platform.runs.list()["total"] == 0, "nothing is recorded"
    if before is not None:
        assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model)))
        assert not getattr(model, "compiled", False), "the model was not compiled"


def test_a_failing_listener_never_stops_training(platform, tiny_data, make_classifier):
    x, y = tiny_data
    seen = []

    def broken(event):
        raise RuntimeError("display broke")

    result = platform.train(make_classifier(), x, y, epochs=2, listener=[broken, seen.append])
    assert result.status == "finished"
    assert [e["type"] for e in seen][0] == "train_begin" and seen[-1]["type"] == "train_end"


def test_events_describe_the_run(platform, tiny_data, make_classifier):
    x, y = tiny_data
    events = []
    result = platform.train(make_classifier(), x, y, epochs=2, batch_size=64, val_split=0.25, listener=events.append)
    begin, end = events[0], events[-1]
    assert begin["type"] == "train_begin" and begin["epochs"] == 2 and begin["steps_per_epoch"] == 3
    assert end == {**end, "type": "train_end", "status": "finished", "epochs_completed": 2}
    epochs = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and "val_loss" in epochs[0]["logs"]
    assert all(e["run_id"] == result.run_id for e in events)


def test_batch_events_carry_the_loss_of_their_own_batches_in_order(platform, tiny_data, make_classifier):
    # Keras reports the epoch-to-date mean; the events must carry the loss of the rows since the previous
    # event, so that, weighted by those rows, they add up to the epoch's loss. Batch handlers run on
    # Keras's thread pool: the events must still come in step order, and none after the end.
    x, y = tiny_data
    events = []
    result = platform.train(
        make_classifier(), x, y, epochs=3, batch_size=24, optimizer="sgd", lr=0.5, listener=events.append
    )
    assert events[-1]["type"] == "train_end"
    steps = [e["global_step"] for e in events if e["type"] == "batch"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) and steps[-1] == 3 * 11
    for epoch in (1, 2, 3):
        batches = [e for e in events if e["type"] == "batch" and e["epoch"] == epoch]
        previous, total = 0, 0.0
        for event in batches:
            seen = min(event["step"] * 24, 256)
            total += event["loss"] * (seen - previous)
            previous = seen
        assert previous == 256
        epoch_loss = result.history[epoch - 1]["loss"]
        assert total / 256 == pytest.approx(epoch_loss, rel=1e-4)
        losses = [e["loss"] for e in batches]
        assert max(losses) - min(losses) > 1e-6, "each event has its own batch's loss, not one running mean"
