"""Scaling options without a cluster: validation, and the local backend's answer to them."""

from __future__ import annotations

import pytest

from maas_jupyter.backends import SCALING_FIELDS, create_deployments, deploy_scaled, scaling_options
from maas_jupyter.errors import InvalidInput


def test_scaling_options_keep_only_given_fields():
    body = {"replicas": 2, "min_replicas": None, "version": "3", "cpus": 0.5}
    assert scaling_options(body) == {"replicas": 2, "cpus": 0.5}
    assert set(SCALING_FIELDS) == {"replicas", "min_replicas", "max_replicas", "target_ongoing_requests", "cpus"}


def test_local_backend_refuses_replicas_with_the_reason():
    class LocalLike:  # a Deployments without scale(): the local backend
        def deploy(self, *args, **kwargs):
            raise AssertionError("must not be called with scaling options")

    with pytest.raises(InvalidInput, match="MAAS_BACKEND=ray"):
        deploy_scaled(LocalLike(), "ep", "m", None, {"replicas": 2})


def test_unknown_backend_is_refused():
    class Settings:
        backend = "kubernetes"

    class PlatformLike:
        settings = Settings()

    with pytest.raises(InvalidInput, match="local, ray"):
        create_deployments(PlatformLike())


@pytest.mark.parametrize(
    "scaling, reason",
    [
        ({"replicas": 0}, "at least 1"),
        ({"replicas": 1.5}, "whole number"),
        ({"replicas": True}, "number"),
        ({"replicas": 2, "max_replicas": 3}, "either replicas or autoscaling"),
        ({"min_replicas": 3, "max_replicas": 2}, "above max_replicas"),
        ({"cpus": 0}, "above 0"),
        ({"gpus": 1}, "unknown scaling option"),
    ],
)
def test_bad_scaling_is_refused(scaling, reason):
    from maas_jupyter.backends.ray_deployments import check_scaling

    with pytest.raises(InvalidInput, match=reason):
        check_scaling(scaling)


def test_good_scaling_is_normalised():
    from maas_jupyter.backends.ray_deployments import check_scaling

    assert check_scaling({"replicas": 2, "cpus": 1, "min_replicas": None}) == {"replicas": 2, "cpus": 1.0}
    assert check_scaling({"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 8}) == {
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 8.0,
    }
