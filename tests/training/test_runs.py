"""Recorded runs: parameters, per-epoch metrics, listing, and lineage to registered versions."""

from __future__ import annotations

import pytest

from maas_jupyter.errors import InvalidInput, NotFound
from maas_jupyter.training.register import register_trained

pytestmark = pytest.mark.slow


def test_a_run_records_params_metrics_duration_and_shapes(platform, tiny_data, make_classifier):
    x, y = tiny_data
    result = platform.train(
        make_classifier(),
        x,
        y,
        epochs=3,
        optimizer="adam",
        lr=0.01,
        batch_size=32,
        val=(x[:64], y[:64]),
        model_name="clf",
    )
    run = platform.runs.get(result.run_id)
    assert run["status"] == "finished" and run["model_name"] == "clf"
    assert run["params"]["optimizer"] == "adam" and run["params"]["lr"] == 0.01
    assert run["params"]["epochs"] == 3 and run["params"]["batch_size"] == 32
    assert run["params"]["x_shape"] == [256, 4] and run["params"]["y_shape"] == [256]
    assert run["params"]["x_val_shape"] == [64, 4]
    assert [row["epoch"] for row in run["history"]] == [1, 2, 3]
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(run["history"][0])
    assert run["epochs_completed"] == 3 and run["duration_s"] > 0 and run["ended_at"]


def test_runs_list_newest_first_and_filter_by_model_and_status(platform, tiny_data, make_classifier):
    x, y = tiny_data
    first = platform.train(make_classifier(), x, y, epochs=1, model_name="a")
    second = platform.train(make_classifier(), x, y, epochs=1, model_name="b")
    diverged = platform.train(make_classifier(), x, y, epochs=3, optimizer="sgd", lr=1e12, model_name="a")
    listed = platform.runs.list()
    assert [r["run_id"] for r in listed["items"]] == [diverged.run_id, second.run_id, first.run_id]
    assert [r["run_id"] for r in platform.runs.list(model_name="a")["items"]] == [diverged.run_id, first.run_id]
    assert [r["run_id"] for r in platform.runs.list(status="diverged")["items"]] == [diverged.run_id]
    with pytest.raises(InvalidInput):
        platform.runs.list(status="exploded")
    with pytest.raises(NotFound):
        platform.runs.get("0" * 32)


def test_registering_a_trained_model_gives_the_version_lineage_to_its_run(platform, tiny_data, make_classifier):
    x, y = tiny_data
    result = platform.train(make_classifier(), x, y, epochs=2)
    version = register_trained(platform, "clf", result)
    assert version["run_id"] == result.run_id
    assert version["params"]["optimizer"] == result.params["optimizer"]
    assert version["metrics"]["loss"] == pytest.approx(result.history[-1]["loss"])
    run = platform.runs.get(result.run_id)
    assert (run["registered_name"], run["registered_version"]) == ("clf", version["version"])
    again = register_trained(platform, "clf", platform.train(result.model, x, y, epochs=1))
    assert again["version"] == 2 and again["parent_version"] == 1


def test_an_unfinished_run_cannot_be_registered(platform, tiny_data, make_classifier):
    x, y = tiny_data
    diverged = platform.train(make_classifier(), x, y, epochs=3, optimizer="sgd", lr=1e12)
    with pytest.raises(InvalidInput):
        register_trained(platform, "clf", diverged)
    assert platform.registry.list_models()["total"] == 0
