"""Input drift: shifted data is flagged, data like the training data is not; reference summaries are stored."""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_models import identity

from maas_jupyter.errors import InvalidInput, NotFound
from maas_jupyter.monitoring import drift


def test_psi_by_hand():
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5)
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * np.log(2) + 0.25 * np.log(1.5))
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_narrow_inputs_shifted_are_flagged_and_unshifted_are_not():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(5000, 5))
    summary = drift.summarize(train)
    assert summary["projection"] is None and len(summary["cuts"]) == 5

    same = drift.compare(summary, rng.normal(size=(2000, 5)))
    assert not same["drifted"] and same["overall_psi"] < 0.05 and same["drifted_features"] == 0

    moved = rng.normal(size=(2000, 5))
    moved[:, 2] += 1.5  # one feature moves by 1.5 standard deviations
    report = drift.compare(summary, moved)
    by_feature = {f["feature"]: f for f in report["features"]}
    assert by_feature["f2"]["drifted"] and by_feature["f2"]["psi"] > 0.5
    assert report["drifted_features"] == 1
    everything = drift.compare(summary, rng.normal(size=(2000, 5)) + 1.0)
    assert everything["drifted"] and everything["basis"] == "features"


def _images(rng, rows, brightness=0.0):
    """Synthetic 28x28 'digits': a bright blob at a random place on a dark background, in [0, 1]."""
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = rng.uniform(8, 20, size=(2, rows))
    blobs = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2) / 18.0)
    return np.clip(blobs + brightness + rng.normal(0, 0.02, size=blobs.shape), 0, 1).reshape(rows, 784)


def test_wide_inputs_use_a_projection():
    rng = np.random.default_rng(2)
    summary = drift.summarize(_images(rng, 4000))
    assert summary["features"] == 784 and summary["projection"]["dims"] == drift.PROJECTED_DIMENSIONS
    same = drift.compare(summary, _images(rng, 2000))
    assert same["basis"] == "projection" and not same["drifted"]
    brighter = drift.compare(summary, _images(rng, 2000, brightness=0.3))
    assert brighter["drifted"] and brighter["overall_psi"] > 1.0
    assert len(drift.compare(summary, _images(rng, 50), top=10)["features"]) == 10


def test_sample_is_bounded_and_counts_what_it_saw():
    sample = drift.InputSample(size=100, seed=0)
    for start in range(0, 10_000, 50):
        sample.offer(np.arange(start, start + 50, dtype=float).reshape(50, 1))
    matrix = sample.matrix()
    assert matrix.shape == (100, 1) and sample.seen == 10_000
    assert matrix.mean() > 2500  # a uniform sample of 0..9999, not the first hundred rows


def test_bad_reference_data_is_refused():
    with pytest.raises(InvalidInput):
        drift.summarize(np.array([["a", "b"]]))
    with pytest.raises(InvalidInput):
        drift.summarize(np.array([[1.0, np.nan], [2.0, 3.0]]))
    summary = drift.summarize(np.random.default_rng(0).normal(size=(100, 3)))
    with pytest.raises(InvalidInput):
        drift.compare(summary, np.zeros((10, 4)))


def test_monitor_reports_drift_of_an_endpoint_against_its_versions_reference(platform):
    rng = np.random.default_rng(3)
    platform.registry.register_onnx("m", identity(4))
    reference = platform.set_reference_data("m", 1, rng.normal(size=(3000, 4)).astype(np.float32))
    assert reference == {"name": "m", "version": 1, "rows": 3000, "features": 4, "bins": 10, "projection": False}
    assert platform.monitor.reference("m", 1)["features"] == 4
    platform.deployments.deploy("ep", "m", 1)
    with pytest.raises(NotFound):
        platform.monitor.drift("ep")  # nothing served yet
    for _ in range(40):
        platform.monitor.sample_inputs("ep", {"x": rng.normal(size=(25, 4)).astype(np.float32)}, ["x"])
    calm = platform.monitor.drift("ep")
    assert not calm["drifted"] and calm["reference_version"] == 1 and calm["seen"] == 1000
    platform.monitor.reset_drift_sample("ep")
    for _ in range(40):
        platform.monitor.sample_inputs("ep", {"x": (rng.normal(size=(25, 4)) + 2).astype(np.float32)}, ["x"])
    shifted = platform.monitor.drift("ep")
    assert shifted["drifted"] and shifted["drifted_features"] == 4
    # A new version without its own reference is compared with the newest earlier one.
    platform.registry.register_onnx("m", identity(4))
    platform.deployments.deploy("ep", "m", 2)
    assert platform.monitor.drift("ep", threshold=0.25)["reference_version"] == 1
    with pytest.raises(InvalidInput):
        platform.set_reference_data("m", 1, rng.normal(size=(100, 5)))  # the model takes 4 features


def test_sample_stays_uniform_after_it_fills():
    sample = drift.InputSample(size=500, seed=1)
    for start in range(0, 200_000, 100):
        sample.offer(np.arange(start, start + 100, dtype=float).reshape(100, 1))
    values = sample.matrix().ravel()
    assert len(values) == 500 and len(np.unique(values)) == 500
    # Quarters of the stream are equally likely: each holds about 125 of the 500 rows.
    counts = np.histogram(values, bins=4, range=(0, 200_000))[0]
    assert counts.min() > 80 and counts.max() < 170


def test_reference_of_a_deleted_model_is_not_used_for_a_new_one_of_the_same_name(platform):
    from monitoring_models import fails_when_first_feature_large

    rng = np.random.default_rng(4)
    platform.registry.register_onnx("m", identity(4))
    platform.set_reference_data("m", 1, rng.normal(size=(500, 4)))
    platform.registry.delete_model("m")
    platform.registry.register_onnx("m", fails_when_first_feature_large(4))  # a new m@1, other bytes
    platform.deployments.deploy("ep", "m", 1)
    platform.monitor.sample_inputs("ep", {"x": rng.normal(size=(10, 4)).astype(np.float32)}, ["x"])
    with pytest.raises(NotFound, match="no reference data"):
        platform.monitor.drift("ep")
